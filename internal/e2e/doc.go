// Package e2e holds the end-to-end tests that drive the real agent CLIs
// (Claude Code, Codex CLI, Gemini CLI) through a real, in-process Caddy
// running llm_proxy, in front of the local fake upstreams of
// internal/fakeupstream: one llm_proxy instance per provider kind, each CLI
// changed in nothing but its base URL and API key (and the model it asks
// for).
//
// The CLIs are pinned in package.json / package-lock.json and installed by
// install.sh into node_modules (git-ignored); .ci/run calls it before go
// test. Without them the tests skip and say so.
//
// Every CLI process gets HTTP_PROXY, HTTPS_PROXY and ALL_PROXY (and the
// lowercase forms) pointing at an in-test egress proxy that forwards only
// loopback traffic and records every other attempt; a test fails if a CLI
// tried to reach anything but this machine.
//
// Environment knobs:
//
//   - E2E_RUN_KNOWN_FAILURES=1 runs the cells listed in knownFailures
//     instead of skipping them (for whoever fixes the proxy);
//   - E2E_CAPTURE=1 writes every request a CLI sent and the proxy's answer
//     to testdata/<cli>/<provider>-<turn>.json;
//   - E2E_CLI_DIR overrides the directory holding claude, codex and gemini
//     (default node_modules/.bin here).
package e2e
