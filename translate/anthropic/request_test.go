package anthropic

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestDecodeRequest(t *testing.T) {
	r, err := DecodeRequest([]byte(fullRequest))
	if err != nil {
		t.Fatal(err)
	}
	want := &translate.Request{
		Model:     "claude-sonnet-4-5",
		System:    "You are terse.\n\nAnswer in English.",
		MaxTokens: 2048,
		Messages: []translate.Message{
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "What is the weather in Paris? Here is a map."}}},
			{Role: translate.RoleUser, Parts: []translate.Part{
				{Type: translate.PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="},
				{Type: translate.PartImage, URL: "https://example.com/map.jpg"},
			}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{
				{Type: translate.PartThinking, Text: "Need the weather tool.", Signature: "EqQBsig", SignatureFormat: Name},
				{Type: translate.PartThinking, Redacted: true, Data: "EmwKAhgBredacted", SignatureFormat: Name},
				{Type: translate.PartText, Text: "Checking."},
				{Type: translate.PartToolCall, ToolCallID: "toolu_01A", ToolName: "get_weather", Arguments: `{"city": "Paris"}`},
				{Type: translate.PartToolCall, ToolCallID: "toolu_01B", ToolName: "get_time", Arguments: `{}`},
			}},
			{Role: translate.RoleTool, Parts: []translate.Part{
				{Type: translate.PartToolResult, ToolCallID: "toolu_01A", ToolName: "get_weather", Content: []translate.Part{{Type: translate.PartText, Text: "18C, cloudy"}}},
				{Type: translate.PartToolResult, ToolCallID: "toolu_01B", ToolName: "get_time", IsError: true, Content: []translate.Part{
					{Type: translate.PartText, Text: "clock broken"},
					{Type: translate.PartImage, MediaType: "image/jpeg", Data: "/9j/AA=="},
				}},
			}},
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "Also, is it late?"}}},
		},
		Tools: []translate.Tool{
			{Name: "get_weather", Description: "Weather for a city", Parameters: json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}`)},
			{Name: "get_time", Parameters: json.RawMessage(`{"type": "object", "properties": {}}`)},
		},
		ToolChoice:        &translate.ToolChoice{Mode: "required"},
		ParallelToolCalls: ptrB(false),
		Temperature:       ptrF(0.5),
		TopP:              ptrF(0.9),
		TopK:              ptrI(40),
		Stop:              []string{"END", "STOP"},
		Stream:            true,
		Reasoning:         &translate.Reasoning{Budget: 2000},
		User:              "user-123",
	}
	if g, w := jsonOf(t, r), jsonOf(t, want); g != w {
		t.Errorf("decoded\n got %s\nwant %s", g, w)
	}
}

func TestDecodeRequestVariants(t *testing.T) {
	base := func(extra string) string {
		return `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]` + extra + `}`
	}
	tests := []struct {
		name, body string
		check      func(t *testing.T, r *translate.Request)
	}{
		{"tool_choice auto", base(`,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto"}`), func(t *testing.T, r *translate.Request) {
			if r.ToolChoice.Mode != "auto" || r.ParallelToolCalls != nil {
				t.Errorf("%+v", r.ToolChoice)
			}
		}},
		{"tool_choice tool", base(`,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"}`), func(t *testing.T, r *translate.Request) {
			if *r.ToolChoice != (translate.ToolChoice{Mode: "tool", Name: "f"}) {
				t.Errorf("%+v", r.ToolChoice)
			}
		}},
		{"tool_choice none", base(`,"tool_choice":{"type":"none"}`), func(t *testing.T, r *translate.Request) {
			if r.ToolChoice.Mode != "none" {
				t.Errorf("%+v", r.ToolChoice)
			}
		}},
		{"thinking disabled", base(`,"thinking":{"type":"disabled"}`), func(t *testing.T, r *translate.Request) {
			if r.Reasoning == nil || !r.Reasoning.Off {
				t.Errorf("%+v", r.Reasoning)
			}
		}},
		{"thinking adaptive", base(`,"thinking":{"type":"adaptive"}`), func(t *testing.T, r *translate.Request) {
			if r.Reasoning == nil || r.Reasoning.Effort != "medium" {
				t.Errorf("%+v", r.Reasoning)
			}
		}},
		{"thinking adaptive effort", base(`,"thinking":{"type":"adaptive"},"output_config":{"effort":"high"}`), func(t *testing.T, r *translate.Request) {
			if r.Reasoning == nil || r.Reasoning.Effort != "high" {
				t.Errorf("%+v", r.Reasoning)
			}
		}},
		{"system string", base(`,"system":"be nice"`), func(t *testing.T, r *translate.Request) {
			if r.System != "be nice" {
				t.Errorf("%q", r.System)
			}
		}},
		{"structured output", base(`,"output_format":{"type":"json_schema","schema":{"type":"object"}}`), func(t *testing.T, r *translate.Request) {
			if r.ResponseFormat == nil || r.ResponseFormat.Type != "json_schema" || string(r.ResponseFormat.Schema) != `{"type":"object"}` {
				t.Errorf("%+v", r.ResponseFormat)
			}
		}},
		{"tool result only", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1"}]}]}`, func(t *testing.T, r *translate.Request) {
			if len(r.Messages) != 3 || r.Messages[2].Role != translate.RoleTool || len(r.Messages[2].Parts) != 1 || r.Messages[2].Parts[0].ToolName != "f" {
				t.Errorf("%+v", r.Messages)
			}
		}},
		{"null fields", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"system":null,"tools":null,"tool_choice":null,"temperature":null,"stop_sequences":null,"thinking":null}`, func(t *testing.T, r *translate.Request) {
			if r.System != "" || r.Tools != nil || r.ToolChoice != nil || r.Temperature != nil || r.Reasoning != nil {
				t.Errorf("%+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	tests := []struct{ name, body, msg string }{
		{"not json", `{"model":`, "There was an error parsing the body"},
		{"array", `[]`, "JSON object"},
		{"no max_tokens", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "max_tokens: Field required"},
		{"bad max_tokens", `{"model":"m","max_tokens":"5","messages":[{"role":"user","content":"hi"}]}`, "max_tokens: Input should be a valid integer"},
		{"zero max_tokens", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, "max_tokens: Input should be greater than or equal to 1"},
		{"no model", `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, "model: Field required"},
		{"no messages", `{"model":"m","max_tokens":5}`, "messages: Field required"},
		{"empty messages", `{"model":"m","max_tokens":5,"messages":[]}`, "at least one message"},
		{"bad role", `{"model":"m","max_tokens":5,"messages":[{"role":"robot","content":"hi"}]}`, "messages.0.role: Input should be 'user', 'assistant' or 'system'"},
		{"only system", `{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"hi"}]}`, "messages: at least one user or assistant message"},
		{"bad system text", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"},{"role":"system","content":[{"type":"text","text":5}]}]}`, "messages.1.content.0.text: Input should be a valid string"},
		{"bad system content", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"},{"role":"system","content":5}]}`, "messages.1.content: Input should be"},
		{"document", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"}}]}]}`, `"document" is not supported`},
		{"tool_use in user", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]}]}`, "only allowed in assistant"},
		{"tool_result in assistant", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"a"}]}]}`, "only allowed in user"},
		{"bad tool_choice", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tool_choice":{"type":"sometimes"}}`, "tool_choice.type"},
		{"bad thinking", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled"}}`, "thinking.budget_tokens"},
		{"file image", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, `image source type "file"`},
		{"bad temperature", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}`, "temperature"},
		{"bad content", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":5}]}`, "messages.0.content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tt.body))
			var re *translate.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a RequestError", err)
			}
			if !strings.Contains(re.Message, tt.msg) {
				t.Errorf("message %q does not contain %q", re.Message, tt.msg)
			}
			// The engine names the parameter only when the message does
			// not start with it.
			if re.Param != "" && !strings.HasPrefix(re.Message, re.Param+": ") {
				t.Errorf("message %q does not start with its param %q", re.Message, re.Param)
			}
		})
	}
	if _, err := DecodeRequest([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)); err != nil {
		t.Errorf("minimal request: %v", err)
	}
	re := fieldErr("max_tokens", "Field required")
	if re.Param != "max_tokens" {
		t.Errorf("param %q", re.Param)
	}
}

