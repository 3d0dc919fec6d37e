#!/usr/bin/env bash
# Installs the agent CLIs the end-to-end tests drive (Claude Code, Codex CLI,
# Gemini CLI), pinned by package.json and package-lock.json, into
# internal/e2e/node_modules (git-ignored). Idempotent: when the installed tree
# matches the lockfile and every CLI answers --version, it does nothing.
#
# Every package ships its native parts in the npm tarballs (Claude Code's and
# Codex's linux-x64 binaries come as optional platform packages); nothing is
# downloaded at run time. Without npm the tests skip, so this script only
# warns then.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
	echo "internal/e2e/install.sh: node/npm not found; the CLI end-to-end tests will skip" >&2
	exit 0
fi

stamp=node_modules/.e2e-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)

clis_work() {
	local bin
	for bin in claude codex gemini; do
		if ! timeout 60 "node_modules/.bin/$bin" --version >/dev/null 2>&1; then
			return 1
		fi
	done
}

# A go.mod makes node_modules a module of its own, so that `go test ./...`
# never wanders into it whatever the packages ship.
fence() { printf 'module e2e.invalid/node_modules\n' >node_modules/go.mod; }

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && clis_work; then
	fence
	echo "internal/e2e: agent CLIs already installed"
	exit 0
fi

rm -f "$stamp"
npm ci --no-audit --no-fund --loglevel=error
# Claude Code's postinstall copies its native binary over bin/claude.exe; an
# npm that skipped install scripts leaves the placeholder, so run it again.
if ! timeout 60 node_modules/.bin/claude --version >/dev/null 2>&1; then
	(cd node_modules/@anthropic-ai/claude-code && node install.cjs)
fi
if ! clis_work; then
	echo "internal/e2e/install.sh: the installed CLIs do not start" >&2
	exit 1
fi
fence
echo "$want" >"$stamp"
echo "internal/e2e: installed $(node_modules/.bin/claude --version | head -1), $(node_modules/.bin/codex --version | head -1), gemini $(node_modules/.bin/gemini --version | head -1)"
