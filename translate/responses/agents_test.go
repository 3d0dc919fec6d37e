package responses

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