func TestEncodeRequestBasic(t *testing.T) {
	r := &translate.Request{
		Model:  "claude-sonnet-4-5",
		System: "Be brief.",
		Messages: []translate.Message{
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "Hi <there> & \"you\"\n"}}},
		},
		Tools: []translate.Tool{
			{Name: "lookup", Description: "Look up", Parameters: json.RawMessage(`{"type":"object",
				"properties":{"q":{"type":"string"}}}`)},
			{Name: "noargs"},
			{Name: "notype", Parameters: json.RawMessage(`{"properties":{}}`)},
		},
		ToolChoice:  &translate.ToolChoice{Mode: "tool", Name: "lookup"},
		Temperature: ptrF(1.7),
		TopP:        ptrF(0.8),
		TopK:        ptrI(5),
		Stop:        []string{"###", "  ", "\n\nHuman:"},
		Stream:      true,
		User:        "u-1",
		MaxTokens:   300,
	}
	b, err := EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	checkRequest(t, b, false)
	want := `{"model":"claude-sonnet-4-5","max_tokens":300,"system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"Hi <there> & \"you\"\n"}]}],` +
		`"tools":[{"name":"lookup","description":"Look up","input_schema":{"type":"object","properties":{"q":{"type":"string"}}}},` +
		`{"name":"noargs","input_schema":{"type":"object","properties":{}}},{"name":"notype","input_schema":{"properties":{},"type":"object"}}],` +
		`"tool_choice":{"type":"tool","name":"lookup"},"temperature":1,"top_k":5,"top_p":0.8,"stop_sequences":["###","\n\nHuman:"],"stream":true,"metadata":{"user_id":"u-1"}}`
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
}

