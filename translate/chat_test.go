package translate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/tidwall/gjson"
)

func chatFixNow(t *testing.T) {
	t.Helper()
	old := Now
	Now = func() time.Time { return time.Unix(1760000000, 0) }
	t.Cleanup(func() { Now = old })
}

func chatPtr[T any](v T) *T { return &v }

// chatJSONEqual compares two JSON texts structurally.
func chatJSONEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON mismatch\n got: %s\nwant: %s", got, want)
	}
}

func chatCanon(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const chatFullRequest = `{
  "model": "gpt-4o",
  "messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
    {"role": "user", "content": "What is the weather in Paris?", "name": "bob"},
    {"role": "assistant", "content": null, "reasoning_content": "Need the tool.",
     "tool_calls": [
       {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
       {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}
     ]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"},
    {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "14:00"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "Il fait beau."}]},
    {"role": "user", "content": [
      {"type": "text", "text": "And this?"},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
      {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    ]}
  ],
  "tools": [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, "strict": true}},
    {"type": "function", "function": {"name": "get_time"}}
  ],
  "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
  "parallel_tool_calls": false,
  "max_tokens": 50,
  "max_completion_tokens": 300,
  "temperature": 0.2,
  "top_p": 0.9,
  "stop": ["END", "STOP"],
  "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "schema": {"type": "object"}, "strict": true}},
  "reasoning_effort": "high",
  "stream": true,
  "stream_options": {"include_usage": true},
  "user": "user-42",
  "seed": 7,
  "logprobs": null
}`

func TestDecodeChatRequest(t *testing.T) {
	r, err := DecodeChatRequest([]byte(chatFullRequest))
	if err != nil {
		t.Fatal(err)
	}
	f := false
	want := &Request{
		Model:  "gpt-4o",
		System: "You are terse.\n\nAnswer in French.",
		Messages: []Message{
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "What is the weather in Paris?"}}},
			{Role: RoleAssistant, Parts: []Part{
				{Type: PartThinking, Text: "Need the tool."},
				{Type: PartToolCall, ToolCallID: "call_1", ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
				{Type: PartToolCall, ToolCallID: "call_2", ToolName: "get_time", Arguments: `{}`},
			}},
			{Role: RoleTool, Parts: []Part{
				{Type: PartToolResult, ToolCallID: "call_1", ToolName: "get_weather", Content: []Part{{Type: PartText, Text: "sunny, 21C"}}},
				{Type: PartToolResult, ToolCallID: "call_2", ToolName: "get_time", Content: []Part{{Type: PartText, Text: "14:00"}}},
			}},
			{Role: RoleAssistant, Parts: []Part{{Type: PartText, Text: "Il fait beau."}}},
			{Role: RoleUser, Parts: []Part{
				{Type: PartText, Text: "And this?"},
				{Type: PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="},
				{Type: PartImage, URL: "https://example.com/cat.jpg"},
			}},
		},
		Tools: []Tool{
			{Name: "get_weather", Description: "Weather by city", Parameters: json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}`)},
			{Name: "get_time"},
		},
		ToolChoice:        &ToolChoice{Mode: "tool", Name: "get_weather"},
		ParallelToolCalls: &f,
		MaxTokens:         300,
		Temperature:       chatPtr(0.2),
		TopP:              chatPtr(0.9),
		Stop:              []string{"END", "STOP"},
		ResponseFormat:    &ResponseFormat{Type: "json_schema", Name: "weather", Schema: json.RawMessage(`{"type": "object"}`), Strict: true},
		Reasoning:         &Reasoning{Effort: "high"},
		Stream:            true,
		IncludeUsage:      true,
		User:              "user-42",
	}
	if got, w := chatCanon(t, r), chatCanon(t, want); got != w {
		t.Errorf("decoded\n got: %s\nwant: %s", got, w)
	}
}

func TestDecodeChatRequestFields(t *testing.T) {
	cases := []struct {
		name, body string
		check      func(*Request) bool
	}{
		{"max_tokens only", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":77}`,
			func(r *Request) bool { return r.MaxTokens == 77 }},
		{"stop string", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":"\n\n"}`,
			func(r *Request) bool { return reflect.DeepEqual(r.Stop, []string{"\n\n"}) }},
		{"effort none", `{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"none"}`,
			func(r *Request) bool { return r.Reasoning != nil && r.Reasoning.Off }},
		{"effort minimal", `{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"minimal"}`,
			func(r *Request) bool {
				return r.Reasoning.Effort == "minimal" && r.Reasoning.BudgetTokens() == BudgetLow
			}},
		{"tool_choice strings", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}`,
			func(r *Request) bool { return r.ToolChoice.Mode == "required" }},
		{"json_object", `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}`,
			func(r *Request) bool { return r.ResponseFormat.Type == "json_object" }},
		{"nulls everywhere", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":null,"tool_choice":null,"stop":null,"temperature":null,"stream_options":null,"response_format":null}`,
			func(r *Request) bool { return r.Tools == nil && r.ToolChoice == nil && r.Temperature == nil }},
		{"assistant refusal and empty", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"refusal":"I can't."},{"role":"assistant","content":""}]}`,
			func(r *Request) bool {
				return r.Messages[1].Parts[0].Text == "I can't." && len(r.Messages[2].Parts) == 0
			}},
		{"assistant reasoning (OpenRouter)", `{"model":"m","messages":[{"role":"assistant","reasoning":"hmm","content":"ok"}]}`,
			func(r *Request) bool {
				return r.Messages[0].Parts[0].Type == PartThinking && r.Messages[0].Parts[1].Text == "ok"
			}},
		{"tool result with image", `{"model":"m","messages":[{"role":"tool","tool_call_id":"c","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,AAAA"}}]}]}`,
			func(r *Request) bool {
				c := r.Messages[0].Parts[0].Content
				return len(c) == 2 && c[1].MediaType == "image/jpeg" && c[1].Data == "AAAA"
			}},
		{"arguments as object", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{"a":1}}}]}]}`,
			func(r *Request) bool { return r.Messages[0].Parts[0].Arguments == `{"a":1}` }},
		{"system in the middle", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"system","content":"late rule"}]}`,
			func(r *Request) bool { return r.System == "late rule" && len(r.Messages) == 1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := DecodeChatRequest([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(r) {
				t.Errorf("unexpected: %s", chatCanon(t, r))
			}
		})
	}
}

func TestDecodeChatRequestErrors(t *testing.T) {
	cases := []struct{ name, body, param, contains string }{
		{"not json", `{"model":`, "", "valid JSON"},
		{"not object", `[1]`, "", "object"},
		{"no model", `{"messages":[{"role":"user","content":"x"}]}`, "model", ""},
		{"model number", `{"model":5,"messages":[{"role":"user","content":"x"}]}`, "model", "expected a string"},
		{"no messages", `{"model":"m"}`, "messages", ""},
		{"empty messages", `{"model":"m","messages":[]}`, "messages", "empty"},
		{"messages object", `{"model":"m","messages":{}}`, "messages", "an array"},
		{"role number", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"user","content":"y"},{"role":3}]}`, "messages[2].role", ""},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, "messages[0].role", "robot"},
		{"function role", `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role", "function"},
		{"function_call", `{"model":"m","messages":[{"role":"assistant","function_call":{"name":"f","arguments":"{}"}}]}`, "messages[0].function_call", ""},
		{"input_audio", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}`, "messages[0].content[0].type", "input_audio"},
		{"file", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"file","file":{"file_id":"f"}}]}]}`, "messages[0].content[1].type", "file"},
		{"bad image url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}]}`, "messages[0].content[0].image_url.url", ""},
		{"non-base64 data url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`, "messages[0].content[0].image_url.url", ""},
		{"user content missing", `{"model":"m","messages":[{"role":"user"}]}`, "messages[0].content", ""},
		{"user content number", `{"model":"m","messages":[{"role":"user","content":1}]}`, "messages[0].content", ""},
		{"tool without id", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id", ""},
		{"tool call no name", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}]}`, "messages[0].tool_calls[0].function.name", ""},
		{"tools not array", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":{}}`, "tools", ""},
		{"custom tool", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type", ""},
		{"tool params array", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]}`, "tools[0].function.parameters", ""},
		{"tool_choice bad", `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"}`, "tool_choice", ""},
		{"max_tokens string", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":"10"}`, "max_tokens", "integer"},
		{"max_tokens fraction", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":1.5}`, "max_completion_tokens", ""},
		{"temperature string", `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, "temperature", ""},
		{"stop number", `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]}`, "stop[0]", ""},
		{"stream string", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}`, "stream", ""},
		{"include_usage string", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":"y"}}`, "stream_options.include_usage", ""},
		{"effort bad", `{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"max"}`, "reasoning_effort", ""},
		{"response_format bad", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}`, "response_format.type", ""},
		{"json_schema missing", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}}`, "response_format.json_schema", ""},
		{"n=2", `{"model":"m","messages":[{"role":"user","content":"x"}],"n":2}`, "n", ""},
		{"system part image", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}]}`, "messages[0].content[0].type", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeChatRequest([]byte(c.body))
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *RequestError", err)
			}
			if re.Param != c.param {
				t.Errorf("param = %q, want %q (%s)", re.Param, c.param, re.Message)
			}
			if c.contains != "" && !strings.Contains(re.Message, c.contains) {
				t.Errorf("message %q lacks %q", re.Message, c.contains)
			}
		})
	}
}

func TestEncodeChatRequest(t *testing.T) {
	cases := []struct {
		name string
		req  Request
		want string
	}{
		{"minimal", Request{Model: "gpt-4o-mini", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hi"}}}}, MaxTokens: 100},
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":100}`},
		{"reasoning model uses max_completion_tokens", Request{Model: "o3-mini", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hi"}}}}, MaxTokens: 100},
			`{"model":"o3-mini","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":100}`},
		{"gpt-5 with effort, sampling dropped", Request{Model: "gpt-5", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hi"}}}}, MaxTokens: 9, Reasoning: &Reasoning{Budget: 20000},
			Temperature: chatPtr(0.7), TopP: chatPtr(0.9), Stop: []string{"x"}},
			`{"model":"gpt-5","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":9,"reasoning_effort":"high"}`},
		{"reasoning set on any model", Request{Model: "deepseek-reasoner", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hi"}}}}, MaxTokens: 9, Reasoning: &Reasoning{Effort: "low"}},
			`{"model":"deepseek-reasoner","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":9,"reasoning_effort":"low"}`},
		{"gpt-5-chat keeps sampling", Request{Model: "gpt-5-chat-latest", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hi"}}}}, Temperature: chatPtr(0.7), Stop: []string{"x"}},
			`{"model":"gpt-5-chat-latest","messages":[{"role":"user","content":"hi"}],"temperature":0.7,"stop":["x"]}`},
		{"over-long tool ids shortened consistently", Request{Model: "m", Messages: []Message{
			{Role: RoleAssistant, Parts: []Part{{Type: PartToolCall, ToolCallID: "fc_0f0e50a1476a6c35006912c58dc9f8819192c25864eb16f07f", ToolName: "f", Arguments: "{}"}}},
			{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "fc_0f0e50a1476a6c35006912c58dc9f8819192c25864eb16f07f", Content: []Part{{Type: PartText, Text: "ok"}}}}},
		}}, `{"model":"m","messages":[
			{"role":"assistant","content":null,"tool_calls":[{"id":"` + MakeToolCallID("call_", "fc_0f0e50a1476a6c35006912c58dc9f8819192c25864eb16f07f", 0) + `","type":"function","function":{"name":"f","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"` + MakeToolCallID("call_", "fc_0f0e50a1476a6c35006912c58dc9f8819192c25864eb16f07f", 0) + `","content":"ok"}]}`},
		{"reasoning off omitted", Request{Model: "qwen", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hi"}}}}, MaxTokens: 9, Reasoning: &Reasoning{Off: true}},
			`{"model":"qwen","messages":[{"role":"user","content":"hi"}],"max_tokens":9}`},
		{"stream always asks usage", Request{Model: "m", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hi"}}}}, Stream: true},
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`},
		{"tool_choice dropped without tools", Request{Model: "m", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hi"}}}}, ToolChoice: &ToolChoice{Mode: "auto"}, ParallelToolCalls: chatPtr(true)},
			`{"model":"m","messages":[{"role":"user","content":"hi"}]}`},
		{"everything", Request{
			Model:  "gpt-4.1",
			System: "Be brief.",
			Messages: []Message{
				{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "look"}, {Type: PartImage, MediaType: "image/jpeg", Data: "QUJD"}, {Type: PartImage, URL: "https://x/y.png"}}},
				{Role: RoleAssistant, Parts: []Part{
					{Type: PartThinking, Text: "secret", Signature: "sig"},
					{Type: PartText, Text: "Checking"},
					{Type: PartText, Text: " now."},
					{Type: PartToolCall, ToolCallID: "toolu_1", ToolName: "shot", Arguments: `{"n":1}`},
					{Type: PartToolCall, ToolCallID: "toolu_2", ToolName: "noop"},
				}},
				{Role: RoleTool, Parts: []Part{
					{Type: PartToolResult, ToolCallID: "toolu_1", Content: []Part{{Type: PartText, Text: "a"}, {Type: PartText, Text: "b"}, {Type: PartImage, MediaType: "image/png", Data: "UE5H"}}},
					{Type: PartToolResult, ToolCallID: "toolu_2", IsError: true, Content: []Part{{Type: PartText, Text: "boom"}}},
				}},
				{Role: RoleAssistant, Parts: []Part{{Type: PartToolCall, ToolCallID: "toolu_3", ToolName: "noop", Arguments: "{}"}}},
				{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "toolu_3"}}},
				{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "thanks"}}},
			},
			Tools: []Tool{
				{Name: "shot", Description: "Take a shot", Parameters: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}}}`)},
				{Name: "noop"},
			},
			ToolChoice:        &ToolChoice{Mode: "tool", Name: "shot"},
			ParallelToolCalls: chatPtr(false),
			MaxTokens:         256,
			Temperature:       chatPtr(0.5),
			TopP:              chatPtr(1.0),
			TopK:              chatPtr(40),
			Stop:              []string{"###"},
			ResponseFormat:    &ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{"type":"object"}`), Strict: true},
			User:              "u1",
		}, `{"model":"gpt-4.1","messages":[
			{"role":"system","content":"Be brief."},
			{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,QUJD"}},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},
			{"role":"assistant","content":"Checking now.","tool_calls":[
				{"id":"toolu_1","type":"function","function":{"name":"shot","arguments":"{\"n\":1}"}},
				{"id":"toolu_2","type":"function","function":{"name":"noop","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"toolu_1","content":"a\nb"},
			{"role":"tool","tool_call_id":"toolu_2","content":"boom"},
			{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,UE5H"}}]},
			{"role":"assistant","content":null,"tool_calls":[{"id":"toolu_3","type":"function","function":{"name":"noop","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"toolu_3","content":""},
			{"role":"user","content":"thanks"}],
			"tools":[{"type":"function","function":{"name":"shot","description":"Take a shot","parameters":{"type":"object","properties":{"n":{"type":"integer"}}}}},
			         {"type":"function","function":{"name":"noop","parameters":{"type":"object","properties":{}}}}],
			"tool_choice":{"type":"function","function":{"name":"shot"}},
			"parallel_tool_calls":false,
			"max_tokens":256,"temperature":0.5,"top_p":1,"stop":["###"],
			"response_format":{"type":"json_schema","json_schema":{"name":"response","schema":{"type":"object"},"strict":true}},
			"user":"u1"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := EncodeChatRequest(&c.req)
			if err != nil {
				t.Fatal(err)
			}
			chatJSONEqual(t, got, c.want)
		})
	}
	if _, err := EncodeChatRequest(&Request{Messages: []Message{}}); err == nil {
		t.Error("no model: want an error")
	}
	if _, err := EncodeChatRequest(&Request{Model: "m", Tools: []Tool{{Name: "f", Parameters: json.RawMessage(`{bad`)}}}); err == nil {
		t.Error("invalid parameters: want an error")
	}
}

func TestChatRequestRoundTrip(t *testing.T) {
	bodies := []string{
		chatFullRequest,
		`{"model":"m","messages":[{"role":"user","content":"a\u0000b \"q\" \\ \u2028 ✓"}],"stop":"x","temperature":1e-7}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]},{"role":"assistant","content":"","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":[1,2]}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"},{"role":"user","content":"next"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"none"}`,
	}
	for i, body := range bodies {
		r1, err := DecodeChatRequest([]byte(body))
		if err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		enc1, err := EncodeChatRequest(r1)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := DecodeChatRequest(enc1)
		if err != nil {
			t.Fatalf("body %d re-decode: %v\n%s", i, err, enc1)
		}
		// Thinking is dropped on the way to a provider; the rest survives.
		for mi := range r1.Messages {
			m := &r1.Messages[mi]
			kept := m.Parts[:0:0]
			for _, p := range m.Parts {
				if p.Type != PartThinking {
					kept = append(kept, p)
				}
			}
			m.Parts = kept
		}
		r1.IncludeUsage = r1.Stream // the encoder always asks usage when streaming
		for ti := range r1.Tools {  // a tool without parameters gets an empty object schema
			if r1.Tools[ti].Parameters == nil {
				r1.Tools[ti].Parameters = json.RawMessage(`{"type":"object","properties":{}}`)
			}
		}
		// Raw JSON is compacted through the decoder's copy; compare semantically.
		if got, want := chatCanon(t, r2), chatCanon(t, r1); got != want {
			t.Errorf("body %d round trip\n got: %s\nwant: %s", i, got, want)
		}
		enc2, err := EncodeChatRequest(r2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc1, enc2) {
			t.Errorf("body %d: encoding not stable\n%s\n%s", i, enc1, enc2)
		}
	}
}

// TestDecodeChatRequestFromSDK decodes what the official client sends.
func TestDecodeChatRequestFromSDK(t *testing.T) {
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[]}`))
	}))
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	asst := openai.ChatCompletionAssistantMessageParam{
		ToolCalls: []openai.ChatCompletionMessageToolCallUnionParam{{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
			ID: "call_9", Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "f", Arguments: `{"x":1}`},
		}}},
	}
	_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("sys"),
			openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("look"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/webp;base64,UklG"}),
			}),
			{OfAssistant: &asst},
			openai.ToolMessage("result", "call_9"),
		},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name: "f", Parameters: openai.FunctionParameters{"type": "object"},
		})},
		MaxCompletionTokens: openai.Int(64),
		ReasoningEffort:     "low",
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeChatRequest(body)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	if r.System != "sys" || len(r.Messages) != 3 || r.MaxTokens != 64 || r.Reasoning.Effort != "low" {
		t.Fatalf("decoded %s", chatCanon(t, r))
	}
	if img := r.Messages[0].Parts[1]; img.MediaType != "image/webp" || img.Data != "UklG" {
		t.Errorf("image %+v", img)
	}
	if tc := r.Messages[1].Parts[0]; tc.ToolCallID != "call_9" || tc.Arguments != `{"x":1}` {
		t.Errorf("tool call %+v", tc)
	}
	if tr := r.Messages[2].Parts[0]; tr.ToolCallID != "call_9" || tr.ToolName != "f" || tr.Content[0].Text != "result" {
		t.Errorf("tool result %+v", tr)
	}
}

func TestDecodeChatResponse(t *testing.T) {
	cases := []struct {
		name, body string
		want       Response
	}{
		{"openai tool calls", `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06",
			"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
				{"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
				{"id":"call_b","type":"function","function":{"name":"get_time","arguments":""}}],"refusal":null,"annotations":[]},
				"logprobs":null,"finish_reason":"tool_calls"}],
			"usage":{"prompt_tokens":80,"completion_tokens":20,"total_tokens":100,"prompt_tokens_details":{"cached_tokens":64,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
			Response{ID: "chatcmpl-1", Model: "gpt-4o-2024-08-06", Parts: []Part{
				{Type: PartToolCall, ToolCallID: "call_a", ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
				{Type: PartToolCall, ToolCallID: "call_b", ToolName: "get_time", Arguments: `{}`},
			}, StopReason: StopToolUse, Usage: Usage{Input: 80, Output: 20, Cached: 64}}},
		{"deepseek reasoning", `{"id":"ds-1","object":"chat.completion","created":1,"model":"deepseek-reasoner",
			"choices":[{"index":0,"message":{"role":"assistant","content":"4","reasoning_content":"2+2=4"},"logprobs":null,"finish_reason":"stop"}],
			"usage":{"prompt_tokens":10,"completion_tokens":30,"total_tokens":40,"completion_tokens_details":{"reasoning_tokens":25},"prompt_cache_hit_tokens":8,"prompt_cache_miss_tokens":2}}`,
			Response{ID: "ds-1", Model: "deepseek-reasoner", Parts: []Part{{Type: PartThinking, Text: "2+2=4"}, {Type: PartText, Text: "4"}},
				StopReason: StopEnd, Usage: Usage{Input: 10, Output: 30, Cached: 8, Reasoning: 25}}},
		{"openrouter reasoning, length", `{"id":"gen-1","model":"x/y","choices":[{"message":{"role":"assistant","content":"trunc","reasoning":"think"},"finish_reason":"length"}]}`,
			Response{ID: "gen-1", Model: "x/y", Parts: []Part{{Type: PartThinking, Text: "think"}, {Type: PartText, Text: "trunc"}}, StopReason: StopMaxTokens}},
		{"content filter", `{"id":"c","model":"m","choices":[{"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}]}`,
			Response{ID: "c", Model: "m", Parts: []Part{}, StopReason: StopContentFilter}},
		{"tool calls with finish stop (Ollama)", `{"id":"c","model":"m","choices":[{"message":{"role":"assistant","content":"","tool_calls":[{"id":"call_x","function":{"name":"f","arguments":{"a":1}}}]},"finish_reason":"stop"}]}`,
			Response{ID: "c", Model: "m", Parts: []Part{{Type: PartToolCall, ToolCallID: "call_x", ToolName: "f", Arguments: `{"a":1}`}}, StopReason: StopToolUse}},
		{"vllm stop sequence", `{"id":"c","model":"m","choices":[{"message":{"role":"assistant","content":"a"},"finish_reason":"stop","stop_reason":"###"}]}`,
			Response{ID: "c", Model: "m", Parts: []Part{{Type: PartText, Text: "a"}}, StopReason: StopSequence, StopSequence: "###"}},
		{"legacy function_call", `{"id":"c","model":"m","choices":[{"message":{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}},"finish_reason":"function_call"}]}`,
			Response{ID: "c", Model: "m", Parts: []Part{{Type: PartToolCall, ToolCallID: MakeToolCallID("call_", "c", 0), ToolName: "f", Arguments: `{}`}}, StopReason: StopToolUse}},
		{"refusal", `{"id":"c","model":"m","choices":[{"message":{"role":"assistant","content":null,"refusal":"I can't help."},"finish_reason":"stop"}]}`,
			Response{ID: "c", Model: "m", Parts: []Part{{Type: PartText, Text: "I can't help."}}, StopReason: StopEnd}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := DecodeChatResponse([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := chatCanon(t, r), chatCanon(t, &c.want); got != want {
				t.Errorf("\n got: %s\nwant: %s", got, want)
			}
		})
	}
	for _, bad := range []string{`nope`, `[1]`, `{"error":{"message":"overloaded","type":"server_error"}}`} {
		if _, err := DecodeChatResponse([]byte(bad)); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestEncodeChatResponse(t *testing.T) {
	chatFixNow(t)
	r := &Response{ID: "msg_01ABC", Model: "claude-sonnet-4-5", Parts: []Part{
		{Type: PartThinking, Text: "Let me ", Signature: "s1"},
		{Type: PartThinking, Text: "think."},
		{Type: PartThinking, Redacted: true, Data: "opaque"},
		{Type: PartText, Text: "Calling."},
		{Type: PartToolCall, ToolCallID: "toolu_1", ToolName: "f", Arguments: `{"a":"b"}`},
	}, StopReason: StopToolUse, Usage: Usage{Input: 100, Output: 50, Cached: 20, Reasoning: 30}}
	chatJSONEqual(t, EncodeChatResponse(r), `{"id":"chatcmpl-msg_01ABC","object":"chat.completion","created":1760000000,"model":"claude-sonnet-4-5",
		"choices":[{"index":0,"message":{"role":"assistant","content":"Calling.","reasoning_content":"Let me think.",
			"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"f","arguments":"{\"a\":\"b\"}"}}],
			"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"tool_calls"}],
		"usage":{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,
			"prompt_tokens_details":{"cached_tokens":20,"audio_tokens":0},
			"completion_tokens_details":{"reasoning_tokens":30,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},
		"system_fingerprint":null}`)

	only := EncodeChatResponse(&Response{ID: "chatcmpl-x", Model: "m", Parts: []Part{{Type: PartToolCall, ToolCallID: "c", ToolName: "f", Arguments: "{}"}}, StopReason: StopEnd})
	if c := gjson.GetBytes(only, "choices.0.message.content"); c.Type != gjson.Null {
		t.Errorf("content = %s, want null with only tool calls", c.Raw)
	}
	if fr := gjson.GetBytes(only, "choices.0.finish_reason").Str; fr != "tool_calls" {
		t.Errorf("finish_reason = %q, want tool_calls for a Gemini-style STOP with calls", fr)
	}
	if gjson.GetBytes(only, "choices.0.message.reasoning_content").Exists() || gjson.GetBytes(only, "id").Str != "chatcmpl-x" {
		t.Errorf("unexpected: %s", only)
	}
	for s, want := range map[StopReason]string{StopEnd: "stop", StopSequence: "stop", StopMaxTokens: "length", StopContentFilter: "content_filter", "": "stop"} {
		out := EncodeChatResponse(&Response{Parts: []Part{{Type: PartText, Text: "x"}}, StopReason: s})
		if got := gjson.GetBytes(out, "choices.0.finish_reason").Str; got != want {
			t.Errorf("%q -> %q, want %q", s, got, want)
		}
		if id := gjson.GetBytes(out, "id").Str; !strings.HasPrefix(id, "chatcmpl-") || len(id) != 38 {
			t.Errorf("generated id %q", id)
		}
	}

	// The official client parses it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(EncodeChatResponse(r))
	}))
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	cc, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
	if err != nil {
		t.Fatal(err)
	}
	m := cc.Choices[0].Message
	if cc.ID != "chatcmpl-msg_01ABC" || cc.Created != 1760000000 || m.Content != "Calling." || cc.Choices[0].FinishReason != "tool_calls" ||
		len(m.ToolCalls) != 1 || m.ToolCalls[0].Function.Arguments != `{"a":"b"}` || m.ToolCalls[0].ID != "toolu_1" ||
		cc.Usage.TotalTokens != 150 || cc.Usage.PromptTokensDetails.CachedTokens != 20 || cc.Usage.CompletionTokensDetails.ReasoningTokens != 30 {
		t.Errorf("SDK parsed %+v", cc)
	}
	if rc := m.JSON.ExtraFields["reasoning_content"].Raw(); rc != `"Let me think."` {
		t.Errorf("reasoning_content extra field = %s", rc)
	}
	// The SDK can send the message back as history, and we decode it.
	hist, _ := json.Marshal(map[string]any{"model": "m", "messages": []any{m.ToParam()}})
	back, err := DecodeChatRequest(hist)
	if err != nil || len(back.Messages[0].Parts) != 2 || back.Messages[0].Parts[1].ToolCallID != "toolu_1" {
		t.Errorf("history: %v %s", err, hist)
	}
}

// chatDecodeStream runs SSE text through a decoder.
func chatDecodeStream(t testing.TB, d StreamDecoder, sse string) ([]StreamEvent, error) {
	rd := NewSSEReader(strings.NewReader(sse))
	var evs []StreamEvent
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs, err = d.Decode(evs, ev)
		if err != nil {
			return evs, err
		}
	}
}

func chatEventsString(evs []StreamEvent) string {
	var sb strings.Builder
	for _, e := range evs {
		switch e.Type {
		case EvStart:
			sb.WriteString("start(" + e.ID + "," + e.Model + ")")
		case EvText:
			sb.WriteString("text(" + e.Text + ")")
		case EvThinking:
			sb.WriteString("think(" + e.Text + ")")
		case EvSignature:
			sb.WriteString("sig(" + e.Text + ")")
		case EvToolStart:
			b, _ := json.Marshal([]any{e.Index, e.ToolCallID, e.ToolName})
			sb.WriteString("tool" + string(b))
		case EvToolArgs:
			b, _ := json.Marshal([]any{e.Index, e.Args})
			sb.WriteString("args" + string(b))
		case EvUsage:
			b, _ := json.Marshal(e.Usage)
			sb.WriteString("usage" + string(b))
		case EvFinish:
			sb.WriteString("finish(" + string(e.StopReason) + e.StopSequence + ")")
		case EvError:
			b, _ := json.Marshal([]any{e.Text, e.Status})
			sb.WriteString("error" + string(b))
		}
		sb.WriteByte(' ')
	}
	return strings.TrimSpace(sb.String())
}

// chatMerge joins consecutive text/thinking/args events so tests read well.
func chatMerge(evs []StreamEvent) []StreamEvent {
	var out []StreamEvent
	for _, e := range evs {
		if n := len(out); n > 0 && out[n-1].Type == e.Type {
			last := &out[n-1]
			switch {
			case e.Type == EvText || e.Type == EvThinking:
				last.Text += e.Text
				continue
			case e.Type == EvToolArgs && last.Index == e.Index:
				last.Args += e.Args
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

func TestChatStreamDecoderRecorded(t *testing.T) {
	cases := map[string]struct {
		want       string
		minPieces  int
		pieceEvent EventType
	}{
		"text.sse":      {`start(chatcmpl-CB4dTq8WnR2xLmZ7vKjP0sYfE3hGa,gpt-4o-mini-2024-07-18) text(Hello! How can I help you today?) usage{"input":19,"output":9} finish(end)`, 9, EvText},
		"tool.sse":      {`start(chatcmpl-CB4dUa1pHc6VeN9rQ4tYwJ8kL2mXo,gpt-4o-2024-08-06) tool[0,"call_q3YxT7mB0cKd9LwVnRz2HsPe","get_weather"] args[0,"{\"location\":\"Paris, France\",\"unit\":\"celsius\"}"] usage{"input":81,"output":19} finish(tool_use)`, 4, EvToolArgs},
		"reasoning.sse": {`start(3f8a1c52-9d7e-4b6a-8e21-c5f04d9b7a13,deepseek-reasoner) think(Okay, the user asks what 2 + 2 is. That's simple addition: 2 plus 2 equals 4.) text(2 + 2 = **4**.) usage{"input":14,"output":40,"reasoning":31} finish(end)`, 8, EvThinking},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/streams/openai/" + name)
			if err != nil {
				t.Fatal(err)
			}
			d := NewChatStreamDecoder()
			evs, err := chatDecodeStream(t, d, string(raw))
			if err != nil {
				t.Fatal(err)
			}
			if !d.Finished() {
				t.Error("not finished")
			}
			if got := chatEventsString(chatMerge(evs)); got != c.want {
				t.Errorf("\n got: %s\nwant: %s", got, c.want)
			}
			n := 0
			for _, e := range evs {
				if e.Type == c.pieceEvent {
					n++
				}
			}
			if n < c.minPieces {
				t.Errorf("%d pieces, want >= %d", n, c.minPieces)
			}
			for _, e := range evs {
				if (e.Type == EvText || e.Type == EvThinking || e.Type == EvToolArgs) && e.Text == "" && e.Args == "" {
					t.Errorf("empty content event %+v", e)
				}
			}
		})
	}
}

func TestChatStreamDecoderEdges(t *testing.T) {
	const head = `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[`
	chunk := func(choice string) string { return "data: " + head + choice + "]}\n\n" }
	cases := []struct {
		name, sse, want string
		finished        bool
	}{
		{"cut before [DONE]", chunk(`{"index":0,"delta":{"content":"hi"},"finish_reason":null}`) + chunk(`{"index":0,"delta":{},"finish_reason":"stop"}`),
			`start(c1,m) text(hi)`, false},
		{"usage in finish chunk, no [DONE]", chunk(`{"index":0,"delta":{"content":"hi"}}`) +
			"data: " + head + `{"index":0,"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}` + "\n\n",
			`start(c1,m) text(hi) usage{"input":3,"output":4} finish(max_tokens)`, true},
		{"usage chunk, no [DONE]", chunk(`{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}`) +
			`data: {"id":"c1","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}` + "\n\n",
			`start(c1,m) text(hi) usage{"input":1,"output":1} finish(end)`, true},
		{"usage then [DONE] then junk ignored", chunk(`{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}`) +
			`data: {"id":"c1","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}` + "\n\ndata: [DONE]\n\ndata: {\"error\":{\"message\":\"late\"}}\n\n",
			`start(c1,m) text(a) usage{"input":1,"output":1} finish(end)`, true},
		{"continuous usage stats (vLLM)", "data: " + head + `{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":5,"completion_tokens":1}}` + "\n\n" +
			"data: " + head + `{"index":0,"delta":{"content":"b"},"finish_reason":"stop","stop_reason":"END"}],"usage":{"prompt_tokens":5,"completion_tokens":2}}` + "\n\n",
			`start(c1,m) text(a) usage{"input":5,"output":1} text(b) usage{"input":5,"output":2} finish(stop_sequenceEND)`, true},
		{"[DONE] without reason", chunk(`{"index":0,"delta":{"content":"a"}}`) + "data: [DONE]\n\n",
			`start(c1,m) text(a) finish(end)`, true},
		{"only [DONE]", ": ping\n\ndata: [DONE]\n\n", `start(,) finish(end)`, true},
		{"error chunk", chunk(`{"index":0,"delta":{"content":"a"}}`) + `data: {"error":{"message":"overloaded","type":"server_error","code":502}}` + "\n\n",
			`start(c1,m) text(a) error["overloaded",502]`, true},
		{"vllm error object", `data: {"object":"error","message":"bad things","type":"BadRequestError","param":null,"code":400}` + "\n\n",
			`error["bad things",400]`, true},
		{"error string", `data: {"error":"quota"}` + "\n\n", `error["quota",0]`, true},
		{"named error event", "event: error\ndata: {\"message\":\"gone\"}\n\n", `error["gone",0]`, true},
		{"openrouter finish error", "data: " + head + `{"index":0,"delta":{"content":""},"finish_reason":"error"}]}` + "\n\n",
			`start(c1,m) error["upstream stream ended with finish_reason \"error\"",0]`, true},
		{"parallel tools", chunk(`{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"A","type":"function","function":{"name":"f","arguments":""}}]}}`) +
			chunk(`{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}`) +
			chunk(`{"index":0,"delta":{"tool_calls":[{"index":1,"id":"B","type":"function","function":{"name":"g","arguments":"{\"x\""}}]}}`) +
			chunk(`{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":":1}"}}]}}`) +
			chunk(`{"index":0,"delta":{},"finish_reason":"tool_calls"}`) + "data: [DONE]\n\n",
			`start(c1,m) tool[0,"A","f"] args[0,"{}"] tool[1,"B","g"] args[1,"{\"x\""] args[1,":1}"] finish(tool_use)`, true},
		{"sparse provider indexes", chunk(`{"index":0,"delta":{"tool_calls":[{"index":3,"id":"A","function":{"name":"f","arguments":"{}"}},{"index":7,"id":"B","function":{"name":"g","arguments":"{}"}}]}}`) + "data: [DONE]\n\n",
			`start(c1,m) tool[0,"A","f"] args[0,"{}"] tool[1,"B","g"] args[1,"{}"] finish(tool_use)`, true},
		{"every call index 0 (Gemini compat)", chunk(`{"index":0,"delta":{"tool_calls":[{"index":0,"id":"A","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}}`) +
			chunk(`{"index":0,"delta":{"tool_calls":[{"index":0,"id":"B","type":"function","function":{"name":"g","arguments":"{\"b\":2}"}}]},"finish_reason":"stop"}`) + "data: [DONE]\n\n",
			`start(c1,m) tool[0,"A","f"] args[0,"{\"a\":1}"] tool[1,"B","g"] args[1,"{\"b\":2}"] finish(tool_use)`, true},
		{"no index, no id", chunk(`{"index":0,"delta":{"tool_calls":[{"function":{"name":"f","arguments":"{\"a\""}}]}}`) +
			chunk(`{"index":0,"delta":{"tool_calls":[{"function":{"arguments":":1}"}}]}}`) + "data: [DONE]\n\n",
			`start(c1,m) tool[0,"` + MakeToolCallID("call_", "c1", 0) + `","f"] args[0,"{\"a\""] args[0,":1}"] finish(tool_use)`, true},
		{"name arrives late", chunk(`{"index":0,"delta":{"tool_calls":[{"index":0,"id":"A","function":{"arguments":"{"}}]}}`) +
			chunk(`{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"}"}}]}}`) + "data: [DONE]\n\n",
			`start(c1,m) tool[0,"A","f"] args[0,"{"] args[0,"}"] finish(tool_use)`, true},
		{"OpenRouter reasoning + refusal + other choices", chunk(`{"index":0,"delta":{"reasoning":"r","reasoning_details":[]}},{"index":1,"delta":{"content":"other"}}`) +
			chunk(`{"index":0,"delta":{"refusal":"no"}}`) + "data: [DONE]\n\n",
			`start(c1,m) think(r) text(no) finish(end)`, true},
		{"groq x_groq usage", chunk(`{"index":0,"delta":{"content":"a"}}`) +
			"data: " + head + `{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"prompt_tokens":9,"completion_tokens":2}}}` + "\n\n" + "data: [DONE]\n\n",
			`start(c1,m) text(a) usage{"input":9,"output":2} finish(end)`, true},
		{"deepseek cache hits", chunk(`{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}`) +
			"data: " + `{"id":"c1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"prompt_cache_hit_tokens":6}}` + "\n\ndata: [DONE]\n\n",
			`start(c1,m) text(a) usage{"input":9,"output":2,"cached":6} finish(end)`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewChatStreamDecoder()
			evs, err := chatDecodeStream(t, d, c.sse)
			if err != nil {
				t.Fatal(err)
			}
			if got := chatEventsString(evs); got != c.want {
				t.Errorf("\n got: %s\nwant: %s", got, c.want)
			}
			if d.Finished() != c.finished {
				t.Errorf("Finished() = %v, want %v", d.Finished(), c.finished)
			}
		})
	}
	d := NewChatStreamDecoder()
	if _, err := d.Decode(nil, Event{Data: []byte(`{"id":`)}); err == nil {
		t.Error("invalid JSON chunk: want an error")
	}
}

func TestChatStreamEncoder(t *testing.T) {
	chatFixNow(t)
	evs := []StreamEvent{
		{Type: EvStart, ID: "msg_1", Model: "claude-x"},
		{Type: EvThinking, Text: "hm"},
		{Type: EvSignature, Text: "sig"},
		{Type: EvText, Text: "Hi \"you\""},
		{Type: EvText, Text: ""},
		{Type: EvToolStart, Index: 0, ToolCallID: "toolu_1", ToolName: "f"},
		{Type: EvToolStart, Index: 0, ToolCallID: "toolu_1", ToolName: "f"}, // duplicate: ignored
		{Type: EvToolArgs, Index: 0, Args: `{"a":`},
		{Type: EvToolArgs, Index: 0, Args: ``},
		{Type: EvToolArgs, Index: 5, Args: `x`}, // unknown call: ignored
		{Type: EvToolArgs, Index: 0, Args: `1}`},
		{Type: EvUsage, Usage: Usage{Input: 10, Cached: 4}},
		{Type: EvUsage, Usage: Usage{Output: 7, Reasoning: 2}},
		{Type: EvFinish, StopReason: StopToolUse},
		{Type: EvText, Text: "after the end"},
	}
	const p = `data: {"id":"chatcmpl-msg_1","object":"chat.completion.chunk","created":1760000000,"model":"claude-x","choices":[`
	want := p + `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" +
		p + `{"index":0,"delta":{"reasoning_content":"hm"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" +
		p + `{"index":0,"delta":{"content":"Hi \"you\""},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" +
		p + `{"index":0,"delta":{"tool_calls":[{"index":0,"id":"toolu_1","type":"function","function":{"name":"f","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" +
		p + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" +
		p + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" +
		p + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}` + "\n\n" +
		p + `],"usage":{"prompt_tokens":10,"completion_tokens":7,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}` + "\n\n" +
		"data: [DONE]\n\n"
	enc := NewChatStreamEncoder(StreamOptions{Model: "alias", IncludeUsage: true})
	var out []byte
	for i := range evs {
		out = enc.Encode(out, &evs[i])
	}
	if string(out) != want {
		t.Errorf("\n got: %s\nwant: %s", out, want)
	}

	// No include_usage: no usage fields at all; no EvStart: the opening is synthesized with o.Model.
	enc = NewChatStreamEncoder(StreamOptions{Model: "alias"})
	out = nil
	for _, e := range []StreamEvent{{Type: EvText, Text: "x"}, {Type: EvUsage, Usage: Usage{Input: 1}}, {Type: EvFinish, StopReason: StopMaxTokens}} {
		out = enc.Encode(out, &e)
	}
	s := string(out)
	if strings.Contains(s, "usage") || strings.Count(s, "data: ") != 4 || !strings.HasSuffix(s, "data: [DONE]\n\n") ||
		!strings.Contains(s, `"model":"alias"`) || !strings.Contains(s, `"finish_reason":"length"`) || !strings.Contains(s, `"id":"chatcmpl-`) {
		t.Errorf("no-usage stream:\n%s", s)
	}

	// Error: the error event ends the stream, no [DONE].
	enc = NewChatStreamEncoder(StreamOptions{Model: "alias", IncludeUsage: true})
	out = nil
	for _, e := range []StreamEvent{{Type: EvStart, ID: "chatcmpl-9", Model: "m"}, {Type: EvText, Text: "par"}, {Type: EvError, Text: "upstream died", Status: 502}, {Type: EvFinish}} {
		out = enc.Encode(out, &e)
	}
	s = string(out)
	if !strings.HasSuffix(s, `data: {"error":{"message":"upstream died","type":"upstream_error","code":"stream_interrupted"}}`+"\n\n") || strings.Contains(s, "[DONE]") || strings.Contains(s, "finish_reason\":\"") {
		t.Errorf("error stream:\n%s", s)
	}
}

// chatSDKStream serves sse to the official client and accumulates it.
func chatSDKStream(t *testing.T, sse []byte) (openai.ChatCompletionAccumulator, error, int) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(sse)
	}))
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
	})
	var acc openai.ChatCompletionAccumulator
	n := 0
	for stream.Next() {
		n++
		if !acc.AddChunk(stream.Current()) {
			t.Fatalf("accumulator rejected chunk %d: %s", n, stream.Current().RawJSON())
		}
	}
	return acc, stream.Err(), n
}

func TestChatStreamEncoderWithSDK(t *testing.T) {
	evs := []StreamEvent{
		{Type: EvStart, ID: "gen-1", Model: "upstream-model"},
		{Type: EvThinking, Text: "think"},
		{Type: EvText, Text: "Hello"},
		{Type: EvText, Text: " world"},
		{Type: EvToolStart, Index: 0, ToolCallID: "call_a", ToolName: "get_weather"},
		{Type: EvToolArgs, Index: 0, Args: `{"city":`},
		{Type: EvToolStart, Index: 1, ToolCallID: "call_b", ToolName: "get_time"},
		{Type: EvToolArgs, Index: 1, Args: `{}`},
		{Type: EvToolArgs, Index: 0, Args: `"Paris"}`},
		{Type: EvUsage, Usage: Usage{Input: 12, Output: 34, Cached: 5, Reasoning: 6}},
		{Type: EvFinish, StopReason: StopToolUse},
	}
	for _, inc := range []bool{true, false} {
		enc := NewChatStreamEncoder(StreamOptions{Model: "alias", IncludeUsage: inc})
		var out []byte
		for i := range evs {
			out = enc.Encode(out, &evs[i])
		}
		acc, err, _ := chatSDKStream(t, out)
		if err != nil {
			t.Fatal(err)
		}
		m := acc.Choices[0].Message
		if acc.ID != "chatcmpl-gen-1" || acc.Model != "upstream-model" || m.Content != "Hello world" || m.Role != "assistant" ||
			acc.Choices[0].FinishReason != "tool_calls" || len(m.ToolCalls) != 2 ||
			m.ToolCalls[0].ID != "call_a" || m.ToolCalls[0].Function.Name != "get_weather" || m.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` ||
			m.ToolCalls[1].ID != "call_b" || m.ToolCalls[1].Function.Arguments != `{}` || m.ToolCalls[1].Type != "function" {
			t.Errorf("include_usage=%v: accumulated %+v", inc, acc.ChatCompletion)
		}
		wantTotal := int64(0)
		if inc {
			wantTotal = 46
		}
		if acc.Usage.TotalTokens != wantTotal || (inc && (acc.Usage.PromptTokensDetails.CachedTokens != 5 || acc.Usage.CompletionTokensDetails.ReasoningTokens != 6)) {
			t.Errorf("include_usage=%v: usage %+v", inc, acc.Usage)
		}
	}

	// An error ends the SDK stream with a StreamError.
	enc := NewChatStreamEncoder(StreamOptions{Model: "alias"})
	var out []byte
	for _, e := range []StreamEvent{{Type: EvText, Text: "partial"}, {Type: EvError, Text: "upstream died"}} {
		out = enc.Encode(out, &e)
	}
	acc, err, _ := chatSDKStream(t, out)
	var se *ssestream.StreamError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "upstream died") || acc.Choices[0].Message.Content != "partial" {
		t.Errorf("error stream: err %v, content %q", err, acc.Choices[0].Message.Content)
	}
}

// TestChatStreamRecordedThroughEncoder pipes every recorded provider stream
// through the decoder and encoder into the official client.
func TestChatStreamRecordedThroughEncoder(t *testing.T) {
	chatFixNow(t)
	want := map[string]func(openai.ChatCompletionAccumulator) bool{
		"text.sse": func(a openai.ChatCompletionAccumulator) bool {
			return a.Choices[0].Message.Content == "Hello! How can I help you today?" && a.Choices[0].FinishReason == "stop" && a.Usage.TotalTokens == 28
		},
		"tool.sse": func(a openai.ChatCompletionAccumulator) bool {
			tc := a.Choices[0].Message.ToolCalls
			return len(tc) == 1 && tc[0].Function.Arguments == `{"location":"Paris, France","unit":"celsius"}` && a.Choices[0].FinishReason == "tool_calls"
		},
		"reasoning.sse": func(a openai.ChatCompletionAccumulator) bool {
			return a.Choices[0].Message.Content == "2 + 2 = **4**." && a.Usage.CompletionTokensDetails.ReasoningTokens == 31 && a.ID == "chatcmpl-3f8a1c52-9d7e-4b6a-8e21-c5f04d9b7a13"
		},
	}
	for name, check := range want {
		raw, err := os.ReadFile("testdata/streams/openai/" + name)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := chatDecodeStream(t, NewChatStreamDecoder(), string(raw))
		if err != nil {
			t.Fatal(err)
		}
		enc := NewChatStreamEncoder(StreamOptions{Model: "alias", IncludeUsage: true})
		var out []byte
		for i := range evs {
			out = enc.Encode(out, &evs[i])
		}
		acc, err, _ := chatSDKStream(t, out)
		if err != nil || !check(acc) {
			t.Errorf("%s: err %v, accumulated %+v", name, err, acc.ChatCompletion)
		}
		if name == "reasoning.sse" && !strings.Contains(string(out), `"delta":{"reasoning_content":"Okay"}`) {
			t.Errorf("reasoning not re-encoded as reasoning_content")
		}
		// Re-decoding our own output gives the same events.
		again, err := chatDecodeStream(t, NewChatStreamDecoder(), string(out))
		if err != nil {
			t.Fatal(err)
		}
		if a, b := chatEventsString(chatMerge(again)), chatEventsString(chatMerge(evs)); a != strings.Replace(b, "start(3f8a", "start(chatcmpl-3f8a", 1) {
			t.Errorf("%s: re-decoded\n%s\nvs\n%s", name, a, b)
		}
	}
}

func TestPatchChatRequest(t *testing.T) {
	cases := []struct {
		name, body string
		o          Overrides
		want       string
	}{
		{"system first", `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.3}`, Overrides{SystemPrompt: "Be nice.\n\"ok\""},
			`{"model":"m","messages":[{"role":"system","content":"Be nice.\n\"ok\""},{"role":"user","content":"hi"}],"temperature":0.3}`},
		{"system into empty array", `{"model":"m","messages":[ ]}`, Overrides{SystemPrompt: "S"},
			`{"model":"m","messages":[{"role":"system","content":"S"}]}`},
		{"effort set", `{"model":"m","messages":[],"reasoning_effort":"low"}`, Overrides{Reasoning: "high"},
			`{"model":"m","messages":[],"reasoning_effort":"high"}`},
		{"budget to effort", `{"model":"m","messages":[]}`, Overrides{Reasoning: "5000"},
			`{"model":"m","messages":[],"reasoning_effort":"medium"}`},
		{"off deletes", `{"model":"m","messages":[],"reasoning_effort":"high","max_tokens":5}`, Overrides{Reasoning: "off"},
			`{"model":"m","messages":[],"max_tokens":5}`},
		{"auto leaves", `{"model":"m","messages":[],"reasoning_effort":"high"}`, Overrides{Reasoning: "auto"},
			`{"model":"m","messages":[],"reasoning_effort":"high"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := PatchChatRequest([]byte(c.body), c.o)
			if err != nil {
				t.Fatal(err)
			}
			chatJSONEqual(t, got, c.want)
		})
	}
	// Untouched bytes stay byte-identical.
	body := `{"model":"m",  "messages": [ {"role":"user","content":"x"} ], "x": {"keep":  1}}`
	got, err := PatchChatRequest([]byte(body), Overrides{SystemPrompt: "S"})
	if err != nil || string(got) != `{"model":"m",  "messages": [{"role":"system","content":"S"}, {"role":"user","content":"x"} ], "x": {"keep":  1}}` {
		t.Errorf("patched %s (%v)", got, err)
	}
	if got, _ := PatchChatRequest([]byte(body), Overrides{}); string(got) != body {
		t.Errorf("no overrides changed the body: %s", got)
	}
	for _, bad := range []string{`{"model":"m"}`, `{"messages":"x"}`, `{"messages":[`} {
		if _, err := PatchChatRequest([]byte(bad), Overrides{SystemPrompt: "S"}); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestChatAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s/", "ctl\x00\x01\x1f\t\r\n", "ü✓😀", "bad\xffutf8\xc3", "</script>&"} {
		b := AppendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); back != want && !strings.Contains(s, "\xc3") {
			t.Errorf("%q -> %s -> %q", s, b, back)
		}
	}
}

