package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// TestCodexFollowUp drives Codex straight at a scripted Responses server
// (no proxy, no fake: Codex's own shapes, whatever either makes of them)
// to pin down what Codex sends back after a tool call: the
// echoed reasoning and call items and the tool output item. With
// E2E_CAPTURE=1 the exchanges go to testdata/<variant>/direct-followup.json,
// the input for translating Codex's follow-ups.
func TestCodexFollowUp(t *testing.T) {
	if _, err := os.Stat(filepath.Join(cliDir(), "codex")); err != nil {
		msg := fmt.Sprintf("codex not installed in %s: run internal/e2e/install.sh", cliDir())
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "; .ci/run installs it, so in CI its absence is a failure")
		}
		t.Skip(msg)
	}
	eg := newEgress(t)
	variants := []struct {
		cli        agentCLI
		model      string
		call       string // the output item calling a tool
		outputType string // the input item type that must carry its result
	}{
		{codexCustomModelCLI, "e2e-model",
			`{"type":"function_call","id":"fc_e2e_1","call_id":"call_e2e_1","name":"exec_command","arguments":"{\"cmd\":\"echo e2e-tool-ran\"}","status":"completed"}`,
			"function_call_output"},
		{codexCLI, "gpt-6.1-sol",
			`{"type":"custom_tool_call","id":"ctc_e2e_1","call_id":"call_e2e_1","namespace":"functions","name":"exec","input":"text(\"e2e-tool-ran\")","status":"completed"}`,
			"custom_tool_call_output"},
	}
	for _, v := range variants {
		t.Run(v.cli.name, func(t *testing.T) {
			stub := newResponsesStub(t, v.call)
			home := t.TempDir()
			r := run{baseURL: stub.URL, model: v.model, prompt: toolsPrompt, home: home, work: filepath.Join(home, "work")}
			for _, d := range []string{r.work, filepath.Join(home, "tmp")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			args, env := v.cli.prepare(t, r)
			emark := eg.mark()
			res := execCLI(t, filepath.Join(cliDir(), "codex"), args, append(baseEnv(r, eg), env...), r.work)
			if refused := eg.refusedSince(emark); len(refused) > 0 {
				t.Errorf("codex tried to reach the network beyond loopback: %s", strings.Join(refused, "; "))
			}
			exs := stub.exchanges()
			if os.Getenv("E2E_CAPTURE") != "" {
				b, _ := json.MarshalIndent(struct {
					Note      string      `json:"note"`
					Exchanges []*exchange `json:"exchanges"`
					Stdout    string      `json:"stdout_tail,omitempty"`
					Stderr    string      `json:"stderr_tail,omitempty"`
				}{"Codex against a scripted Responses server, no proxy: the first answer is a reasoning item and " + v.call,
					nonNil(exs), tail(string(res.stdout), 4000), tail(string(res.stderr), 4000)}, "", "  ")
				writeFile(t, filepath.Join("testdata", v.cli.name, "direct-followup.json"), string(b)+"\n")
			}
			text, ferr := v.cli.final(r, res.stdout)
			if res.err != nil || ferr != nil {
				t.Fatalf("codex failed: %v; %v\nstdout: %s\nstderr: %s", res.err, ferr, tail(string(res.stdout), 1500), tail(string(res.stderr), 1500))
			}
			if len(exs) < 2 {
				t.Fatalf("%d requests, want the first and the tool-result follow-up", len(exs))
			}
			var out gjson.Result
			for _, it := range gjson.ParseBytes(exs[1].Body).Get("input").Array() {
				if it.Get("type").String() == v.outputType && it.Get("call_id").String() == "call_e2e_1" {
					out = it
				}
			}
			if !out.Exists() {
				t.Errorf("the follow-up has no %s item for call_e2e_1", v.outputType)
			}
			if want := "done: "; !strings.HasPrefix(text, want) {
				t.Errorf("final text %q, want the stub's %q...", text, want)
			}
		})
	}
}

// responsesStub is a minimal streaming Responses server: a request carrying
// no tool output is answered with a reasoning item and the given call; any
// other with a message "done: <the tool output>".
type responsesStub struct {
	URL string
	j   journal
}

func newResponsesStub(t *testing.T, call string) *responsesStub {
	s := &responsesStub{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ex := newExchange(r, body)
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/responses") {
			ex.Status = http.StatusNotFound
			s.j.add(ex)
			http.NotFound(w, r)
			return
		}
		ex.Status = http.StatusOK
		s.j.add(ex) // after its fields are set: the journal's lock orders them before readers
		var output string
		for _, it := range gjson.ParseBytes(body).Get("input").Array() {
			if typ := it.Get("type").String(); strings.HasSuffix(typ, "_call_output") {
				output = it.Get("output").String()
				if !it.Get("output").Exists() || it.Get("output").IsArray() || it.Get("output").IsObject() {
					output = it.Get("output").Raw
				}
			}
		}
		n := s.j.mark()
		items := []string{
			fmt.Sprintf(`{"type":"reasoning","id":"rs_e2e_%d","summary":[{"type":"summary_text","text":"e2e reasoning"}],"encrypted_content":"ZTJlLXJlYXNvbmluZw=="}`, n),
			call,
		}
		if output != "" {
			text, _ := json.Marshal("done: " + cut(output, 200))
			items = []string{fmt.Sprintf(`{"type":"message","id":"msg_e2e_%d","role":"assistant","status":"completed","content":[{"type":"output_text","text":%s,"annotations":[]}]}`, n, text)}
		}
		w.Header().Set("Content-Type", "text/event-stream")
		id := fmt.Sprintf("resp_e2e_%d", n)
		created := time.Now().Unix()
		event := func(typ, data string) {
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, data)
			w.(http.Flusher).Flush()
		}
		event("response.created", fmt.Sprintf(`{"type":"response.created","sequence_number":0,"response":{"id":%q,"object":"response","created_at":%d,"status":"in_progress","model":"e2e","output":[]}}`, id, created))
		for i, it := range items {
			event("response.output_item.added", fmt.Sprintf(`{"type":"response.output_item.added","sequence_number":%d,"output_index":%d,"item":%s}`, 2*i+1, i, it))
			event("response.output_item.done", fmt.Sprintf(`{"type":"response.output_item.done","sequence_number":%d,"output_index":%d,"item":%s}`, 2*i+2, i, it))
		}
		event("response.completed", fmt.Sprintf(`{"type":"response.completed","sequence_number":%d,"response":{"id":%q,"object":"response","created_at":%d,"status":"completed","model":"e2e","output":[%s],`+
			`"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":0},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":1},"total_tokens":15}}}`,
			2*len(items)+1, id, created, strings.Join(items, ",")))
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *responsesStub) exchanges() []*exchange { return s.j.since(0) }