func TestEncodeToolChoice(t *testing.T) {
	tools := []translate.Tool{{Name: "f"}}
	tests := []struct {
		choice   *translate.ToolChoice
		parallel *bool
		want     string
	}{
		{nil, nil, ``},
		{&translate.ToolChoice{Mode: "auto"}, nil, `{"type":"auto"}`},
		{&translate.ToolChoice{Mode: "required"}, nil, `{"type":"any"}`},
		{&translate.ToolChoice{Mode: "none"}, ptrB(false), `{"type":"none"}`},
		{&translate.ToolChoice{Mode: "tool", Name: "f"}, ptrB(false), `{"type":"tool","name":"f","disable_parallel_tool_use":true}`},
		{nil, ptrB(false), `{"type":"auto","disable_parallel_tool_use":true}`},
		{nil, ptrB(true), ``},
		{&translate.ToolChoice{Mode: "required"}, ptrB(false), `{"type":"any","disable_parallel_tool_use":true}`},
	}
	for _, tt := range tests {
		r := &translate.Request{Model: "claude-sonnet-4-5", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "x"}}}},
			Tools: tools, ToolChoice: tt.choice, ParallelToolCalls: tt.parallel}
		b, _ := EncodeRequest(r)
		if got := gjson.GetBytes(b, "tool_choice").Raw; got != tt.want {
			t.Errorf("%+v %v: got %s want %s", tt.choice, tt.parallel, got, tt.want)
		}
	}
	// No tools: no tool_choice at all.
	r := &translate.Request{Model: "m", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "x"}}}},
		ToolChoice: &translate.ToolChoice{Mode: "required"}, ParallelToolCalls: ptrB(false)}
	b, _ := EncodeRequest(r)
	if gjson.GetBytes(b, "tool_choice").Exists() {
		t.Errorf("tool_choice without tools: %s", b)
	}
}

