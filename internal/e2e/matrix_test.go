package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
)

// knownFailures are the cells ("<cli>/<provider>/<turn>") that fail today
// because of proxy bugs (issue 8). Each still runs; it is skipped with its
// reason when it fails with a problem containing match, and reported when
// it fails otherwise or passes: whoever fixes the proxy removes or updates
// the entry. E2E_RUN_KNOWN_FAILURES=1 reports them as plain failures.
var knownFailures = map[string]knownFailure{}

type knownFailure struct {
	reason string // the exact reason, for the skip message
	match  string // a substring of the failure that identifies it
}

// providerKind is one row of the matrix: an llm_proxy instance under its
// own path prefix whose only upstream is a fake of that provider kind.
type providerKind struct {
	name  string // also the path prefix and the instance name's suffix
	model string // the upstream model every CLI's model is aliased to
	// caddy is the upstream block, given the fake's URL.
	caddy func(url string) string
	start func(t *testing.T) *fakeupstream.Server
}

var providerKinds = []providerKind{
	{
		name:  "openai",
		model: "gpt-4o",
		start: func(t *testing.T) *fakeupstream.Server { return fakeupstream.NewOpenAI(t, "sk-e2e-openai") },
		caddy: func(url string) string {
			return "provider openai\n\t\t\t\t\tbase_url " + url + "\n\t\t\t\t\tkey sk-e2e-openai"
		},
	},
	{
		name:  "anthropic",
		model: "claude-sonnet-4-5-20250929",
		start: func(t *testing.T) *fakeupstream.Server { return fakeupstream.NewAnthropic(t, "sk-ant-e2e") },
		caddy: func(url string) string {
			return "provider anthropic\n\t\t\t\t\tbase_url " + url + "\n\t\t\t\t\tkey sk-ant-e2e"
		},
	},
	{
		name:  "gemini",
		model: "gemini-2.5-flash",
		start: func(t *testing.T) *fakeupstream.Server { return fakeupstream.NewGemini(t, "AIzaE2EGeminiKey") },
		caddy: func(url string) string {
			return "provider gemini\n\t\t\t\t\tbase_url " + url + "\n\t\t\t\t\tkey AIzaE2EGeminiKey"
		},
	},
	{
		// The Responses API, on the OpenAI fake's /v1/responses: Codex
		// passes through; the other CLIs are translated to it.
		name:  "openai_responses",
		model: "gpt-5",
		start: func(t *testing.T) *fakeupstream.Server { return fakeupstream.NewOpenAI(t, "sk-e2e-responses") },
		caddy: func(url string) string {
			return "provider openai_responses\n\t\t\t\t\tbase_url " + url + "\n\t\t\t\t\tkey sk-e2e-responses"
		},
	},
}

// cliModels are the model names each CLI asks for (its main model and any
// side model it uses on its own); every instance aliases them to its
// provider's model.
var cliModels = map[string][]string{
	"claude": {"claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"},
	// Codex's default model (its catalog's metadata: code-mode tools sent
	// as an additional_tools input item).
	"codex": {"gpt-6.1-sol"},
	// A model Codex has no metadata for, as a proxy alias usually is: it
	// falls back to generic metadata and sends top-level tools.
	"codex-custom-model": {"e2e-model"},
	"gemini":             {"gemini-2.5-flash", "gemini-2.5-flash-lite"},
}

func caddyfile(urls map[string]string) string {
	var sites strings.Builder
	for _, p := range providerKinds {
		var aliases []string
		for _, models := range cliModels {
			for _, m := range models {
				if m != p.model && !slices.Contains(aliases, m) {
					aliases = append(aliases, m)
				}
			}
		}
		slices.Sort(aliases)
		var al strings.Builder
		for _, a := range aliases {
			fmt.Fprintf(&al, "\n\t\t\t\t\talias %s %s", a, p.model)
		}
		fmt.Fprintf(&sites, `
		handle_path /%s/* {
			llm_proxy {
				name e2e_%s
				storage memory
				client_key %s
				retries 0
				upstream %s {
					%s%s
				}
			}
		}`, p.name, p.name, clientKey, p.name, p.caddy(urls[p.name]), al.String())
	}
	return fmt.Sprintf(`{
	skip_install_trust
	admin localhost:%d
	http_port %d
	https_port 9543
	grace_period 1ns
}

http://:%d {
	route {
		e2e_record%s
	}
}
`, adminPort, httpPort, httpPort, sites.String())
}

