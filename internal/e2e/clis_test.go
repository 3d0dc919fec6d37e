package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// cliTimeout bounds one CLI run; there are no retries.
const cliTimeout = 90 * time.Second

// cliDir is where the pinned CLIs are installed (see install.sh).
func cliDir() string {
	if d := os.Getenv("E2E_CLI_DIR"); d != "" {
		return d
	}
	d, _ := filepath.Abs(filepath.Join("node_modules", ".bin"))
	return d
}

// run is what one CLI invocation needs to know.
type run struct {
	baseURL string // the llm_proxy site prefix of the provider kind, e.g. http://127.0.0.1:9280/openai
	model   string // what the CLI asks for (an alias in the Caddyfile where needed)
	prompt  string
	home    string
	work    string // the working directory
}

// agentCLI is one CLI: how to invoke it and read its final answer.
type agentCLI struct {
	name string
	bin  string
	// prepare writes config files under r.home and returns the arguments
	// and the CLI-specific environment.
	prepare func(t *testing.T, r run) (args, env []string)
	// final extracts the final assistant text from stdout (and files under
	// r.home); an error if the CLI reported one.
	final func(r run, stdout []byte) (string, error)
	// toolResultSent reports whether a request body carries the result of
	// a tool call back to the model.
	toolResultSent func(body gjson.Result) bool
}