// An OpenAI-shaped history: system, tool calls answered by separate tool
// messages, a user follow-up, consecutive user messages.
func TestEncodeAlternation(t *testing.T) {
	r := &translate.Request{
		Model: "claude-sonnet-4-5",
		Messages: []translate.Message{
			{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartText, Text: "Hello, how can I help?"}}},
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "Weather in Paris and Rome?"}}},
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "   "}, {Type: translate.PartImage, URL: "data:image/jpeg;base64,/9j/4AAQ"}}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{
				{Type: translate.PartThinking, Text: "unsigned reasoning from another provider"},
				{Type: translate.PartText, Text: ""},
				{Type: translate.PartToolCall, ToolCallID: "call_abc", ToolName: "weather", Arguments: `{"city":"Paris"}`},
			}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{
				{Type: translate.PartToolCall, ToolCallID: "call.rome:1", ToolName: "weather", Arguments: `not json`},
			}},
			{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "call.rome:1", Content: []translate.Part{{Type: translate.PartText, Text: "25C"}}}}},
			{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "call_abc", Content: []translate.Part{{Type: translate.PartText, Text: "18C"}}}}},
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "Thanks. And London?"}}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartText, Text: "London is "}}},
		},
	}
	b, err := EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	checkRequest(t, b, false)
	rome := toolID("call.rome:1")
	if !strings.HasPrefix(rome, "call_rome_1_") {
		t.Errorf("sanitized id %q", rome)
	}
	want := `[` +
		`{"role":"user","content":[{"type":"text","text":"(conversation continues)"}]},` +
		`{"role":"assistant","content":[{"type":"text","text":"Hello, how can I help?"}]},` +
		`{"role":"user","content":[{"type":"text","text":"Weather in Paris and Rome?"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"}}]},` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"call_abc","name":"weather","input":{"city":"Paris"}},{"type":"tool_use","id":"` + rome + `","name":"weather","input":{}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + rome + `","content":"25C"},{"type":"tool_result","tool_use_id":"call_abc","content":"18C"},{"type":"text","text":"Thanks. And London?"}]},` +
		`{"role":"assistant","content":[{"type":"text","text":"London is"}]}]`
	if got := gjson.GetBytes(b, "messages").Raw; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestEncodeToolIDRepair(t *testing.T) {
	r := &translate.Request{
		Model: "claude-sonnet-4-5",
		Messages: []translate.Message{
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "go"}}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{
				{Type: translate.PartToolCall, ToolCallID: "a", ToolName: "f", Arguments: `{}`},
				{Type: translate.PartToolCall, ToolCallID: "b", ToolName: "g", Arguments: `{}`},
				{Type: translate.PartToolCall, ToolName: "h", Arguments: `{}`}, // no id
			}},
			{Role: translate.RoleTool, Parts: []translate.Part{
				{Type: translate.PartToolResult, ToolCallID: "a", Content: []translate.Part{{Type: translate.PartText, Text: "A"}}},
				{Type: translate.PartToolResult, ToolCallID: "zzz", ToolName: "old", IsError: true, Content: []translate.Part{{Type: translate.PartText, Text: "stale"}, {Type: translate.PartImage, Data: "iVBORw0KGgo="}}},
				{Type: translate.PartToolResult, Content: []translate.Part{{Type: translate.PartText, Text: "H"}}}, // no id: first unanswered
			}},
		},
	}
	b, _ := EncodeRequest(r)
	checkRequest(t, b, false)
	user := gjson.GetBytes(b, "messages.2.content")
	hID := gjson.GetBytes(b, "messages.1.content.2.id").Str
	if !strings.HasPrefix(hID, "toolu_") {
		t.Errorf("made-up id %q", hID)
	}
	got := []string{}
	for _, c := range user.Array() {
		got = append(got, c.Get("type").Str+":"+c.Get("tool_use_id").Str+":"+c.Get("content").String()+c.Get("text").Str)
	}
	want := []string{
		"tool_result:a:A",
		// "b" had no result; the one without an id took it.
		"tool_result:b:H",
		"tool_result:" + hID + ":" + missingResult,
		"text::Error from tool call old (zzz):\nstale",
		"image::",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if !gjson.GetBytes(b, "messages.2.content.2.is_error").Bool() {
		t.Errorf("placeholder result not is_error")
	}
}

// OpenAI-compatible servers that number calls per turn reuse ids.
func TestEncodeReusedToolIDs(t *testing.T) {
	call := func(id string) translate.Message {
		return translate.Message{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartToolCall, ToolCallID: id, ToolName: "f", Arguments: "{}"}}}
	}
	result := func(id, text string) translate.Message {
		return translate.Message{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: id, Content: []translate.Part{{Type: translate.PartText, Text: text}}}}}
	}
	r := &translate.Request{Model: "claude-sonnet-4-5", Messages: []translate.Message{
		{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "q"}}},
		call("call_0"), result("call_0", "first"),
		call("call_0"), result("call_0", "second"),
	}}
	b, _ := EncodeRequest(r)
	checkRequest(t, b, false)
	got := []string{
		gjson.GetBytes(b, "messages.1.content.0.id").Str, gjson.GetBytes(b, "messages.2.content.0.tool_use_id").Str,
		gjson.GetBytes(b, "messages.3.content.0.id").Str, gjson.GetBytes(b, "messages.4.content.0.tool_use_id").Str,
		gjson.GetBytes(b, "messages.4.content.0.content").Str,
	}
	if want := []string{"call_0", "call_0", "call_0_2", "call_0_2", "second"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}