// ---------------------------------------------------------------------------
// Fuzz targets

func FuzzDecodeChatRequest(f *testing.F) {
	f.Add([]byte(chatFullRequest))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"tool","tool_call_id":"c","content":[{"type":"image_url","image_url":"data:;base64,"}]}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":{}}}]}],"stop":["a"],"n":1}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"DATA:image/png;base64,xx"}}]}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeChatRequest(body)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("non-RequestError: %v", err)
			}
			return
		}
		out, err := EncodeChatRequest(r)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("encoded invalid JSON: %s", out)
		}
		// A request of only empty system messages encodes "messages":[],
		// which the provider (and our decoder) rightly reject.
		if _, err := DecodeChatRequest(out); err != nil && (len(r.Messages) > 0 || r.System != "") {
			t.Fatalf("re-decode: %v\n%s", err, out)
		}
		if _, err := PatchChatRequest(body, Overrides{SystemPrompt: "s", Reasoning: "low"}); err != nil {
			t.Fatalf("patch of a valid body: %v", err)
		}
	})
}

func FuzzDecodeChatResponse(f *testing.F) {
	f.Add([]byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"hi","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`))
	f.Add([]byte(`{"id":"x","choices":[{"message":{"content":null,"reasoning_content":"r","tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}},{"function":{"arguments":{"a":1}}}]},"finish_reason":"tool_calls"}]}`))
	f.Add([]byte(`{"choices":[{"message":{"function_call":{"name":"f"},"content":[{"type":"text","text":"t"}]},"finish_reason":"stop","stop_reason":"x"}],"usage":{"prompt_cache_hit_tokens":3}}`))
	f.Add([]byte(`{"error":{"message":"m"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeChatResponse(body)
		if err != nil {
			return
		}
		out := EncodeChatResponse(r)
		if !json.Valid(out) {
			t.Fatalf("encoded invalid JSON: %s", out)
		}
		if _, err := DecodeChatResponse(out); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzChatStreamDecoder(f *testing.F) {
	// Compact seeds (whole recordings make the fuzzer spend its time
	// minimizing): each recording's first three and last three events.
	for _, name := range []string{"text.sse", "tool.sse", "reasoning.sse"} {
		raw, err := os.ReadFile("testdata/streams/openai/" + name)
		if err != nil {
			f.Fatal(err)
		}
		evs := strings.SplitAfter(string(raw), "\n\n")
		evs = evs[:len(evs)-1] // the empty tail
		f.Add([]byte(strings.Join(evs[:3], "") + strings.Join(evs[len(evs)-3:], "")))
	}
	f.Add([]byte("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":-1,\"function\":{\"arguments\":\"{\"}},{\"id\":\"z\",\"function\":{\"name\":\"n\"}}]},\"finish_reason\":\"stop\"}],\"usage\":{}}\n\n"))
	f.Add([]byte("event: error\ndata: oops\n\ndata: {\"object\":\"error\",\"message\":\"m\",\"code\":400}\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"function_call\":{\"name\":\"f\",\"arguments\":\"{}\"}},\"finish_reason\":\"error\"}]}\n\ndata: [DONE]\n\n"))
	f.Fuzz(func(t *testing.T, sse []byte) {
		d := NewChatStreamDecoder()
		evs, _ := chatDecodeStream(t, d, string(sse))
		// The contract: nothing after the finish or error, which is last.
		for i, e := range evs {
			if (e.Type == EvFinish || e.Type == EvError) && i != len(evs)-1 {
				t.Fatalf("event after the end: %s", chatEventsString(evs))
			}
			if e.Type == EvStart && i != 0 {
				t.Fatalf("late start: %s", chatEventsString(evs))
			}
		}
		if d.Finished() != (len(evs) > 0 && (evs[len(evs)-1].Type == EvFinish || evs[len(evs)-1].Type == EvError)) {
			t.Fatalf("Finished() = %v for %s", d.Finished(), chatEventsString(evs))
		}
		// Tool indexes are dense and started once, before their arguments.
		started := map[int]bool{}
		for _, e := range evs {
			switch e.Type {
			case EvToolStart:
				if started[e.Index] || e.Index != len(started) {
					t.Fatalf("tool start %d: %s", e.Index, chatEventsString(evs))
				}
				started[e.Index] = true
			case EvToolArgs:
				if !started[e.Index] || e.Args == "" {
					t.Fatalf("args for %d: %s", e.Index, chatEventsString(evs))
				}
			case EvText, EvThinking:
				if e.Text == "" {
					t.Fatal("empty text event")
				}
			}
		}
		// Whatever was decoded encodes to a stream the decoder reads back.
		enc := NewChatStreamEncoder(StreamOptions{Model: "m", IncludeUsage: true})
		var out []byte
		for i := range evs {
			out = enc.Encode(out, &evs[i])
		}
		if _, err := chatDecodeStream(t, NewChatStreamDecoder(), string(out)); err != nil {
			t.Fatalf("re-decode of encoder output: %v\n%s", err, out)
		}
	})
}