// baseEnv is the environment every CLI gets: nothing inherited but PATH
// (node is needed by two of them), a fresh home, and the egress proxy.
func baseEnv(r run, eg *egress) []string {
	env := []string{
		"PATH=" + cliDir() + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + r.home,
		"USER=e2e",
		"LANG=C.UTF-8",
		"TERM=dumb",
		"NO_COLOR=1",
		"TMPDIR=" + filepath.Join(r.home, "tmp"),
		"XDG_CONFIG_HOME=" + filepath.Join(r.home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(r.home, ".cache"),
		"XDG_DATA_HOME=" + filepath.Join(r.home, ".local", "share"),
		"XDG_STATE_HOME=" + filepath.Join(r.home, ".local", "state"),
	}
	return append(env, eg.env()...)
}

// result is one finished CLI process.
type result struct {
	stdout, stderr []byte
	err            error
	took           time.Duration
}

// execCLI runs bin in r.work with env, killing its whole process group when
// it ends or times out.
func execCLI(t *testing.T, bin string, args, env []string, dir string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = nil
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // stragglers
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", cliTimeout, err)
	}
	return result{stdout: stdout.Bytes(), stderr: stderr.Bytes(), err: err, took: time.Since(start)}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ---- Claude Code ----

var claudeCLI = agentCLI{
	name: "claude",
	bin:  "claude",
	prepare: func(t *testing.T, r run) ([]string, []string) {
		args := []string{"-p", r.prompt, "--output-format", "json", "--model", r.model,
			"--no-session-persistence", "--permission-mode", "dontAsk"}
		env := []string{
			"ANTHROPIC_BASE_URL=" + r.baseURL,
			"ANTHROPIC_API_KEY=" + clientKey,
			"CLAUDE_CONFIG_DIR=" + filepath.Join(r.home, ".claude"),
			// Without this, Claude Code 2.1.332 opens CONNECT
			// api.anthropic.com:443 (3 times in a -p run) whatever
			// ANTHROPIC_BASE_URL says; it alone suffices, the
			// other three are belt and braces.
			"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
			"DISABLE_AUTOUPDATER=1",
			"DISABLE_TELEMETRY=1",
			"DISABLE_ERROR_REPORTING=1",
		}
		return args, env
	},
	final: func(_ run, stdout []byte) (string, error) {
		res := gjson.ParseBytes(lastJSONLine(stdout))
		if !res.Get("result").Exists() {
			return "", fmt.Errorf("no result in output")
		}
		if res.Get("is_error").Bool() {
			return res.Get("result").String(), fmt.Errorf("claude reported an error (%s): %s", res.Get("subtype").String(), res.Get("result").String())
		}
		return res.Get("result").String(), nil
	},
	toolResultSent: func(body gjson.Result) bool {
		for _, m := range body.Get("messages").Array() {
			for _, b := range m.Get("content").Array() {
				if b.Get("type").String() == "tool_result" {
					return true
				}
			}
		}
		return false
	},
}

// ---- Codex CLI ----

var codexCLI = agentCLI{
	name: "codex",
	bin:  "codex",
	prepare: func(t *testing.T, r run) ([]string, []string) {
		codexHome := filepath.Join(r.home, ".codex")
		writeFile(t, filepath.Join(codexHome, "config.toml"), codexConfig(r))
		args := []string{"exec", "--skip-git-repo-check", "--ephemeral", "--json",
			"--output-last-message", filepath.Join(r.home, "last-message.txt"), r.prompt}
		env := []string{
			"CODEX_HOME=" + codexHome,
			"LLM_PROXY_KEY=" + clientKey,
		}
		return args, env
	},
	final: func(r run, stdout []byte) (string, error) {
		// The JSONL events name a failure; the last message file holds
		// the final answer.
		var failure string
		for _, line := range bytes.Split(stdout, []byte("\n")) {
			ev := gjson.ParseBytes(line)
			switch ev.Get("type").String() {
			case "turn.failed":
				failure = ev.Get("error.message").String()
			case "error":
				if failure == "" {
					failure = ev.Get("message").String()
				}
			}
		}
		b, err := os.ReadFile(filepath.Join(r.home, "last-message.txt"))
		if failure != "" {
			return string(b), errors.New("codex reported an error: " + failure)
		}
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	},
	toolResultSent: func(body gjson.Result) bool {
		for _, it := range body.Get("input").Array() {
			switch it.Get("type").String() {
			case "function_call_output", "custom_tool_call_output":
				return true
			}
		}
		return false
	},
}

// codexCustomModelCLI is Codex asking for a model it has no metadata for.
var codexCustomModelCLI = func() agentCLI {
	c := codexCLI
	c.name = "codex-custom-model"
	return c
}()

func codexConfig(r run) string {
	return fmt.Sprintf(`model = %q
model_provider = "llmproxy"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[model_providers.llmproxy]
name = "llm_proxy"
base_url = %q
env_key = "LLM_PROXY_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

# Without this Codex 0.169.0 opens CONNECT github.com:443 (plugin marketplace
# sync) in every exec run. The update check and analytics made no attempt
# in exec runs; they are off for good measure.
[features]
plugins = false

[analytics]
enabled = false
`, r.model, r.baseURL+"/v1")
}

// ---- Gemini CLI ----

var geminiCLI = agentCLI{
	name: "gemini",
	bin:  "gemini",
	prepare: func(t *testing.T, r run) ([]string, []string) {
		// privacy.usageStatisticsEnabled=false is what keeps Gemini CLI
		// 0.61.0 from CONNECT play.googleapis.com:443 (usage logging,
		// flushed asynchronously, so not seen in every run); the update
		// and telemetry settings are off for good measure.
		settings := map[string]any{
			"security":  map[string]any{"auth": map[string]any{"selectedType": "gemini-api-key"}},
			"privacy":   map[string]any{"usageStatisticsEnabled": false},
			"general":   map[string]any{"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
			"telemetry": map[string]any{"enabled": false},
		}
		b, _ := json.MarshalIndent(settings, "", "  ")
		writeFile(t, filepath.Join(r.home, ".gemini", "settings.json"), string(b))
		args := []string{"-p", r.prompt, "--model", r.model, "--output-format", "json"}
		env := []string{
			"GEMINI_API_KEY=" + clientKey,
			"GOOGLE_GEMINI_BASE_URL=" + r.baseURL,
			"GEMINI_CLI_TRUST_WORKSPACE=true",
		}
		return args, env
	},
	final: func(_ run, stdout []byte) (string, error) {
		res := gjson.ParseBytes(lastJSONObject(stdout))
		if e := res.Get("error"); e.Exists() && e.Type != gjson.Null {
			return res.Get("response").String(), fmt.Errorf("gemini reported an error: %s", e.Raw)
		}
		if !res.Get("response").Exists() {
			return "", fmt.Errorf("no response in output")
		}
		return res.Get("response").String(), nil
	},
	toolResultSent: func(body gjson.Result) bool {
		for _, c := range body.Get("contents").Array() {
			for _, p := range c.Get("parts").Array() {
				if p.Get("functionResponse").Exists() {
					return true
				}
			}
		}
		return false
	},
}

// lastJSONLine is the last line of out that is a JSON object.
func lastJSONLine(out []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if l := bytes.TrimSpace(lines[i]); json.Valid(l) && bytes.HasPrefix(l, []byte("{")) {
			return l
		}
	}
	return nil
}

// lastJSONObject is the last complete JSON object in out (possibly spread
// over several lines).
func lastJSONObject(out []byte) []byte {
	out = bytes.TrimSpace(out)
	for i := bytes.LastIndex(out, []byte("\n{")); ; i = bytes.LastIndex(out[:i], []byte("\n{")) {
		start := i + 1
		if i < 0 {
			start = 0
		}
		if cand := out[start:]; json.Valid(cand) {
			return cand
		}
		if i < 0 {
			return lastJSONLine(out)
		}
	}
}