func TestEncodeImagesAndResults(t *testing.T) {
	r := &translate.Request{
		Model: "claude-sonnet-4-5",
		Messages: []translate.Message{
			{Role: translate.RoleUser, Parts: []translate.Part{
				{Type: translate.PartImage, MediaType: "image/webp", Data: "UklGRg=="},
				{Type: translate.PartImage, Data: "R0lGODlh"},
				{Type: translate.PartImage, URL: "https://x.test/a.png"},
				{Type: translate.PartImage, URL: "data:image/png;base64,iVBOR"},
				{Type: translate.PartText, Text: "describe"},
			}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartImage, URL: "https://x.test/drop.png"}, {Type: translate.PartToolCall, ToolCallID: "t1", ToolName: "shot", Arguments: `{}`}}},
			{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "t1", Content: []translate.Part{
				{Type: translate.PartText, Text: "screenshot:"},
				{Type: translate.PartImage, URL: "https://x.test/s.png"},
			}}}},
		},
	}
	b, _ := EncodeRequest(r)
	checkRequest(t, b, false)
	want := `[{"type":"image","source":{"type":"base64","media_type":"image/webp","data":"UklGRg=="}},` +
		`{"type":"image","source":{"type":"base64","media_type":"image/gif","data":"R0lGODlh"}},` +
		`{"type":"image","source":{"type":"url","url":"https://x.test/a.png"}},` +
		`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}},` +
		`{"type":"text","text":"describe"}]`
	if got := gjson.GetBytes(b, "messages.0.content").Raw; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := gjson.GetBytes(b, "messages.1.content").Raw; got != `[{"type":"tool_use","id":"t1","name":"shot","input":{}}]` {
		t.Errorf("assistant: %s", got)
	}
	wantRes := `[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"screenshot:"},{"type":"image","source":{"type":"url","url":"https://x.test/s.png"}}]}]`
	if got := gjson.GetBytes(b, "messages.2.content").Raw; got != wantRes {
		t.Errorf("result: %s", got)
	}
}

func TestFamilyMaxTokens(t *testing.T) {
	tests := []struct {
		model       string
		family, def int
	}{
		{"claude-3-haiku-20240307", 4096, 4096},
		{"claude-3-opus-20240229", 4096, 4096},
		{"claude-3-5-sonnet-20241022", 8192, 8192},
		{"claude-3-5-haiku-latest", 8192, 8192},
		{"claude-3-7-sonnet-20250219", 64000, 8192},
		{"claude-opus-4-20250514", 32000, 8192},
		{"claude-opus-4-0", 32000, 8192},
		{"claude-opus-4-1", 32000, 8192},
		{"claude-opus-4-1-20250805", 32000, 8192},
		{"claude-opus-4@20250514", 32000, 8192},
		{"claude-opus-4-5-20251101", 64000, 8192},
		{"claude-sonnet-4-20250514", 64000, 8192},
		{"claude-sonnet-4-5", 64000, 8192},
		{"claude-haiku-4-5-20251001", 64000, 8192},
		{"anthropic.claude-sonnet-4-5-20250929-v1:0", 64000, 8192},
		{"gpt-4o", 0, 8192},
		{"my-model", 0, 8192},
	}
	for _, tt := range tests {
		if got := familyMax(tt.model); got != tt.family {
			t.Errorf("%s: family max %d, want %d", tt.model, got, tt.family)
		}
		r := &translate.Request{Model: tt.model, Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "x"}}}}}
		b, _ := EncodeRequest(r)
		if got := gjson.GetBytes(b, "max_tokens").Int(); got != int64(tt.def) {
			t.Errorf("%s: default max_tokens %d, want %d", tt.model, got, tt.def)
		}
		r.MaxTokens = 100000
		b, _ = EncodeRequest(r)
		want := int64(100000)
		if tt.family > 0 {
			want = int64(tt.family)
		}
		if got := gjson.GetBytes(b, "max_tokens").Int(); got != want {
			t.Errorf("%s: capped max_tokens %d, want %d", tt.model, got, want)
		}
	}
}

