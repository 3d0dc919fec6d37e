#!/usr/bin/env bash
# Load run: llm_proxy passthrough with 1, 10,000 and 100,000 keys (Badger),
# and with 1 key on Redis, to show that key selection does not slow down
# with the size of the pool and what Redis costs. Each variant is a Caddy
# of its own pinned to core 0 (GOMAXPROCS=1); the upstream, redis-server
# and wrk share core 1. Rounds go through the variants in turn, so drift of
# a busy machine hits them alike.
#
#   examples/loadtest/keys.sh           # 3 rounds of 10 s each per variant
#   DURATION=5s ROUNDS=5 examples/loadtest/keys.sh
#
# Needs wrk, redis-server and taskset; builds Caddy with xcaddy if ./caddy
# is missing. Everything listens on 127.0.0.1 only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
need wrk redis-server taskset
start_run

GOMAXPROCS=1 taskset -c 1 "$caddy" run --config "$here/upstream.Caddyfile" --adapter caddyfile >"$LOADTEST_DIR/upstream.log" 2>&1 &
pids+=($!)
taskset -c 1 redis-server --port 9320 --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$LOADTEST_DIR/redis.log" 2>&1 &
pids+=($!)
wait_port 9311

# variant: name port admin-port storage extra-keys
variants=(
	"k1 9401 9491 badger_$LOADTEST_DIR/k1 0"
	"k10k 9402 9492 badger_$LOADTEST_DIR/k10k 10000"
	"k100k 9403 9493 badger_$LOADTEST_DIR/k100k 100000"
	"redis 9404 9494 redis_redis://127.0.0.1:9320 0"
)
for v in "${variants[@]}"; do
	read -r name port admin storage extra <<<"$v"
	KEYS_NAME=$name KEYS_PORT=$port KEYS_ADMIN=$admin KEYS_STORAGE=${storage/_/ } GOMAXPROCS=1 \
		taskset -c 0 "$caddy" run --config "$here/keys.Caddyfile" --adapter caddyfile >"$LOADTEST_DIR/$name.log" 2>&1 &
	pids+=($!)
	wait_port "$port"
	# Extra keys through the admin API, 10,000 per request.
	for ((b = 1; b <= extra; b += 10000)); do
		python3 -c "import json,sys; b=int(sys.argv[1]); print(json.dumps([{'upstream':'local','key':'sk-load-test-key-%07d' % i} for i in range(b, b+10000)]))" "$b" |
			curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @- "http://127.0.0.1:$admin/llm_proxy/$name/keys"
	done
	n=$(curl -sf "http://127.0.0.1:$admin/llm_proxy/" | python3 -c "import json,sys; i=json.load(sys.stdin)['instances'][0]['keys']; print(sum(i.values()))")
	echo "$name: $n keys on port $port" >&2
	taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$here/post.lua" "http://127.0.0.1:$port/v1/chat/completions" >/dev/null
done

# Each round starts one variant later: a variant's background work after
# its run (Badger writing what it flushed) falls into the next one's run on
# the shared core, so no variant always follows the same one.
k1=() k10k=() k100k=() rd=()
for i in $(seq "$rounds"); do
	for j in 0 1 2 3; do
		case $(((i - 1 + j) % 4)) in
		0) k1+=("$(rps 9401)") ;;
		1) k10k+=("$(rps 9402)") ;;
		2) k100k+=("$(rps 9403)") ;;
		3) rd+=("$(rps 9404)") ;;
		esac
	done
	echo "round $i: 1 key ${k1[-1]}, 10,000 keys ${k10k[-1]}, 100,000 keys ${k100k[-1]}, Redis (1 key) ${rd[-1]} req/s"
done
awk -v a="$(median "${k1[@]}")" -v b="$(median "${k10k[@]}")" -v c="$(median "${k100k[@]}")" -v d="$(median "${rd[@]}")" 'BEGIN {
	printf "median: Badger 1 key %.0f req/s; 10,000 keys %.0f (%.2fx); 100,000 keys %.0f (%.2fx); Redis 1 key %.0f (%.2fx of Badger)\n", a, b, b/a, c, c/a, d, d/a
}'
