package translate

import (
	"regexp"
	"strings"
	"testing"
)

// Every provider takes these names: OpenAI and Anthropic [a-zA-Z0-9_-]{1,64},
// Gemini a letter or '_' first.
var everyProviderName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_-]{0,63}$`)

func TestProviderToolName(t *testing.T) {
	tests := []struct{ ns, name, want string }{
		{"", "get_weather", "get_weather"},
		{"functions", "exec", "exec"},
		{"clock", "sleep", "clock__sleep"},
		{"mcp__srv__", "look", "mcp__srv__look"},
		{"", "Read", "Read"},
	}
	for _, tt := range tests {
		if got := ProviderToolName(tt.ns, tt.name); got != tt.want {
			t.Errorf("ProviderToolName(%q, %q) = %q, want %q", tt.ns, tt.name, got, tt.want)
		}
	}
	seen := map[string]string{}
	for _, tt := range []struct{ ns, name string }{
		{"", "a.b"}, {"", "a:b"}, {"", "a_b"}, {"", "9lives"}, {"", ""}, {"", strings.Repeat("x", 80)},
		{"", strings.Repeat("x", 81)}, {"ns", "a.b"}, {"", "ns__a.b"}, {"", "ünïcode"}, {strings.Repeat("n", 60), "tool"},
	} {
		got := ProviderToolName(tt.ns, tt.name)
		if !everyProviderName.MatchString(got) {
			t.Errorf("ProviderToolName(%q, %q) = %q: not a name every provider takes", tt.ns, tt.name, got)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("%q and %q both became %q", prev, tt.ns+"/"+tt.name, got)
		}
		seen[got] = tt.ns + "/" + tt.name
		if again := ProviderToolName(tt.ns, tt.name); again != got {
			t.Errorf("not stable: %q then %q", got, again)
		}
	}
}

func TestNameToolsAndRestore(t *testing.T) {
	r := &Request{
		Tools: []Tool{
			{Name: "exec"},                                // top level
			{Name: "exec", Namespace: "functions"},        // the same name in the default namespace
			{Name: "sleep", Namespace: "clock"},           // flattened
			{Name: "run", Kind: ToolCustom},               // custom
			{Name: "a.b", Description: "dotted (Gemini)"}, // invalid elsewhere
		},
		ToolChoice: &ToolChoice{Mode: "tool", Name: "a.b"},
		Messages: []Message{
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hi"}}},
			{Role: RoleAssistant, Parts: []Part{
				{Type: PartToolCall, ToolCallID: "c1", ToolName: "sleep", Namespace: "clock", Arguments: "{}"},
				{Type: PartToolCall, ToolCallID: "c2", ToolName: "a.b", Arguments: "{}"},
				{Type: PartToolCall, ToolCallID: "c3", ToolName: "gone", Namespace: "old", Arguments: "{}"},
			}},
			{Role: RoleTool, Parts: []Part{
				{Type: PartToolResult, ToolCallID: "c1", ToolName: "sleep"},
				{Type: PartToolResult, ToolCallID: "c2"},
				{Type: PartToolResult, ToolCallID: "zz", ToolName: "a.b"},
			}},
		},
	}
	NameTools(r)
	names := map[string]bool{}
	for _, tl := range r.Tools {
		if !everyProviderName.MatchString(tl.Name) || names[tl.Name] {
			t.Errorf("tool name %q (tools %+v)", tl.Name, r.Tools)
		}
		names[tl.Name] = true
	}
	if r.Tools[0].Name != "exec" || r.Tools[0].ClientName != "" || r.Tools[1].ClientName != "exec" || r.Tools[2].Name != "clock__sleep" ||
		r.Tools[2].ClientName != "sleep" || r.Tools[3].Name != "run" {
		t.Errorf("tools %+v", r.Tools)
	}
	dotted := r.Tools[4].Name
	if r.Tools[4].ClientName != "a.b" || r.ToolChoice.Name != dotted {
		t.Errorf("a.b became %q (client name %q), tool choice %q", dotted, r.Tools[4].ClientName, r.ToolChoice.Name)
	}
	calls, results := r.Messages[1].Parts, r.Messages[2].Parts
	if calls[0].ToolName != "clock__sleep" || calls[1].ToolName != dotted || calls[2].ToolName != "old__gone" {
		t.Errorf("calls %+v", calls)
	}
	if results[0].ToolName != "clock__sleep" || results[1].ToolName != dotted || results[2].ToolName != dotted {
		t.Errorf("results %+v", results)
	}

	ct := NewClientTools(r)
	resp := &Response{Parts: []Part{
		{Type: PartText, Text: "x"},
		{Type: PartToolCall, ToolName: "clock__sleep", Arguments: "{}"},
		{Type: PartToolCall, ToolName: "run", Arguments: `{"input":"ls"}`},
		{Type: PartToolCall, ToolName: dotted},
		{Type: PartToolCall, ToolName: "exec"},
		{Type: PartToolCall, ToolName: "unknown"},
	}}
	ct.RestoreResponse(resp)
	got := resp.Parts[1:]
	if got[0].ToolName != "sleep" || got[0].Namespace != "clock" || got[1].ToolKind != ToolCustom || got[1].ToolName != "run" ||
		got[2].ToolName != "a.b" || got[3].ToolName != "exec" || got[3].Namespace != "" || got[4].ToolName != "unknown" {
		t.Errorf("restored %+v", got)
	}

	var seen []StreamEvent
	enc := ct.Wrap(encoderFunc(func(dst []byte, ev *StreamEvent) []byte { seen = append(seen, *ev); return dst }))
	ev := StreamEvent{Type: EvToolStart, ToolName: "clock__sleep", ToolCallID: "c"}
	enc.Encode(nil, &ev)
	enc.Encode(nil, &StreamEvent{Type: EvToolArgs, Args: "{}"})
	if seen[0].ToolName != "sleep" || seen[0].Namespace != "clock" || ev.ToolName != "clock__sleep" || seen[1].Args != "{}" {
		t.Errorf("stream events %+v (the caller's event must not change: %+v)", seen, ev)
	}

	// Nothing to restore: nil, and a nil ClientTools changes nothing.
	plain := &Request{Tools: []Tool{{Name: "f"}}}
	NameTools(plain)
	var none *ClientTools = NewClientTools(plain)
	if none != nil {
		t.Fatalf("client tools for plain functions: %+v", none)
	}
	none.RestoreResponse(resp)
	inner := encoderFunc(func(dst []byte, ev *StreamEvent) []byte { return dst })
	if w := none.Wrap(inner); w == nil {
		t.Error("nil Wrap returned nil")
	}
}

type encoderFunc func(dst []byte, ev *StreamEvent) []byte

func (f encoderFunc) Encode(dst []byte, ev *StreamEvent) []byte { return f(dst, ev) }

func TestCustomToolInput(t *testing.T) {
	tests := []struct{ args, want string }{
		{CustomToolArguments("*** Begin Patch\n\"x\""), "*** Begin Patch\n\"x\""},
		{`{"input":""}`, ""},
		{`{"q":"echo hi"}`, "echo hi"}, // a model that named it otherwise
		{`{"a":"1","b":"2"}`, `{"a":"1","b":"2"}`},
		{`"raw"`, "raw"},
		{`not json`, "not json"},
	}
	for _, tt := range tests {
		if got := CustomToolInput(tt.args); got != tt.want {
			t.Errorf("CustomToolInput(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
	if d := CustomToolDescription("Run it.", []byte(`{"type":"grammar","syntax":"regex","definition":"\n^a+$\n"}`)); d != "Run it.\n\nThe input must match this regex grammar:\n^a+$" {
		t.Errorf("description %q", d)
	}
	if d := CustomToolDescription("Run it.", []byte(`{"type":"text"}`)); d != "Run it." {
		t.Errorf("description %q", d)
	}
}

func TestSystemTextAndFitUserID(t *testing.T) {
	r := &Request{System: "base", Messages: []Message{
		{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "q"}}},
		{Role: RoleSystem, Parts: []Part{{Type: PartText, Text: "now Go"}, {Type: PartText, Text: " "}}},
		{Role: RoleSystem, Parts: []Part{{Type: PartText, Text: "be brief"}}},
	}}
	if got := SystemText(r); got != "base\n\nnow Go\n\nbe brief" {
		t.Errorf("SystemText = %q", got)
	}
	if got := SystemText(&Request{Messages: r.Messages[1:2]}); got != "now Go" {
		t.Errorf("SystemText without a system prompt = %q", got)
	}
	long := `{"device_id":"c82d47fdff15aca0f153eb24e8d17991f949c47c20745fe580633b8dc33937df","account_uuid":"","session_id":"1ed87f7e"}`
	a, b := FitUserID(long, 64), FitUserID(long+"x", 64)
	if len(a) > 64 || !strings.HasPrefix(a, "u-") || a == b || FitUserID(long, 64) != a {
		t.Errorf("FitUserID: %q, %q", a, b)
	}
	if FitUserID("short", 64) != "short" || len(FitUserID(long, 8)) != 8 {
		t.Error("FitUserID keeps what fits and fits what does not")
	}
}
