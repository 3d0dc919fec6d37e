#!/usr/bin/env bash
# Memory per open stream: 1,000 streams held open through llm_proxy
# (passthrough, and OpenAI Chat translated from an Anthropic upstream) and
# through Caddy's reverse_proxy, each against a slow local upstream, with
# the proxy's heap, stacks, goroutines and RSS before, during and after.
# Each is run twice: over plain HTTP/1.1 to the upstream, and over TLS with
# HTTP/2, which is what real providers speak.
#
#   examples/loadtest/streams.sh            # N=1000 HOLD=5s WARM=false
#
# It measures a proxy's first burst of streams. With WARM=true a first round
# of N streams runs to its end before the measured one: what a proxy keeps
# after its first burst (goroutine records, pooled buffers, its connections
# to the upstream) is printed apart, and the figures per open stream are
# those of a proxy in use.
#
# Builds Caddy with xcaddy if ./caddy is missing. Loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
n=${N:-1000}
hold=${HOLD:-5s}
ulimit -n 65536 2>/dev/null || true

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$root" && go build -o "$dir/streams-load" ./examples/loadtest/streams)
export HOME=$dir XDG_DATA_HOME=$dir/data XDG_CONFIG_HOME=$dir/config

for mode in http tls; do
	echo "== upstream over $( [ $mode = tls ] && echo 'TLS, HTTP/2' || echo 'plain HTTP/1.1' )"
	for port in 9401 9402 9403; do
		label=$(case $port in 9401) echo "llm_proxy passthrough" ;; 9402) echo "llm_proxy translated" ;; *) echo "reverse_proxy" ;; esac)
		rm -f "$dir/pid" "$dir/ca.pem"
		tlsflag=() upstream=http://127.0.0.1:9411
		if [ $mode = tls ]; then tlsflag=(-tls "$dir/ca.pem"); upstream=https://127.0.0.1:9411; fi
		"$dir/streams-load" -proxy "http://127.0.0.1:$port" -admin http://127.0.0.1:2399 -pidfile "$dir/pid" \
			-n "$n" -hold "$hold" -warm="${WARM:-false}" -label "$label" "${tlsflag[@]}" &
		load=$!
		if [ $mode = tls ]; then
			for _ in $(seq 100); do [ -s "$dir/ca.pem" ] && break; sleep 0.05; done
		fi
		SSL_CERT_FILE=$dir/ca.pem STREAMS_UPSTREAM=$upstream GOMAXPROCS=1 \
			"$caddy" run --config "$here/streams.Caddyfile" --adapter caddyfile >"$dir/caddy.log" 2>&1 &
		pid=$!
		echo "$pid" >"$dir/pid"
		wait "$load" || true
		kill "$pid"; wait "$pid" 2>/dev/null || true
	done
done