func TestEncodeThinking(t *testing.T) {
	user := translate.Message{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "think"}}}
	tests := []struct {
		name       string
		r          translate.Request
		budget     int64 // 0 = thinking off
		maxTokens  int64
		temp, topK bool
		topP       float64
	}{
		{"effort high default max", translate.Request{Model: "claude-sonnet-4-5", Messages: []translate.Message{user}, Reasoning: &translate.Reasoning{Effort: "high"},
			Temperature: ptrF(0.2), TopK: ptrI(3), TopP: ptrF(0.5)}, 24576, 8192 + 24576, false, false, 0.95},
		{"small budget raised to 1024", translate.Request{Model: "claude-sonnet-4-5", Messages: []translate.Message{user}, Reasoning: &translate.Reasoning{Budget: 100}, MaxTokens: 4000},
			1024, 4000, false, false, 0},
		{"client max below budget", translate.Request{Model: "claude-sonnet-4-5", Messages: []translate.Message{user}, Reasoning: &translate.Reasoning{Effort: "low"}, MaxTokens: 1000, TopP: ptrF(0.99)},
			4096, 5096, false, false, 0.99},
		{"opus 4 cap", translate.Request{Model: "claude-opus-4-1", Messages: []translate.Message{user}, Reasoning: &translate.Reasoning{Effort: "high"}},
			24576, 32000, false, false, 0},
		{"budget above family max", translate.Request{Model: "claude-opus-4-1", Messages: []translate.Message{user}, Reasoning: &translate.Reasoning{Budget: 50000}},
			31999, 32000, false, false, 0},
		{"no thinking on claude-3-5", translate.Request{Model: "claude-3-5-sonnet-latest", Messages: []translate.Message{user}, Reasoning: &translate.Reasoning{Effort: "high"}, Temperature: ptrF(0.3)},
			0, 8192, true, false, 0},
		{"off", translate.Request{Model: "claude-sonnet-4-5", Messages: []translate.Message{user}, Reasoning: &translate.Reasoning{Off: true}, Temperature: ptrF(0.3)},
			0, 8192, true, false, 0},
		{"forced tool", translate.Request{Model: "claude-sonnet-4-5", Messages: []translate.Message{user}, Reasoning: &translate.Reasoning{Effort: "low"},
			Tools: []translate.Tool{{Name: "f"}}, ToolChoice: &translate.ToolChoice{Mode: "required"}}, 0, 8192, false, false, 0},
		{"tool turn without thinking", translate.Request{Model: "claude-sonnet-4-5", Reasoning: &translate.Reasoning{Effort: "low"}, Messages: []translate.Message{
			user,
			{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartThinking, Text: "no signature"}, {Type: translate.PartToolCall, ToolCallID: "c1", ToolName: "f", Arguments: "{}"}}},
			{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "c1"}}},
		}}, 0, 8192, false, false, 0},
		{"tool turn with signed thinking", translate.Request{Model: "claude-sonnet-4-5", Reasoning: &translate.Reasoning{Effort: "low"}, Messages: []translate.Message{
			user,
			{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartThinking, Text: "plan", Signature: "sig"}, {Type: translate.PartToolCall, ToolCallID: "c1", ToolName: "f", Arguments: "{}"}}},
			{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "c1"}}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartToolCall, ToolCallID: "c2", ToolName: "f", Arguments: "{}"}}},
			{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "c2"}}},
		}}, 4096, 8192 + 4096, false, false, 0},
		{"old tool turn without thinking", translate.Request{Model: "claude-sonnet-4-5", Reasoning: &translate.Reasoning{Effort: "low"}, Messages: []translate.Message{
			user,
			{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartToolCall, ToolCallID: "c1", ToolName: "f", Arguments: "{}"}}},
			{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "c1"}}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartText, Text: "done"}}},
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "next question"}}},
		}}, 4096, 8192 + 4096, false, false, 0},
		{"prefill without thinking", translate.Request{Model: "claude-sonnet-4-5", Reasoning: &translate.Reasoning{Effort: "low"}, Messages: []translate.Message{
			user, {Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartText, Text: "{"}}},
		}}, 0, 8192, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := EncodeRequest(&tt.r)
			if err != nil {
				t.Fatal(err)
			}
			checkRequest(t, b, false)
			root := gjson.ParseBytes(b)
			if got := root.Get("thinking.budget_tokens").Int(); got != tt.budget {
				t.Errorf("budget %d, want %d (%s)", got, tt.budget, b)
			}
			if got := root.Get("max_tokens").Int(); got != tt.maxTokens {
				t.Errorf("max_tokens %d, want %d", got, tt.maxTokens)
			}
			if root.Get("temperature").Exists() != tt.temp || root.Get("top_k").Exists() != tt.topK {
				t.Errorf("temperature/top_k presence: %s", b)
			}
			if tt.topP != 0 && root.Get("top_p").Num != tt.topP {
				t.Errorf("top_p %v, want %v", root.Get("top_p").Num, tt.topP)
			}
		})
	}
}

