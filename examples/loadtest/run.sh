#!/usr/bin/env bash
# Load run: llm_proxy passthrough against Caddy's own reverse_proxy, to the
# same local upstream, with the Caddy under test pinned to one core.
#
#   examples/loadtest/run.sh            # 3 rounds of 10 s each per proxy
#   DURATION=30s ROUNDS=5 examples/loadtest/run.sh
#
# Needs wrk (apt-get install wrk) and taskset; builds Caddy with xcaddy if
# ./caddy is missing. Everything listens on 127.0.0.1 only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
need wrk taskset
start_run

# Core 0: the Caddy under test, alone. Core 1: the upstream and wrk.
GOMAXPROCS=1 taskset -c 1 "$caddy" run --config "$here/upstream.Caddyfile" --adapter caddyfile >"$LOADTEST_DIR/upstream.log" 2>&1 &
pids+=($!)
GOMAXPROCS=1 taskset -c 0 "$caddy" run --config "$here/proxy.Caddyfile" --adapter caddyfile >"$LOADTEST_DIR/proxy.log" 2>&1 &
pids+=($!)
for port in 9301 9302 9303 9304 9305 9306 9307 9308 9309 9311 9312 9313 9314 9315; do
	wait_port "$port"
done
# Warm up every path.
for port in 9301 9302 9303; do
	taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$here/post.lua" "http://127.0.0.1:$port/v1/chat/completions" >/dev/null
done
taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$here/post-client.lua" "http://127.0.0.1:9309/v1/chat/completions" >/dev/null
for port in 9304 9305 9306; do
	taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$here/stream.lua" "http://127.0.0.1:$port/v1/chat/completions" >/dev/null
done
for port in 9307 9308; do
	taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$here/responses.lua" "http://127.0.0.1:$port/v1/responses" >/dev/null
done

llm=() cl=() tr=() rp=() sllm=() str=() srp=() rllm=() rtr=() rrp=()
for i in $(seq "$rounds"); do
	llm+=("$(rps 9301)")
	cl+=("$(rps 9309 post-client.lua)")
	tr+=("$(rps 9303)")
	rp+=("$(rps 9302)")
	sllm+=("$(rps 9304 stream.lua)")
	str+=("$(rps 9306 stream.lua)")
	srp+=("$(rps 9305 stream.lua)")
	rllm+=("$(rps 9307 responses.lua /v1/responses)")
	rtr+=("$(rps 9307 post.lua)")
	rrp+=("$(rps 9308 responses.lua /v1/responses)")
	echo "round $i: JSON: llm_proxy passthrough ${llm[-1]} (as one of 100 named clients ${cl[-1]}), translated ${tr[-1]}, reverse_proxy ${rp[-1]} req/s;" \
		"streams: passthrough ${sllm[-1]}, translated ${str[-1]}, reverse_proxy ${srp[-1]} req/s;" \
		"openai_responses: passthrough ${rllm[-1]}, Chat translated ${rtr[-1]}, reverse_proxy ${rrp[-1]} req/s"
done
report() {
	awk -v what="$1" -v m="$2" -v t="$3" -v r="$4" 'BEGIN {printf "median %s: reverse_proxy %.0f req/s; llm_proxy passthrough %.0f (%.2fx), translated %.0f (%.2fx)\n", what, r, m, m/r, t, t/r}'
}
report JSON "$(median "${llm[@]}")" "$(median "${tr[@]}")" "$(median "${rp[@]}")"
report streams "$(median "${sllm[@]}")" "$(median "${str[@]}")" "$(median "${srp[@]}")"
report openai_responses "$(median "${rllm[@]}")" "$(median "${rtr[@]}")" "$(median "${rrp[@]}")"
awk -v m="$(median "${llm[@]}")" -v c="$(median "${cl[@]}")" -v r="$(median "${rp[@]}")" 'BEGIN {printf "median JSON with 100 named clients: llm_proxy passthrough %.0f req/s (%.2fx reverse_proxy, %.2fx without clients)\n", c, c/r, c/m}'
