package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestDecodeRequest(t *testing.T) {
	r, err := DecodeRequest([]byte(fullRequest))
	if err != nil {
		t.Fatal(err)
	}
	f := false
	want := &translate.Request{
		Model:  "gpt-4o",
		System: "You are terse.\n\nAnswer in French.",
		Messages: []translate.Message{
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "What is the weather in Paris?"}}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{
				{Type: translate.PartThinking, Text: "Need the tool."},
				{Type: translate.PartToolCall, ToolCallID: "call_1", ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
				{Type: translate.PartToolCall, ToolCallID: "call_2", ToolName: "get_time", Arguments: `{}`},
			}},
			{Role: translate.RoleTool, Parts: []translate.Part{
				{Type: translate.PartToolResult, ToolCallID: "call_1", ToolName: "get_weather", Content: []translate.Part{{Type: translate.PartText, Text: "sunny, 21C"}}},
				{Type: translate.PartToolResult, ToolCallID: "call_2", ToolName: "get_time", Content: []translate.Part{{Type: translate.PartText, Text: "14:00"}}},
			}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartText, Text: "Il fait beau."}}},
			{Role: translate.RoleUser, Parts: []translate.Part{
				{Type: translate.PartText, Text: "And this?"},
				{Type: translate.PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="},
				{Type: translate.PartImage, URL: "https://example.com/cat.jpg"},
			}},
		},
		Tools: []translate.Tool{
			{Name: "get_weather", Description: "Weather by city", Parameters: json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}`)},
			{Name: "get_time"},
		},
		ToolChoice:        &translate.ToolChoice{Mode: "tool", Name: "get_weather"},
		ParallelToolCalls: &f,
		MaxTokens:         300,
		Temperature:       ptr(0.2),
		TopP:              ptr(0.9),
		Stop:              []string{"END", "STOP"},
		ResponseFormat:    &translate.ResponseFormat{Type: "json_schema", Name: "weather", Schema: json.RawMessage(`{"type": "object"}`), Strict: true},
		Reasoning:         &translate.Reasoning{Effort: "high"},
		Stream:            true,
		IncludeUsage:      true,
		User:              "user-42",
	}
	if got, w := canon(t, r), canon(t, want); got != w {
		t.Errorf("decoded\n got: %s\nwant: %s", got, w)
	}
}

func TestDecodeRequestFields(t *testing.T) {
	cases := []struct {
		name, body string
		check      func(*translate.Request) bool
	}{
		{"max_tokens only", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":77}`,
			func(r *translate.Request) bool { return r.MaxTokens == 77 }},
		{"stop string", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":"\n\n"}`,
			func(r *translate.Request) bool { return reflect.DeepEqual(r.Stop, []string{"\n\n"}) }},
		{"effort none", `{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"none"}`,
			func(r *translate.Request) bool { return r.Reasoning != nil && r.Reasoning.Off }},
		{"effort minimal", `{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"minimal"}`,
			func(r *translate.Request) bool {
				return r.Reasoning.Effort == "minimal" && r.Reasoning.BudgetTokens() == translate.BudgetLow
			}},
		{"tool_choice strings", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}`,
			func(r *translate.Request) bool { return r.ToolChoice.Mode == "required" }},
		{"json_object", `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}`,
			func(r *translate.Request) bool { return r.ResponseFormat.Type == "json_object" }},
		{"nulls everywhere", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":null,"tool_choice":null,"stop":null,"temperature":null,"stream_options":null,"response_format":null}`,
			func(r *translate.Request) bool { return r.Tools == nil && r.ToolChoice == nil && r.Temperature == nil }},
		{"assistant refusal and empty", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"refusal":"I can't."},{"role":"assistant","content":""}]}`,
			func(r *translate.Request) bool {
				return r.Messages[1].Parts[0].Text == "I can't." && len(r.Messages[2].Parts) == 0
			}},
		{"assistant reasoning (OpenRouter)", `{"model":"m","messages":[{"role":"assistant","reasoning":"hmm","content":"ok"}]}`,
			func(r *translate.Request) bool {
				return r.Messages[0].Parts[0].Type == translate.PartThinking && r.Messages[0].Parts[1].Text == "ok"
			}},
		{"tool result with image", `{"model":"m","messages":[{"role":"tool","tool_call_id":"c","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,AAAA"}}]}]}`,
			func(r *translate.Request) bool {
				c := r.Messages[0].Parts[0].Content
				return len(c) == 2 && c[1].MediaType == "image/jpeg" && c[1].Data == "AAAA"
			}},
		{"arguments as object", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{"a":1}}}]}]}`,
			func(r *translate.Request) bool { return r.Messages[0].Parts[0].Arguments == `{"a":1}` }},
		{"system in the middle", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"system","content":"late rule"}]}`,
			func(r *translate.Request) bool { return r.System == "late rule" && len(r.Messages) == 1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := DecodeRequest([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(r) {
				t.Errorf("unexpected: %s", canon(t, r))
			}
		})
	}
}

func TestDecodeRequestErrors(t *testing.T) {
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
			_, err := DecodeRequest([]byte(c.body))
			var re *translate.RequestError
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

func TestEncodeRequest(t *testing.T) {
	cases := []struct {
		name string
		req  translate.Request
		want string
	}{
		{"minimal", translate.Request{Model: "gpt-4o-mini", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "hi"}}}}, MaxTokens: 100},
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":100}`},
		{"reasoning model uses max_completion_tokens", translate.Request{Model: "o3-mini", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "hi"}}}}, MaxTokens: 100},
			`{"model":"o3-mini","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":100}`},
		{"gpt-5 with effort, sampling dropped", translate.Request{Model: "gpt-5", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "hi"}}}}, MaxTokens: 9, Reasoning: &translate.Reasoning{Budget: 20000},
			Temperature: ptr(0.7), TopP: ptr(0.9), Stop: []string{"x"}},
			`{"model":"gpt-5","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":9,"reasoning_effort":"high"}`},
		{"reasoning set on any model", translate.Request{Model: "deepseek-reasoner", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "hi"}}}}, MaxTokens: 9, Reasoning: &translate.Reasoning{Effort: "low"}},
			`{"model":"deepseek-reasoner","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":9,"reasoning_effort":"low"}`},
		{"gpt-5-chat keeps sampling", translate.Request{Model: "gpt-5-chat-latest", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "hi"}}}}, Temperature: ptr(0.7), Stop: []string{"x"}},
			`{"model":"gpt-5-chat-latest","messages":[{"role":"user","content":"hi"}],"temperature":0.7,"stop":["x"]}`},
		{"over-long tool ids shortened consistently", translate.Request{Model: "m", Messages: []translate.Message{
			{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartToolCall, ToolCallID: "fc_0f0e50a1476a6c35006912c58dc9f8819192c25864eb16f07f", ToolName: "f", Arguments: "{}"}}},
			{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "fc_0f0e50a1476a6c35006912c58dc9f8819192c25864eb16f07f", Content: []translate.Part{{Type: translate.PartText, Text: "ok"}}}}},
		}}, `{"model":"m","messages":[
			{"role":"assistant","content":null,"tool_calls":[{"id":"` + translate.MakeToolCallID("call_", "fc_0f0e50a1476a6c35006912c58dc9f8819192c25864eb16f07f", 0) + `","type":"function","function":{"name":"f","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"` + translate.MakeToolCallID("call_", "fc_0f0e50a1476a6c35006912c58dc9f8819192c25864eb16f07f", 0) + `","content":"ok"}]}`},
		{"reasoning off omitted", translate.Request{Model: "qwen", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "hi"}}}}, MaxTokens: 9, Reasoning: &translate.Reasoning{Off: true}},
			`{"model":"qwen","messages":[{"role":"user","content":"hi"}],"max_tokens":9}`},
		{"stream always asks usage", translate.Request{Model: "m", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "hi"}}}}, Stream: true},
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`},
		{"tool_choice dropped without tools", translate.Request{Model: "m", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "hi"}}}}, ToolChoice: &translate.ToolChoice{Mode: "auto"}, ParallelToolCalls: ptr(true)},
			`{"model":"m","messages":[{"role":"user","content":"hi"}]}`},
		{"everything", translate.Request{
			Model:  "gpt-4.1",
			System: "Be brief.",
			Messages: []translate.Message{
				{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "look"}, {Type: translate.PartImage, MediaType: "image/jpeg", Data: "QUJD"}, {Type: translate.PartImage, URL: "https://x/y.png"}}},
				{Role: translate.RoleAssistant, Parts: []translate.Part{
					{Type: translate.PartThinking, Text: "secret", Signature: "sig"},
					{Type: translate.PartText, Text: "Checking"},
					{Type: translate.PartText, Text: " now."},
					{Type: translate.PartToolCall, ToolCallID: "toolu_1", ToolName: "shot", Arguments: `{"n":1}`},
					{Type: translate.PartToolCall, ToolCallID: "toolu_2", ToolName: "noop"},
				}},
				{Role: translate.RoleTool, Parts: []translate.Part{
					{Type: translate.PartToolResult, ToolCallID: "toolu_1", Content: []translate.Part{{Type: translate.PartText, Text: "a"}, {Type: translate.PartText, Text: "b"}, {Type: translate.PartImage, MediaType: "image/png", Data: "UE5H"}}},
					{Type: translate.PartToolResult, ToolCallID: "toolu_2", IsError: true, Content: []translate.Part{{Type: translate.PartText, Text: "boom"}}},
				}},
				{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartToolCall, ToolCallID: "toolu_3", ToolName: "noop", Arguments: "{}"}}},
				{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "toolu_3"}}},
				{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "thanks"}}},
			},
			Tools: []translate.Tool{
				{Name: "shot", Description: "Take a shot", Parameters: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}}}`)},
				{Name: "noop"},
			},
			ToolChoice:        &translate.ToolChoice{Mode: "tool", Name: "shot"},
			ParallelToolCalls: ptr(false),
			MaxTokens:         256,
			Temperature:       ptr(0.5),
			TopP:              ptr(1.0),
			TopK:              ptr(40),
			Stop:              []string{"###"},
			ResponseFormat:    &translate.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{"type":"object"}`), Strict: true},
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
			got, err := EncodeRequest(&c.req)
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, got, c.want)
		})
	}
	if _, err := EncodeRequest(&translate.Request{Messages: []translate.Message{}}); err == nil {
		t.Error("no model: want an error")
	}
	if _, err := EncodeRequest(&translate.Request{Model: "m", Tools: []translate.Tool{{Name: "f", Parameters: json.RawMessage(`{bad`)}}}); err == nil {
		t.Error("invalid parameters: want an error")
	}
}

func TestRequestRoundTrip(t *testing.T) {
	bodies := []string{
		fullRequest,
		`{"model":"m","messages":[{"role":"user","content":"a\u0000b \"q\" \\ \u2028 ✓"}],"stop":"x","temperature":1e-7}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]},{"role":"assistant","content":"","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":[1,2]}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"},{"role":"user","content":"next"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"none"}`,
	}
	for i, body := range bodies {
		r1, err := DecodeRequest([]byte(body))
		if err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		enc1, err := EncodeRequest(r1)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := DecodeRequest(enc1)
		if err != nil {
			t.Fatalf("body %d re-decode: %v\n%s", i, err, enc1)
		}
		// Thinking is dropped on the way to a provider; the rest survives.
		for mi := range r1.Messages {
			m := &r1.Messages[mi]
			kept := m.Parts[:0:0]
			for _, p := range m.Parts {
				if p.Type != translate.PartThinking {
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
		if got, want := canon(t, r2), canon(t, r1); got != want {
			t.Errorf("body %d round trip\n got: %s\nwant: %s", i, got, want)
		}
		enc2, err := EncodeRequest(r2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc1, enc2) {
			t.Errorf("body %d: encoding not stable\n%s\n%s", i, enc1, enc2)
		}
	}
}

// TestDecodeRequestFromSDK decodes what the official client sends.
func TestDecodeRequestFromSDK(t *testing.T) {
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
	r, err := DecodeRequest(body)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	if r.System != "sys" || len(r.Messages) != 3 || r.MaxTokens != 64 || r.Reasoning.Effort != "low" {
		t.Fatalf("decoded %s", canon(t, r))
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