func TestEncodeThinkingHistory(t *testing.T) {
	r := &translate.Request{Model: "claude-sonnet-4-5", Messages: []translate.Message{
		{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "q"}}},
		{Role: translate.RoleAssistant, Parts: []translate.Part{
			{Type: translate.PartThinking, Text: "signed", Signature: "EqQB"},
			{Type: translate.PartThinking, Redacted: true, Data: "EmwK"},
			{Type: translate.PartThinking, Text: "gemini-ish thought"},
			{Type: translate.PartText, Text: "answer"},
		}},
		{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "more"}}},
	}}
	b, _ := EncodeRequest(r)
	checkRequest(t, b, false)
	want := `[{"type":"thinking","thinking":"signed","signature":"EqQB"},{"type":"redacted_thinking","data":"EmwK"},{"type":"text","text":"answer"}]`
	if got := gjson.GetBytes(b, "messages.1.content").Raw; got != want {
		t.Errorf("got %s", got)
	}
}

func TestEncodeResponseFormat(t *testing.T) {
	r := &translate.Request{Model: "m", System: "Sys.", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "x"}}}},
		ResponseFormat: &translate.ResponseFormat{Type: "json_schema", Name: "out", Schema: json.RawMessage(`{"type": "object",
		 "properties": {"a": {"type": "integer"}}}`)}}
	b, _ := EncodeRequest(r)
	sys := gjson.GetBytes(b, "system").Str
	if !strings.HasPrefix(sys, "Sys.\n\nAnswer with only a JSON object that matches this JSON Schema") ||
		!strings.HasSuffix(sys, `{"type":"object","properties":{"a":{"type":"integer"}}}`) {
		t.Errorf("system %q", sys)
	}
	r.System, r.ResponseFormat = "", &translate.ResponseFormat{Type: "json_object"}
	b, _ = EncodeRequest(r)
	if sys := gjson.GetBytes(b, "system").Str; !strings.HasPrefix(sys, "Answer with only a JSON object") {
		t.Errorf("system %q", sys)
	}
	r.ResponseFormat = &translate.ResponseFormat{Type: "text"}
	b, _ = EncodeRequest(r)
	if gjson.GetBytes(b, "system").Exists() {
		t.Errorf("text format changed system: %s", b)
	}
}

func TestEncodeEdgeHistories(t *testing.T) {
	tests := []translate.Request{
		{Model: "m"}, // no messages at all
		{Model: "m", Messages: []translate.Message{{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartText, Text: "   "}}}}},
		{Model: "m", Messages: []translate.Message{{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "x"}}}}},
		{Model: "m", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "q"}}}, {Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartToolCall, ToolCallID: "c", ToolName: "f"}}}, {Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "never mind"}}}}},
		{Model: "m", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "\xff bad utf8 \u2028"}}}}},
	}
	for i := range tests {
		b, err := EncodeRequest(&tests[i])
		if err != nil {
			t.Fatal(err)
		}
		checkRequest(t, b, false)
		if !json.Valid(b) {
			t.Errorf("invalid JSON %s", b)
		}
	}
}