// The prompts; the fakes answer "echo: <last user text>", call the first
// function tool with {"q": <last user text>}, and answer a tool result with
// "result: <its content>".
const (
	plainPrompt = "e2e plain turn: say hello"
	toolsPrompt = "e2e tools turn: look around"
)

var agentCLIs = []agentCLI{claudeCLI, codexCLI, codexCustomModelCLI, geminiCLI}

// TestAgentCLIs runs every agent CLI against every provider kind through the
// proxy: a plain turn (the CLI's tools off where it can) and a tool round
// trip with the CLI's own tools.
func TestAgentCLIs(t *testing.T) {
	var bins, missing []string
	for _, c := range agentCLIs {
		if slices.Contains(bins, c.bin) {
			continue
		}
		bins = append(bins, c.bin)
		if _, err := os.Stat(filepath.Join(cliDir(), c.bin)); err != nil {
			missing = append(missing, c.bin)
		}
	}
	if len(missing) == len(bins) {
		msg := fmt.Sprintf("agent CLIs not installed (no %s in %s): run internal/e2e/install.sh", strings.Join(missing, ", "), cliDir())
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "; .ci/run installs them, so in CI their absence is a failure")
		}
		t.Skip(msg)
	}

	urls := map[string]string{}
	fakes := map[string]*fakeupstream.Server{}
	for _, p := range providerKinds {
		fakes[p.name] = p.start(t)
		urls[p.name] = tapUpstream(t, fakes[p.name].URL)
	}
	eg := newEgress(t)
	startCaddy(t, caddyfile(urls))

	for _, c := range agentCLIs {
		t.Run(c.name, func(t *testing.T) {
			if slices.Contains(missing, c.bin) {
				t.Skipf("%s not installed in %s: run internal/e2e/install.sh", c.bin, cliDir())
			}
			for _, p := range providerKinds {
				t.Run(p.name, func(t *testing.T) {
					for _, turn := range []string{"plain", "tools"} {
						t.Run(turn, func(t *testing.T) { runCell(t, eg, fakes[p.name], c, p, turn) })
					}
				})
			}
		})
	}
}

