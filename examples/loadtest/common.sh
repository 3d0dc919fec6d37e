# What the load scripts share; sourced by run.sh and keys.sh (streams.sh
# takes caddy from it only). Expects here (this folder) to be set.
root=$(cd "$here/../.." && pwd)
duration=${DURATION:-10s}
rounds=${ROUNDS:-3}
conns=${CONNS:-32}

# caddy is the Caddy under test: $CADDY, else ./caddy, built with xcaddy
# from this checkout when missing.
caddy=${CADDY:-$root/caddy}
if [ ! -x "$caddy" ]; then
	(cd "$root" && go tool xcaddy build v2.11.9 --output "$caddy" --with github.com/llmproxy/caddy-llm-proxy@v0.0.0=.)
fi

# need fails unless every command named is installed.
need() {
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "$c is missing (Debian package: $([ "$c" = taskset ] && echo util-linux || echo "$c"))" >&2; exit 1; }
	done
}

# start_run makes the run's own directory (Caddy's home, data and logs),
# removed with every process in pids at exit.
start_run() {
	export LOADTEST_DIR=$(mktemp -d) LOADTEST_ROOT=$root
	export HOME=$LOADTEST_DIR XDG_DATA_HOME=$LOADTEST_DIR/data XDG_CONFIG_HOME=$LOADTEST_DIR/config
	pids=()
	trap cleanup EXIT
}
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$LOADTEST_DIR"; }

# wait_port waits for something to answer HTTP on a loopback port.
wait_port() {
	for _ in $(seq 300); do
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	echo "nothing answers on port $1" >&2
	exit 1
}

# rps runs wrk with script (post.lua) against path (/v1/chat/completions)
# on a loopback port for the run's duration, from core 1, and prints its
# requests per second; a run with any non-2xx answer fails the script.
rps() {
	local out script=${2:-post.lua} path=${3:-/v1/chat/completions}
	out=$(taskset -c 1 wrk -t1 -c"$conns" -d"$duration" -s "$here/$script" "http://127.0.0.1:$1$path")
	if grep -q 'Non-2xx' <<<"$out"; then
		echo "port $1 answered errors:" >&2
		echo "$out" >&2
		exit 1
	fi
	awk '/Requests\/sec/ {print $2}' <<<"$out"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