// Random canonical histories (as other APIs' decoders could produce them)
// always encode to a body the API accepts.
func TestEncodeRandomHistories(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := []string{"a", "b", "call.1", "", "toolu_x", "c d"}
	texts := []string{"hi", "", "  ", "text\n", "ok"}
	for n := 0; n < 3000; n++ {
		r := &translate.Request{Model: []string{"claude-sonnet-4-5", "claude-3-5-haiku", "claude-opus-4-1", "x"}[rng.IntN(4)]}
		if rng.IntN(2) == 0 {
			r.Reasoning = &translate.Reasoning{Effort: "low"}
			r.Temperature, r.TopP = ptrF(0.5), ptrF(0.1)
		}
		if rng.IntN(3) == 0 {
			r.Tools = []translate.Tool{{Name: "f"}}
			r.ToolChoice = &translate.ToolChoice{Mode: []string{"auto", "none", "required", "tool"}[rng.IntN(4)], Name: "f"}
		}
		if rng.IntN(4) == 0 {
			r.MaxTokens = rng.IntN(70000)
		}
		for m := rng.IntN(7); m > 0; m-- {
			var msg translate.Message
			switch rng.IntN(3) {
			case 0:
				msg.Role = translate.RoleUser
				for k := rng.IntN(3); k > 0; k-- {
					if rng.IntN(3) == 0 {
						msg.Parts = append(msg.Parts, translate.Part{Type: translate.PartImage, URL: "https://x/y.png"})
					} else {
						msg.Parts = append(msg.Parts, translate.Part{Type: translate.PartText, Text: texts[rng.IntN(len(texts))]})
					}
				}
			case 1:
				msg.Role = translate.RoleAssistant
				for k := rng.IntN(4); k > 0; k-- {
					switch rng.IntN(4) {
					case 0:
						msg.Parts = append(msg.Parts, translate.Part{Type: translate.PartText, Text: texts[rng.IntN(len(texts))]})
					case 1:
						msg.Parts = append(msg.Parts, translate.Part{Type: translate.PartThinking, Text: "t", Signature: []string{"", "sig"}[rng.IntN(2)]})
					default:
						msg.Parts = append(msg.Parts, translate.Part{Type: translate.PartToolCall, ToolCallID: ids[rng.IntN(len(ids))], ToolName: "f", Arguments: `{"x":1}`})
					}
				}
			case 2:
				msg.Role = translate.RoleTool
				for k := rng.IntN(3); k > 0; k-- {
					msg.Parts = append(msg.Parts, translate.Part{Type: translate.PartToolResult, ToolCallID: ids[rng.IntN(len(ids))],
						Content: []translate.Part{{Type: translate.PartText, Text: texts[rng.IntN(len(texts))]}}})
				}
			}
			r.Messages = append(r.Messages, msg)
		}
		b, err := EncodeRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		checkRequest(t, b, false)
		if t.Failed() {
			t.Fatalf("request %s", jsonOf(t, r))
		}
		if _, err := DecodeRequest(b); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	}
}

func TestRequestRoundTrip(t *testing.T) {
	r1, err := DecodeRequest([]byte(fullRequest))
	if err != nil {
		t.Fatal(err)
	}
	r1.Reasoning = &translate.Reasoning{Budget: 2000}
	r1.ToolChoice = &translate.ToolChoice{Mode: "auto"} // forced tools turn thinking off; keep it on here
	b, err := EncodeRequest(r1)
	if err != nil {
		t.Fatal(err)
	}
	checkRequest(t, b, false)
	r2, err := DecodeRequest(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	// Canonical forms differ only where encoding must: arguments and
	// schemas are compacted, the sampling parameters follow thinking, and
	// max_tokens grows by the budget when it does not exceed it.
	for _, m := range r1.Messages {
		for i := range m.Parts {
			if m.Parts[i].Type == translate.PartToolCall {
				m.Parts[i].Arguments = gjson.Get(m.Parts[i].Arguments, "@ugly").Raw
			}
		}
	}
	for i := range r1.Tools {
		r1.Tools[i].Parameters = json.RawMessage(gjson.GetBytes(r1.Tools[i].Parameters, "@ugly").Raw)
	}
	r1.Temperature, r1.TopK, r1.TopP = nil, nil, ptrF(0.95)
	// The two leading user messages are merged into one.
	r1.Messages[0].Parts = append(r1.Messages[0].Parts, r1.Messages[1].Parts...)
	r1.Messages = append(r1.Messages[:1], r1.Messages[2:]...)
	if g, w := jsonOf(t, r2), jsonOf(t, r1); g != w {
		t.Errorf("round trip\n got %s\nwant %s", g, w)
	}
}

func TestCountTokens(t *testing.T) {
	body := `{"model":"claude-sonnet-4-5","system":"s","messages":[{"role":"user","content":"hello"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"thinking":{"type":"enabled","budget_tokens":2048}}`
	r, err := DecodeCountTokens([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxTokens != 0 || r.Reasoning.Budget != 2048 || len(r.Tools) != 1 {
		t.Errorf("%+v", r)
	}
	r.Temperature, r.Stream, r.User, r.Stop = ptrF(0.5), true, "u", []string{"x"}
	b, err := EncodeCountTokens(r)
	if err != nil {
		t.Fatal(err)
	}
	checkRequest(t, b, true)
	want := `{"model":"claude-sonnet-4-5","system":"s","messages":[{"role":"user","content":[{"type":"text","text":"hello"}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"thinking":{"type":"enabled","budget_tokens":2048}}`
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
	if _, err := DecodeCountTokens([]byte(`{"model":"m"}`)); err == nil {
		t.Error("count_tokens without messages accepted")
	}
}
