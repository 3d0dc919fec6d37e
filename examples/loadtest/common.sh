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

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