// runCell runs one CLI turn. In the plain turn the CLI offers its tools as
// always, and the fake answers with text as a model that needs no tool
// would; in the tools turn the fake calls the first tool offered.
func runCell(t *testing.T, eg *egress, fake *fakeupstream.Server, c agentCLI, p providerKind, turn string) {
	cell := c.name + "/" + p.name + "/" + turn
	home := t.TempDir()
	r := run{
		baseURL: proxyBase + "/" + p.name,
		model:   cliModels[c.name][0],
		prompt:  plainPrompt,
		home:    home,
		work:    filepath.Join(home, "work"),
	}
	if turn == "tools" {
		r.prompt = toolsPrompt
	} else {
		fake.SetTextOnly(true)
		defer fake.SetTextOnly(false)
	}
	for _, d := range []string{r.work, filepath.Join(home, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(r.work, "README.md"), "A scratch directory for an end-to-end test.\n")
	args, env := c.prepare(t, r)

	mark, umark, emark := clientJournal.mark(), upstreamJournal.mark(), eg.mark()
	res := execCLI(t, filepath.Join(cliDir(), c.bin), args, append(baseEnv(r, eg), env...), r.work)
	exs, ups := clientJournal.since(mark), upstreamJournal.since(umark)
	t.Logf("%s: %s, %d requests through the proxy", cell, res.took.Round(100*time.Millisecond), len(exs))
	if os.Getenv("E2E_CAPTURE") != "" {
		capture(t, c.name, p.name, turn, exs, ups, res)
	}

	// Leaving the machine is never a known failure.
	if refused := eg.refusedSince(emark); len(refused) > 0 {
		t.Errorf("%s tried to reach the network beyond loopback: %s", c.name, strings.Join(refused, "; "))
	}
	problems := checkCell(c, r, turn, exs, ups, res)

	known, isKnown := knownFailures[cell]
	switch {
	case isKnown && os.Getenv("E2E_RUN_KNOWN_FAILURES") != "":
		// Report as failures.
	case isKnown && len(problems) == 0:
		t.Errorf("%s is listed in knownFailures but passes now: remove its entry", cell)
		return
	case isKnown && !strings.Contains(strings.Join(problems, "\n"), known.match):
		t.Errorf("%s fails differently from its knownFailures entry (want %q in the failure); update the entry:\n%s",
			cell, known.match, strings.Join(problems, "\n"))
		return
	case isKnown:
		t.Log(strings.Join(problems, "\n"))
		t.Skip("known failure: " + known.reason + "; see issue 8")
	}
	for _, pr := range problems {
		t.Error(pr)
	}
	if len(problems) > 0 {
		t.Logf("admin log of e2e_%s: %s", p.name, cut(adminLogs("e2e_"+p.name, 5), 1500))
	}
}

// checkCell lists what went wrong in one CLI run: error answers from the
// proxy (and, for the record, the upstream's refusals behind them), a CLI
// failure, and a final text other than the fakes' deterministic answer.
func checkCell(c agentCLI, r run, turn string, exs, ups []*exchange, res result) []string {
	var problems []string
	gens, toolResult := 0, false
	for _, ex := range exs {
		if ex.Status >= 400 {
			problems = append(problems, fmt.Sprintf("proxy answered %d to %s %s: %s", ex.Status, ex.Method, ex.URI, cut(compact(ex.Response), 600)))
		}
		if ex.Method == "POST" && len(ex.Body) > 0 {
			gens++
			toolResult = toolResult || c.toolResultSent(gjson.ParseBytes(ex.Body))
		}
	}
	for _, ex := range ups {
		if ex.Status >= 400 {
			problems = append(problems, fmt.Sprintf("(the upstream answered llm_proxy %d to %s %s: %s)", ex.Status, ex.Method, ex.URI, cut(compact(ex.Response), 600)))
		}
	}
	text, ferr := c.final(r, res.stdout)
	if res.err != nil || ferr != nil {
		return append(problems, fmt.Sprintf("%s failed: exit: %v; output: %v\nstdout: %s\nstderr: %s",
			c.name, res.err, ferr, cut(string(res.stdout), 1500), tail(string(res.stderr), 1500)))
	}
	switch turn {
	case "plain":
		if !strings.HasPrefix(text, "echo: ") || !strings.Contains(text, plainPrompt) {
			problems = append(problems, fmt.Sprintf("final text = %q, want the fake's echo of %q", cut(text, 500), plainPrompt))
		}
	case "tools":
		if !toolResult {
			problems = append(problems, fmt.Sprintf("no request carried a tool result back (%d generation requests)", gens))
		}
		if !strings.HasPrefix(text, "result: ") {
			problems = append(problems, fmt.Sprintf("final text = %q, want the fake's answer to a tool result (\"result: ...\")", cut(text, 500)))
		}
	}
	return problems
}

// compact removes the indentation of a JSON answer.
func compact(s string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) == nil {
		return b.String()
	}
	return s
}

// capture writes the cell's exchanges to testdata/<cli>/<provider>-<turn>.json:
// what the CLI sent and was answered ("exchanges"), what llm_proxy sent the
// fake upstream ("upstream"; answers kept for errors only), and the CLI's
// exit and output tails.
func capture(t *testing.T, cli, provider, turn string, exs, ups []*exchange, res result) {
	t.Helper()
	// Successful streams are long and all alike: keep their beginning.
	var trimmed []*exchange
	for _, ex := range exs {
		if ex.Status < 400 && len(ex.Response) > maxCapturedAnswer {
			c := *ex
			c.Response = ex.Response[:maxCapturedAnswer] + "…(cut)"
			ex = &c
		}
		trimmed = append(trimmed, ex)
	}
	exs = trimmed
	doc := struct {
		Exchanges []*exchange `json:"exchanges"`
		Upstream  []*exchange `json:"upstream"`
		ExitError string      `json:"exit_error,omitempty"`
		Stdout    string      `json:"stdout_tail,omitempty"`
		Stderr    string      `json:"stderr_tail,omitempty"`
	}{Exchanges: nonNil(exs), Upstream: nonNil(ups), Stdout: tail(string(res.stdout), 4000), Stderr: tail(string(res.stderr), 4000)}
	if res.err != nil {
		doc.ExitError = res.err.Error()
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join("testdata", cli, provider+"-"+turn+".json"), string(b)+"\n")
}

// maxCapturedAnswer is how much of a successful answer a capture keeps.
const maxCapturedAnswer = 16 << 10

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func nonNil(exs []*exchange) []*exchange {
	if exs == nil {
		return []*exchange{}
	}
	return exs
}
