package responses

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Codex CLI 0.169's own requests, captured by the e2e suite
// (internal/e2e/testdata, copied to translate/testdata/agents).
func readAgentBody(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "agents", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func findTool(r *translate.Request, name string) *translate.Tool {
	for i := range r.Tools {
		if r.Tools[i].Name == name {
			return &r.Tools[i]
		}
	}
	return nil
}

// Codex with its default model: no top-level tools, an additional_tools
// item of namespaces holding a custom grammar tool (exec) and functions.
func TestDecodeCodexFirstRequest(t *testing.T) {
	r, err := DecodeRequest(readAgentBody(t, "codex-first.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Dropped) != 0 {
		t.Errorf("dropped %q", r.Dropped)
	}
	if len(r.Tools) != 11 {
		t.Errorf("%d tools, want 11", len(r.Tools))
	}
	exec := findTool(r, "exec")
	if exec == nil || exec.Kind != translate.ToolCustom || exec.Namespace != "functions" || exec.ClientName != "" {
		t.Fatalf("exec = %+v", exec)
	}
	if gjson.GetBytes(exec.Format, "syntax").Str != "lark" || !strings.Contains(exec.Description, "must match this lark grammar:\nstart: pragma_source") {
		t.Errorf("exec format %s, description ends %q", exec.Format, exec.Description[max(0, len(exec.Description)-300):])
	}
	if string(exec.Parameters) != translate.CustomToolParameters {
		t.Errorf("exec parameters %s", exec.Parameters)
	}
	sleep := findTool(r, "clock__sleep")
	if sleep == nil || sleep.ClientName != "sleep" || sleep.Namespace != "clock" || sleep.Kind != translate.ToolFunction {
		t.Fatalf("clock sleep = %+v", sleep)
	}
	if findTool(r, "collaboration__spawn_agent") == nil || findTool(r, "wait") == nil {
		t.Errorf("tools %v", toolNames(r))
	}
	// Developer messages form the system prompt; the two user messages stay.
	if !strings.HasPrefix(r.System, "You are Codex") && len(r.System) < 20000 {
		t.Errorf("system prompt of %d bytes: %.80q", len(r.System), r.System)
	}
	if len(r.Messages) != 2 || r.Messages[1].Parts[0].Text != "e2e tools turn: look around" {
		t.Errorf("messages %+v", r.Messages)
	}
	if r.Reasoning == nil || r.Reasoning.Effort != "low" || !r.Stream || r.ToolChoice == nil || r.ToolChoice.Mode != "auto" ||
		r.ParallelToolCalls == nil || *r.ParallelToolCalls {
		t.Errorf("settings: reasoning %+v stream %v tool choice %+v parallel %v", r.Reasoning, r.Stream, r.ToolChoice, r.ParallelToolCalls)
	}
}

func toolNames(r *translate.Request) []string {
	var out []string
	for _, t := range r.Tools {
		out = append(out, t.Name)
	}
	return out
}

// Codex's follow-up: a reasoning item, the custom_tool_call of exec (with
// its namespace) and its custom_tool_call_output of input_text parts.
func TestDecodeCodexFollowUp(t *testing.T) {
	r, err := DecodeRequest(readAgentBody(t, "codex-followup.json"))
	if err != nil {
		t.Fatal(err)
	}
	n := len(r.Messages)
	if n < 4 {
		t.Fatalf("%d messages", n)
	}
	call := r.Messages[n-2]
	if call.Role != translate.RoleAssistant {
		t.Fatalf("message %d is %s", n-2, call.Role)
	}
	p := call.Parts[len(call.Parts)-1]
	if p.Type != translate.PartToolCall || p.ToolName != "exec" || p.ToolCallID != "call_e2e_1" || p.ToolKind != translate.ToolCustom ||
		p.Namespace != "functions" || p.Arguments != `{"input":"text(\"e2e-tool-ran\")"}` {
		t.Errorf("call %+v", p)
	}
	if th := call.Parts[0]; th.Type != translate.PartThinking || th.Text != "e2e reasoning" || th.Signature != "" {
		t.Errorf("reasoning %+v (OpenAI's encrypted content means nothing elsewhere)", th)
	}
	res := r.Messages[n-1]
	if res.Role != translate.RoleTool || len(res.Parts) != 1 {
		t.Fatalf("result message %+v", res)
	}
	rp := res.Parts[0]
	if rp.ToolCallID != "call_e2e_1" || rp.ToolName != "exec" || len(rp.Content) != 2 || rp.Content[1].Text != "e2e-tool-ran" {
		t.Errorf("result %+v", rp)
	}
}

// Codex with a model it has no metadata for: top-level tools with a
// namespace (multi_agent_v1) and a hosted web_search tool, which is
// dropped and recorded.
func TestDecodeCodexCustomModel(t *testing.T) {
	for _, name := range []string{"codex-custom-model-first.json", "codex-custom-model-followup.json"} {
		r, err := DecodeRequest(readAgentBody(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(r.Dropped) != 1 || !strings.HasPrefix(r.Dropped[0], "tools[8]: web_search tool") {
			t.Errorf("%s: dropped %q", name, r.Dropped)
		}
		if tl := findTool(r, "multi_agent_v1__spawn_agent"); tl == nil || tl.Namespace != "multi_agent_v1" || tl.ClientName != "spawn_agent" {
			t.Errorf("%s: tools %v", name, toolNames(r))
		}
		if len(r.Tools) != 12 || r.Tools[0].Name != "exec_command" {
			t.Errorf("%s: tools %v", name, toolNames(r))
		}
		if r.Reasoning != nil {
			t.Errorf("%s: reasoning %+v from a summary-only reasoning setting", name, r.Reasoning)
		}
	}
}

// Item and tool shapes Codex may send besides: hosted tools and their
// items are dropped and recorded; a namespaced function call keeps its
// namespace until named; a tool choice names the declared tool.
func TestDecodeAgentShapes(t *testing.T) {
	body := `{"model":"m","stream":true,"store":false,"include":["reasoning.encrypted_content"],
	"prompt_cache_key":"k","client_metadata":{"a":"b"},"text":{"verbosity":"low"},"reasoning":{"effort":"high","context":"all_turns","summary":"auto"},
	"tools":[{"type":"function","name":"a.b","parameters":{"type":"object"}},{"type":"image_generation","output_format":"png"},
	 {"type":"namespace","name":"mcp__srv__","description":"d","tools":[{"type":"function","name":"look","defer_loading":true},{"type":"web_search"}]},
	 {"type":"tool_search","execution":"client"},{"type":"custom","name":"apply_patch","format":{"type":"text"}}],
	"tool_choice":{"type":"function","name":"look","namespace":"mcp__srv__"},
	"input":[
	 {"type":"message","role":"developer","content":[{"type":"input_text","text":"dev"}]},
	 {"type":"message","role":"user","id":"msg_1","content":[{"type":"input_text","text":"hi"}]},
	 {"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search","query":"q"}},
	 {"type":"function_call","call_id":"c1","name":"look","namespace":"mcp__srv__","arguments":"{}"},
	 {"type":"function_call_output","call_id":"c1","output":"seen"},
	 {"type":"compaction","encrypted_content":"xyz"},
	 {"type":"future_item","x":1},
	 {"type":"custom_tool_call","call_id":"c2","name":"apply_patch","input":"*** Begin Patch"},
	 {"type":"custom_tool_call_output","call_id":"c2","output":"done"},
	 {"type":"message","role":"user","content":"go on"}]}`
	r, err := DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"input[2]: web_search_call item", "input[5]: compaction item", `input[6]: unknown item type "future_item"`,
		"tools[1]: image_generation tool", "tools[2].tools[1]: web_search tool", "tools[3]: tool_search tool"}
	if len(r.Dropped) != len(want) {
		t.Fatalf("dropped %q", r.Dropped)
	}
	for i, w := range want {
		if !strings.HasPrefix(r.Dropped[i], w) {
			t.Errorf("dropped[%d] = %q, want %q...", i, r.Dropped[i], w)
		}
	}
	if got := toolNames(r); len(got) != 3 || got[1] != "mcp__srv__look" || got[2] != "apply_patch" || !strings.HasPrefix(got[0], "a_b_") {
		t.Errorf("tools %v", got)
	}
	if r.Tools[0].ClientName != "a.b" {
		t.Errorf("a.b kept as %+v", r.Tools[0])
	}
	if r.ToolChoice == nil || r.ToolChoice.Mode != "tool" || r.ToolChoice.Name != "mcp__srv__look" {
		t.Errorf("tool choice %+v", r.ToolChoice)
	}
	var calls []translate.Part
	for _, m := range r.Messages {
		for _, p := range m.Parts {
			if p.Type == translate.PartToolCall || p.Type == translate.PartToolResult {
				calls = append(calls, p)
			}
		}
	}
	if len(calls) != 4 || calls[0].ToolName != "mcp__srv__look" || calls[1].ToolName != "mcp__srv__look" ||
		calls[2].ToolName != "apply_patch" || calls[2].Arguments != `{"input":"*** Begin Patch"}` || calls[3].ToolName != "apply_patch" {
		t.Errorf("calls and results %+v", calls)
	}
	if r.System != "dev" || r.Reasoning == nil || r.Reasoning.Effort != "high" {
		t.Errorf("system %q reasoning %+v", r.System, r.Reasoning)
	}
	ct := translate.NewClientTools(r)
	if ct == nil {
		t.Fatal("no client tools to restore")
	}
}

// A custom tool's call streams its input as custom_tool_call_input
// deltas, read out of the function arguments the provider streams, however
// they are cut; namespaced calls carry their namespace.
func TestStreamCustomToolCall(t *testing.T) {
	fixNow(t)
	input := "*** Begin Patch\n*** Add File: \"é😀.txt\"\n+tab\there \\ back\n*** End Patch"
	args := translate.CustomToolArguments(input)
	cuts := map[string][]string{
		"whole":       {args},
		"bytes":       splitEvery(args, 1),
		"threes":      splitEvery(args, 3),
		"spaced":      {`{ "inp`, `ut" `, `: "`, args[len(`{"input":"`):]},
		"other key":   {`{"cmd":`, strings.TrimPrefix(args, `{"input":`)},
		"unicode esc": {`{"input":"\u00e9\ud83d`, `\ude00 \n"}`},
	}
	wants := map[string]string{"other key": input, "unicode esc": "é😀 \n"}
	for name, frags := range cuts {
		want := input
		if w, ok := wants[name]; ok {
			want = w
		}
		evs := []translate.StreamEvent{
			{Type: translate.EvStart, ID: "r1", Model: "m"},
			{Type: translate.EvToolStart, Index: 0, ToolCallID: "call_1", ToolName: "apply_patch", ToolKind: translate.ToolCustom, Namespace: "functions"},
		}
		for _, f := range frags {
			evs = append(evs, translate.StreamEvent{Type: translate.EvToolArgs, Index: 0, Args: f})
		}
		evs = append(evs,
			translate.StreamEvent{Type: translate.EvToolStart, Index: 1, ToolCallID: "call_2", ToolName: "sleep", Namespace: "clock"},
			translate.StreamEvent{Type: translate.EvToolArgs, Index: 1, Args: `{"ms":1}`},
			translate.StreamEvent{Type: translate.EvFinish, StopReason: translate.StopToolUse})
		stream := run(translate.StreamOptions{Model: "m"}, evs)
		events := checkFraming(t, stream)
		var deltas strings.Builder
		var done string
		for _, e := range events {
			switch e.Get("type").Str {
			case "response.custom_tool_call_input.delta":
				deltas.WriteString(e.Get("delta").Str)
			case "response.custom_tool_call_input.done":
				done = e.Get("input").Str
			}
		}
		if deltas.String() != want || done != want {
			t.Errorf("%s: deltas %q done %q, want %q", name, deltas.String(), done, want)
		}
		if name == "bytes" && strings.Count(string(stream), "custom_tool_call_input.delta") < 20 {
			t.Errorf("%s: the input was not streamed as it came", name)
		}
		out := events[len(events)-1].Get("response.output").Array()
		if len(out) != 2 || out[0].Get("type").Str != "custom_tool_call" || out[0].Get("input").Str != want ||
			out[0].Get("call_id").Str != "call_1" || out[0].Get("name").Str != "apply_patch" || out[0].Get("namespace").Str != "functions" ||
			!strings.HasPrefix(out[0].Get("id").Str, "ctc_") || out[1].Get("type").Str != "function_call" || out[1].Get("namespace").Str != "clock" ||
			out[1].Get("name").Str != "sleep" {
			t.Errorf("%s: output %s", name, events[len(events)-1].Get("response.output").Raw)
		}
		if name == "whole" {
			// The SDK reads the events and the final response.
			client := testServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = w.Write(stream)
			})
			s := client.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "m", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("q")}})
			var sdkDeltas strings.Builder
			var final responses.Response
			for s.Next() {
				switch ev := s.Current(); ev.Type {
				case "response.custom_tool_call_input.delta":
					sdkDeltas.WriteString(ev.AsResponseCustomToolCallInputDelta().Delta)
				case "response.completed":
					final = ev.AsResponseCompleted().Response
				}
			}
			if s.Err() != nil || sdkDeltas.String() != want {
				t.Fatalf("SDK: %v, deltas %q", s.Err(), sdkDeltas.String())
			}
			ct := final.Output[0].AsCustomToolCall()
			if ct.Input != want || ct.CallID != "call_1" || ct.Name != "apply_patch" {
				t.Errorf("SDK custom call %+v", ct)
			}
			// The whole answer says the same.
			whole := EncodeResponse(&translate.Response{ID: "r1", Model: "m", StopReason: translate.StopToolUse, Parts: []translate.Part{
				{Type: translate.PartToolCall, ToolCallID: "call_1", ToolName: "apply_patch", ToolKind: translate.ToolCustom, Namespace: "functions", Arguments: args},
				{Type: translate.PartToolCall, ToolCallID: "call_2", ToolName: "sleep", Namespace: "clock", Arguments: `{"ms":1}`},
			}})
			if string(whole) != final.RawJSON() {
				t.Errorf("whole\n%s\nstreamed\n%s", whole, final.RawJSON())
			}
		}
	}
}

func splitEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// A tool declared again (an additional_tools item repeating one, the
// default namespace being the top level) is declared once, as last
// declared.
func TestDecodeToolsDeclaredAgain(t *testing.T) {
	r, err := DecodeRequest([]byte(`{"model":"m","tools":[{"type":"function","name":"f","description":"old"}],"input":[
		{"type":"additional_tools","tools":[{"type":"namespace","name":"functions","tools":[{"type":"function","name":"f","description":"ns"}]},{"type":"function","name":"f","description":"new"}]},
		{"role":"user","content":"q"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tools) != 1 || r.Tools[0].Description != "new" || r.Tools[0].Name != "f" {
		t.Errorf("tools %+v", r.Tools)
	}
}
