package translate

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
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"
)

func respFixNow(t testing.TB) {
	t.Helper()
	old := Now
	Now = func() time.Time { return time.Unix(1767225600, 0) }
	t.Cleanup(func() { Now = old })
}

func respPtr[T any](v T) *T { return &v }

func TestDecodeResponsesRequest(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *Request
	}{
		{
			name: "string input",
			body: `{"model":"gpt-x","input":"Hello"}`,
			want: &Request{Model: "gpt-x", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "Hello"}}}}},
		},
		{
			name: "instructions then system and developer messages",
			body: `{"model":"m","instructions":"Be brief.","input":[
				{"role":"system","content":"You are a cat."},
				{"type":"message","role":"developer","content":[{"type":"input_text","text":"Meow only."},{"type":"input_text","text":"Always."}]},
				{"role":"user","content":"hi"}]}`,
			want: &Request{Model: "m", System: "Be brief.\n\nYou are a cat.\n\nMeow only.\nAlways.",
				Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hi"}}}}},
		},
		{
			name: "images",
			body: `{"model":"m","input":[{"role":"user","content":[
				{"type":"input_text","text":"What is this?"},
				{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"},
				{"type":"input_image","image_url":"https://example.com/cat.jpg","detail":"auto"}]}]}`,
			want: &Request{Model: "m", Messages: []Message{{Role: RoleUser, Parts: []Part{
				{Type: PartText, Text: "What is this?"},
				{Type: PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="},
				{Type: PartImage, URL: "https://example.com/cat.jpg"},
			}}}},
		},
		{
			name: "tool turn: reasoning, text and calls form one assistant message, outputs one tool message",
			body: `{"model":"m","input":[
				{"role":"user","content":"Weather in Paris and Rome?"},
				{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Need two calls."}],"encrypted_content":"gAAAAABfoo"},
				{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Checking.","annotations":[]}]},
				{"type":"function_call","id":"fc_1","call_id":"call_a","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"},
				{"type":"function_call","id":"fc_2","call_id":"call_b","name":"get_weather","arguments":""},
				{"type":"function_call_output","call_id":"call_a","output":"18C"},
				{"type":"function_call_output","call_id":"call_b","output":[{"type":"input_text","text":"21C"},{"type":"input_image","image_url":"https://example.com/map.png"}]},
				{"role":"assistant","content":"Paris 18C, Rome 21C."},
				{"role":"user","content":[{"type":"input_text","text":"Thanks"}]}]}`,
			want: &Request{Model: "m", Messages: []Message{
				{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "Weather in Paris and Rome?"}}},
				{Role: RoleAssistant, Parts: []Part{
					{Type: PartThinking, Text: "Need two calls."},
					{Type: PartText, Text: "Checking."},
					{Type: PartToolCall, ToolCallID: "call_a", ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
					{Type: PartToolCall, ToolCallID: "call_b", ToolName: "get_weather", Arguments: `{}`},
				}},
				{Role: RoleTool, Parts: []Part{
					{Type: PartToolResult, ToolCallID: "call_a", ToolName: "get_weather", Content: []Part{{Type: PartText, Text: "18C"}}},
					{Type: PartToolResult, ToolCallID: "call_b", ToolName: "get_weather", Content: []Part{{Type: PartText, Text: "21C"}, {Type: PartImage, URL: "https://example.com/map.png"}}},
				}},
				{Role: RoleAssistant, Parts: []Part{{Type: PartText, Text: "Paris 18C, Rome 21C."}}},
				{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "Thanks"}}},
			}},
		},
		{
			name: "proxy signatures come back, refusals are text, thinking-only turns are dropped",
			body: `{"model":"m","input":[
				{"role":"user","content":"a"},
				{"type":"reasoning","summary":[],"encrypted_content":"gAAAAABopaque"},
				{"role":"user","content":"b"},
				{"type":"reasoning","summary":[{"type":"summary_text","text":"x"},{"type":"summary_text","text":"y"}],"encrypted_content":"llmproxy:sig:EqQBCkYI"},
				{"type":"reasoning","summary":[],"encrypted_content":"llmproxy:redacted:EmwKAhgB"},
				{"role":"assistant","content":[{"type":"refusal","refusal":"I can't."}]},
				{"role":"user","content":"c"}]}`,
			want: &Request{Model: "m", Messages: []Message{
				{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "a"}}},
				{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "b"}}},
				{Role: RoleAssistant, Parts: []Part{
					{Type: PartThinking, Text: "x\n\ny", Signature: "EqQBCkYI"},
					{Type: PartThinking, Redacted: true, Data: "EmwKAhgB"},
					{Type: PartText, Text: "I can't."},
				}},
				{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "c"}}},
			}},
		},
		{
			name: "settings",
			body: `{"model":"m","input":"q","tools":[{"type":"function","name":"f","description":"does f","parameters":{"type":"object","properties":{"a":{"type":"string"}}},"strict":true},{"type":"function","name":"g","parameters":null,"strict":false}],
				"tool_choice":{"type":"function","name":"f"},"parallel_tool_calls":false,"max_output_tokens":500,"temperature":0.2,"top_p":0.9,
				"text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"},"strict":true},"verbosity":"low"},
				"reasoning":{"effort":"high","summary":"auto"},"stream":true,"user":"u-1",
				"store":false,"metadata":{"k":"v"},"truncation":"auto","include":["reasoning.encrypted_content"],"service_tier":"auto","prompt_cache_key":"x","top_logprobs":2}`,
			want: &Request{Model: "m", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "q"}}}},
				Tools: []Tool{
					{Name: "f", Description: "does f", Parameters: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`)},
					{Name: "g"},
				},
				ToolChoice: &ToolChoice{Mode: "tool", Name: "f"}, ParallelToolCalls: respPtr(false),
				MaxTokens: 500, Temperature: respPtr(0.2), TopP: respPtr(0.9),
				ResponseFormat: &ResponseFormat{Type: "json_schema", Name: "out", Schema: json.RawMessage(`{"type":"object"}`), Strict: true},
				Reasoning:      &Reasoning{Effort: "high"}, Stream: true, User: "u-1"},
		},
		{
			name: "tool_choice string, json_object, reasoning none, safety_identifier",
			body: `{"model":"m","input":"q","tool_choice":"required","text":{"format":{"type":"json_object"}},"reasoning":{"effort":"none"},"safety_identifier":"s-1"}`,
			want: &Request{Model: "m", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "q"}}}},
				ToolChoice: &ToolChoice{Mode: "required"}, ResponseFormat: &ResponseFormat{Type: "json_object"},
				Reasoning: &Reasoning{Off: true}, User: "s-1"},
		},
		{
			name: "minimal and xhigh efforts, text format, null fields",
			body: `{"model":"m","input":"q","reasoning":{"effort":"minimal"},"text":{"format":{"type":"text"}},"instructions":null,"previous_response_id":null,"temperature":null,"tools":null}`,
			want: &Request{Model: "m", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "q"}}}},
				Reasoning: &Reasoning{Effort: "low"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeResponsesRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(tt.want, "", " ")
				t.Fatalf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
}

func TestDecodeResponsesRequestErrors(t *testing.T) {
	tests := []struct {
		body, param, msg string
	}{
		{`{"model":"m","input":"q"`, "", "not valid JSON"},
		{`[1]`, "", "JSON object"},
		{`{"input":"q"}`, "model", "model is required"},
		{`{"model":5,"input":"q"}`, "model", "model is required"},
		{`{"model":"m"}`, "input", "input is required"},
		{`{"model":"m","input":""}`, "input", "must not be empty"},
		{`{"model":"m","input":[]}`, "input", "no message"},
		{`{"model":"m","input":7}`, "input", "string or an array"},
		{`{"model":"m","input":"q","previous_response_id":"resp_1"}`, "previous_response_id",
			"previous_response_id is not supported: this proxy keeps no conversation state; send the whole conversation in input"},
		{`{"model":"m","input":"q","conversation":"conv_1"}`, "conversation", "no conversation state"},
		{`{"model":"m","input":"q","background":true}`, "background", "background"},
		{`{"model":"m","prompt":{"id":"pmpt_1"}}`, "prompt", "stored prompts"},
		{`{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, "input[0]", "item_reference is not supported"},
		{`{"model":"m","input":[{"role":"user","content":"a"},{"type":"web_search_call","id":"ws_1"}]}`, "input[1].type", `"web_search_call" is not supported`},
		{`{"model":"m","input":[{"role":"robot","content":"a"}]}`, "input[0].role", "role must be"},
		{`{"model":"m","input":[{"content":"a"}]}`, "input[0].role", "role is required"},
		{`{"model":"m","input":[{"role":"user","content":5}]}`, "input[0].content", "string or an array"},
		{`{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]}`, "input[0].content[0].type", `"input_file" is not supported`},
		{`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"f"}]}]}`, "input[0].content[0].file_id", "file_id images"},
		{`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"ftp://x"}]}]}`, "input[0].content[0].image_url", "data URL"},
		{`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/png,abc"}]}]}`, "input[0].content[0].image_url", "base64"},
		{`{"model":"m","input":[{"role":"system","content":[{"type":"input_image","image_url":"https://x/y.png"}]}]}`, "input[0].content[0]", "images are only"},
		{`{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`, "input[0].call_id", "call_id"},
		{`{"model":"m","input":[{"type":"function_call","call_id":"c","arguments":"{}"}]}`, "input[0].name", "name"},
		{`{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":{}}]}`, "input[0].arguments", "must be a string"},
		{`{"model":"m","input":[{"type":"function_call_output","output":"x"}]}`, "input[0].call_id", "call_id"},
		{`{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":3}]}`, "input[0].output", "output must be"},
		{`{"model":"m","input":[{"type":"reasoning","summary":"x"}]}`, "input[0].summary", "array"},
		{`{"model":"m","input":["hi"]}`, "input[0]", "must be an object"},
		{`{"model":"m","input":"q","tools":[{"type":"web_search"}]}`, "tools[0].type", `tool type "web_search" is not supported`},
		{`{"model":"m","input":"q","tools":[{"type":"function","name":"f"},{"type":"custom","name":"g"}]}`, "tools[1].type", `"custom"`},
		{`{"model":"m","input":"q","tools":[{"type":"function"}]}`, "tools[0].name", "name is required"},
		{`{"model":"m","input":"q","tools":[{"type":"function","name":"f","parameters":"x"}]}`, "tools[0].parameters", "JSON Schema"},
		{`{"model":"m","input":"q","tools":{}}`, "tools", "array"},
		{`{"model":"m","input":"q","tool_choice":"any"}`, "tool_choice", "tool_choice must be"},
		{`{"model":"m","input":"q","tool_choice":{"type":"web_search_preview"}}`, "tool_choice", "not supported"},
		{`{"model":"m","input":"q","tool_choice":{"type":"function"}}`, "tool_choice.name", "name is required"},
		{`{"model":"m","input":"q","parallel_tool_calls":"yes"}`, "parallel_tool_calls", "boolean"},
		{`{"model":"m","input":"q","max_output_tokens":1.5}`, "max_output_tokens", "positive integer"},
		{`{"model":"m","input":"q","max_output_tokens":0}`, "max_output_tokens", "positive integer"},
		{`{"model":"m","input":"q","temperature":"hot"}`, "temperature", "number"},
		{`{"model":"m","input":"q","top_p":[]}`, "top_p", "number"},
		{`{"model":"m","input":"q","text":{"format":{"type":"xml"}}}`, "text.format.type", "text, json_object or json_schema"},
		{`{"model":"m","input":"q","text":{"format":{"type":"json_schema","name":"x"}}}`, "text.format.schema", "schema is required"},
		{`{"model":"m","input":"q","reasoning":{"effort":"max"}}`, "reasoning.effort", "reasoning.effort must be"},
		{`{"model":"m","input":"q","reasoning":"high"}`, "reasoning", "object"},
		{`{"model":"m","input":"q","stream":"true"}`, "stream", "boolean"},
		{`{"model":"m","instructions":["x"],"input":"q"}`, "instructions", "string"},
	}
	for _, tt := range tests {
		_, err := DecodeResponsesRequest([]byte(tt.body))
		var re *RequestError
		if !errors.As(err, &re) {
			t.Errorf("%s: got %v, want a RequestError", tt.body, err)
			continue
		}
		if re.Param != tt.param || !strings.Contains(re.Message, tt.msg) {
			t.Errorf("%s: got param %q message %q, want param %q message containing %q", tt.body, re.Param, re.Message, tt.param, tt.msg)
		}
	}
}

// The SDK's own request bodies decode: a function-calling conversation as
// openai-go marshals it.
func TestDecodeResponsesRequestFromSDK(t *testing.T) {
	params := responses.ResponseNewParams{
		Model:        "gpt-x",
		Instructions: openai.String("Be helpful."),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage("What's the weather in Paris?", responses.EasyInputMessageRoleUser),
			responses.ResponseInputItemParamOfFunctionCall(`{"city":"Paris"}`, "call_1", "get_weather"),
			{OfFunctionCallOutput: &responses.ResponseInputItemFunctionCallOutputParam{
				CallID: openai.String("call_1"),
				Output: responses.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: openai.String("sunny")},
			}},
		}},
		Tools: []responses.ToolUnionParam{responses.ToolParamOfFunction("get_weather",
			map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}, true)},
		MaxOutputTokens: openai.Int(256),
		Temperature:     openai.Float(0.5),
	}
	body, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeResponsesRequest(body)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	want := &Request{Model: "gpt-x", System: "Be helpful.", Messages: []Message{
		{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "What's the weather in Paris?"}}},
		{Role: RoleAssistant, Parts: []Part{{Type: PartToolCall, ToolCallID: "call_1", ToolName: "get_weather", Arguments: `{"city":"Paris"}`}}},
		{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "call_1", ToolName: "get_weather", Content: []Part{{Type: PartText, Text: "sunny"}}}}},
	},
		Tools:     []Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"properties":{"city":{"type":"string"}},"type":"object"}`)}},
		MaxTokens: 256, Temperature: respPtr(0.5)}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		t.Fatalf("got\n%s\nfrom\n%s", g, body)
	}
}

func respTestServer(t *testing.T, h http.HandlerFunc) openai.Client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("k"), option.WithMaxRetries(0))
}

func TestEncodeResponsesResponseGolden(t *testing.T) {
	respFixNow(t)
	r := &Response{ID: "msg_01abc", Model: "client-model", StopReason: StopToolUse,
		Parts: []Part{
			{Type: PartThinking, Text: "Let me think.", Signature: "sig=="},
			{Type: PartText, Text: "Calling "},
			{Type: PartText, Text: "the tool."},
			{Type: PartToolCall, ToolCallID: "toolu_1", ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
		},
		Usage: Usage{Input: 100, Output: 50, Cached: 20, Reasoning: 10}}
	got := string(EncodeResponsesResponse(r))
	want := `{"id":"resp_msg_01abc","object":"response","created_at":1767225600,"status":"completed","background":false,"completed_at":1767225600,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"max_tool_calls":null,"model":"client-model","output":[` +
		`{"id":"` + MakeToolCallID("rs_", "resp_msg_01abc", 0) + `","type":"reasoning","summary":[{"type":"summary_text","text":"Let me think."}],"encrypted_content":"llmproxy:sig:sig=="},` +
		`{"id":"` + MakeToolCallID("msg_", "resp_msg_01abc", 1) + `","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Calling the tool."}],"role":"assistant"},` +
		`{"id":"` + MakeToolCallID("fc_", "resp_msg_01abc", 2) + `","type":"function_call","status":"completed","arguments":"{\"city\":\"Paris\"}","call_id":"toolu_1","name":"get_weather"}` +
		`],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"service_tier":"default","store":false,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled",` +
		`"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":20},"output_tokens":50,"output_tokens_details":{"reasoning_tokens":10},"total_tokens":150},"user":null,"metadata":{}}`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Fatal("invalid JSON")
	}
}

// A whole round trip through openai-go: the SDK's request decodes, the
// encoded response parses into the SDK's Response with everything in place.
func TestEncodeResponsesResponseSDK(t *testing.T) {
	respFixNow(t)
	canned := &Response{ID: "resp_abc", Model: "client-model", StopReason: StopToolUse,
		Parts: []Part{
			{Type: PartThinking, Text: "Thinking \"hard\"\n"},
			{Type: PartText, Text: "Sure — ünïcode ✓ \u2028 <tag> \x01"},
			{Type: PartToolCall, ToolCallID: "call_9", ToolName: "lookup", Arguments: `{"q":"x"}`},
			{Type: PartToolCall, ToolName: "noargs"},
		},
		Usage: Usage{Input: 12, Output: 34, Cached: 5, Reasoning: 6}}
	var got *Request
	client := respTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var err error
		if got, err = DecodeResponsesRequest(body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(EncodeResponsesResponse(canned))
	})
	resp, err := client.Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "client-model",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != "client-model" || len(got.Messages) != 1 || got.Messages[0].Parts[0].Text != "hi" {
		t.Fatalf("decoded %+v", got)
	}
	if resp.ID != "resp_abc" || resp.Object != "response" || resp.Status != "completed" || resp.Model != "client-model" || resp.CreatedAt != 1767225600 {
		t.Fatalf("response %+v", resp)
	}
	if resp.OutputText() != canned.Parts[1].Text {
		t.Fatalf("output text %q", resp.OutputText())
	}
	if len(resp.Output) != 4 {
		t.Fatalf("%d output items", len(resp.Output))
	}
	rs := resp.Output[0].AsReasoning()
	if rs.Type != "reasoning" || len(rs.Summary) != 1 || rs.Summary[0].Text != canned.Parts[0].Text || !strings.HasPrefix(rs.ID, "rs_") {
		t.Fatalf("reasoning %+v", rs)
	}
	fc := resp.Output[2].AsFunctionCall()
	if fc.CallID != "call_9" || fc.Name != "lookup" || fc.Arguments != `{"q":"x"}` || fc.Status != "completed" || !strings.HasPrefix(fc.ID, "fc_") {
		t.Fatalf("function call %+v", fc)
	}
	fc = resp.Output[3].AsFunctionCall()
	if fc.CallID == "" || fc.Name != "noargs" || fc.Arguments != "{}" {
		t.Fatalf("function call %+v", fc)
	}
	u := resp.Usage
	if u.InputTokens != 12 || u.OutputTokens != 34 || u.TotalTokens != 46 || u.InputTokensDetails.CachedTokens != 5 || u.OutputTokensDetails.ReasoningTokens != 6 {
		t.Fatalf("usage %+v", u)
	}
	// Stable ids: the same answer encodes to the same bytes.
	if !bytes.Equal(EncodeResponsesResponse(canned), EncodeResponsesResponse(canned)) {
		t.Fatal("encoding is not deterministic")
	}
}

func TestEncodeResponsesResponseStatus(t *testing.T) {
	for _, tt := range []struct {
		stop            StopReason
		status, reason  string
		msgStatusSuffix string
	}{
		{StopEnd, "completed", "", `"status":"completed"`},
		{StopSequence, "completed", "", `"status":"completed"`},
		{StopMaxTokens, "incomplete", "max_output_tokens", `"status":"incomplete"`},
		{StopContentFilter, "incomplete", "content_filter", `"status":"incomplete"`},
	} {
		b := EncodeResponsesResponse(&Response{ID: "x", StopReason: tt.stop, Parts: []Part{{Type: PartText, Text: "t"}}})
		if s := gjson.GetBytes(b, "status").Str; s != tt.status {
			t.Errorf("%s: status %s", tt.stop, s)
		}
		if r := gjson.GetBytes(b, "incomplete_details.reason").Str; r != tt.reason {
			t.Errorf("%s: reason %q", tt.stop, r)
		}
		if s := gjson.GetBytes(b, "output.0.status").Raw; `"status":`+s != tt.msgStatusSuffix {
			t.Errorf("%s: message status %s", tt.stop, s)
		}
	}
	// No id from the provider: one is made up; empty parts make no items.
	b := EncodeResponsesResponse(&Response{Parts: []Part{{Type: PartText}, {Type: PartThinking}}})
	if id := gjson.GetBytes(b, "id").Str; !strings.HasPrefix(id, "resp_") || len(id) < 20 {
		t.Errorf("id %q", id)
	}
	if o := gjson.GetBytes(b, "output").Raw; o != "[]" {
		t.Errorf("output %s", o)
	}
	// Redacted thinking travels as encrypted content.
	b = EncodeResponsesResponse(&Response{ID: "x", Parts: []Part{{Type: PartThinking, Redacted: true, Data: "opaque"}, {Type: PartText, Text: "t"}}})
	if e := gjson.GetBytes(b, "output.0.encrypted_content").Str; e != "llmproxy:redacted:opaque" {
		t.Errorf("encrypted_content %q", e)
	}
	if s := gjson.GetBytes(b, "output.0.summary").Raw; s != "[]" {
		t.Errorf("summary %s", s)
	}
}

// respRun encodes canonical events into one stream.
func respRun(o StreamOptions, evs []StreamEvent) []byte {
	enc := NewResponsesStreamEncoder(o)
	var out []byte
	for i := range evs {
		out = enc.Encode(out, &evs[i])
	}
	return out
}

// respCheckFraming checks what every Responses stream must satisfy: whole
// SSE events whose name is the payload's type, sequence numbers 0, 1, ...,
// every item added is done, deltas add up to the done texts, one terminal
// event, last.
func respCheckFraming(t *testing.T, stream []byte) []gjson.Result {
	return respCheckFramingArgs(t, stream, true)
}

// respCheckFramingArgs is respCheckFraming; validArgs asks that call
// arguments be valid JSON too.
func respCheckFramingArgs(t *testing.T, stream []byte, validArgs bool) (events []gjson.Result) {
	t.Helper()
	rd := NewSSEReader(bytes.NewReader(stream))
	added := map[int64]string{}
	texts := map[string]string{}
	terminal := false
	for n := int64(0); ; n++ {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("event %d: %v", n, err)
		}
		if terminal {
			t.Fatalf("event after the terminal event: %s", ev.Raw)
		}
		if !json.Valid(ev.Data) {
			t.Fatalf("invalid JSON: %s", ev.Data)
		}
		d := gjson.ParseBytes(ev.Data)
		events = append(events, d)
		typ := d.Get("type").Str
		if typ != string(ev.Name) {
			t.Fatalf("event name %q, type %q", ev.Name, typ)
		}
		if s := d.Get("sequence_number"); s.Type != gjson.Number || s.Int() != n {
			t.Fatalf("event %d has sequence_number %s", n, s.Raw)
		}
		if d.Get("error").Exists() {
			t.Fatalf("top-level error field (the SDK would take it for a stream error): %s", ev.Data)
		}
		oi := d.Get("output_index").Int()
		key := d.Get("item_id").Str
		switch typ {
		case "response.output_item.added":
			if _, ok := added[oi]; ok {
				t.Fatalf("output_index %d added twice", oi)
			}
			if oi != int64(len(added)) {
				t.Fatalf("output_index %d out of order", oi)
			}
			added[oi] = d.Get("item.id").Str
		case "response.output_item.done":
			if added[oi] != d.Get("item.id").Str {
				t.Fatalf("done for an item not added: %s", ev.Data)
			}
			delete(added, oi)
			added[oi] = "" // closed
		case "response.output_text.delta", "response.reasoning_summary_text.delta", "response.function_call_arguments.delta":
			if d.Get("delta").Str == "" {
				t.Fatalf("empty delta: %s", ev.Data)
			}
			if added[oi] != key {
				t.Fatalf("delta for an item not open: %s", ev.Data)
			}
			texts[key] += d.Get("delta").Str
		case "response.output_text.done", "response.reasoning_summary_text.done":
			if texts[key] != d.Get("text").Str {
				t.Fatalf("done text %q, deltas %q", d.Get("text").Str, texts[key])
			}
		case "response.function_call_arguments.done":
			if texts[key] != d.Get("arguments").Str || (validArgs && !json.Valid([]byte(texts[key]))) {
				t.Fatalf("arguments %q, deltas %q", d.Get("arguments").Str, texts[key])
			}
		case "response.completed", "response.incomplete", "response.failed":
			terminal = true
		}
	}
	if len(events) < 2 || events[0].Get("type").Str != "response.created" || events[1].Get("type").Str != "response.in_progress" {
		t.Fatal("stream does not open with response.created, response.in_progress")
	}
	if !terminal {
		t.Fatal("no terminal event")
	}
	if last := events[len(events)-1]; last.Get("type").Str != "response.failed" {
		for oi, id := range added {
			if id != "" {
				t.Fatalf("item %d never done", oi)
			}
		}
	}
	return events
}

func respAllEvents() []StreamEvent {
	return []StreamEvent{
		{Type: EvStart, ID: "chatcmpl-1", Model: "upstream-model"},
		{Type: EvUsage, Usage: Usage{Input: 30, Cached: 10}},
		{Type: EvThinking, Text: "The user "},
		{Type: EvThinking, Text: "wants weather."},
		{Type: EvSignature, Text: "c2ln"},
		{Type: EvText, Text: "Let me "},
		{Type: EvText, Text: ""},
		{Type: EvText, Text: "check \"now\"."},
		{Type: EvToolStart, Index: 0, ToolCallID: "call_a", ToolName: "get_weather"},
		{Type: EvToolArgs, Index: 0, Args: `{"city":`},
		{Type: EvToolArgs, Index: 0, Args: `"Paris"}`},
		{Type: EvToolStart, Index: 0, ToolCallID: "call_a", ToolName: "get_weather"}, // duplicate: ignored
		{Type: EvToolStart, Index: 1, ToolCallID: "call_b", ToolName: "get_time"},
		{Type: EvToolArgs, Index: 7, Args: `junk`}, // unknown call: ignored
		{Type: EvUsage, Usage: Usage{Output: 40, Reasoning: 12}},
		{Type: EvFinish, StopReason: StopToolUse},
		{Type: EvText, Text: "after the end"}, // ignored
	}
}

func TestResponsesStreamSDK(t *testing.T) {
	respFixNow(t)
	stream := respRun(StreamOptions{Model: "client-model"}, respAllEvents())
	events := respCheckFraming(t, stream)
	if n := len(events); n != 26 {
		t.Errorf("%d events:\n%s", n, stream)
	}
	client := respTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !gjson.GetBytes(body, "stream").Bool() {
			http.Error(w, "not streaming", 400)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(stream)
	})
	s := client.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{
		Model: "client-model",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("weather?")},
	})
	var text, reasoning strings.Builder
	args := map[string]*strings.Builder{}
	var final responses.Response
	var types []string
	for s.Next() {
		ev := s.Current()
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.created":
			c := ev.AsResponseCreated()
			if c.Response.Status != "in_progress" || c.Response.ID != "resp_chatcmpl-1" || c.Response.Model != "client-model" || len(c.Response.Output) != 0 {
				t.Errorf("created %s", ev.RawJSON())
			}
		case "response.output_text.delta":
			text.WriteString(ev.AsResponseOutputTextDelta().Delta)
		case "response.reasoning_summary_text.delta":
			reasoning.WriteString(ev.AsResponseReasoningSummaryTextDelta().Delta)
		case "response.output_item.added":
			if it := ev.AsResponseOutputItemAdded().Item; it.Type == "function_call" {
				args[it.ID] = &strings.Builder{}
			}
		case "response.function_call_arguments.delta":
			d := ev.AsResponseFunctionCallArgumentsDelta()
			args[d.ItemID].WriteString(d.Delta)
		case "response.completed":
			final = ev.AsResponseCompleted().Response
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != `Let me check "now".` || reasoning.String() != "The user wants weather." {
		t.Errorf("text %q reasoning %q", text.String(), reasoning.String())
	}
	if final.Status != "completed" || final.OutputText() != text.String() || len(final.Output) != 4 {
		t.Fatalf("final %s", final.RawJSON())
	}
	if rs := final.Output[0].AsReasoning(); rs.Summary[0].Text != reasoning.String() || rs.EncryptedContent != "llmproxy:sig:c2ln" {
		t.Errorf("reasoning item %s", final.Output[0].RawJSON())
	}
	for i, want := range []struct{ callID, name, args string }{{"call_a", "get_weather", `{"city":"Paris"}`}, {"call_b", "get_time", "{}"}} {
		fc := final.Output[2+i].AsFunctionCall()
		if fc.CallID != want.callID || fc.Name != want.name || fc.Arguments != want.args || args[fc.ID].String() != want.args {
			t.Errorf("call %d: %s (streamed %q)", i, final.Output[2+i].RawJSON(), args[fc.ID])
		}
	}
	u := final.Usage
	if u.InputTokens != 30 || u.InputTokensDetails.CachedTokens != 10 || u.OutputTokens != 40 || u.OutputTokensDetails.ReasoningTokens != 12 || u.TotalTokens != 70 {
		t.Errorf("usage %s", u.RawJSON())
	}
	wantTypes := "response.created response.in_progress " +
		"response.output_item.added response.reasoning_summary_part.added response.reasoning_summary_text.delta response.reasoning_summary_text.delta response.reasoning_summary_text.done response.reasoning_summary_part.done response.output_item.done " +
		"response.output_item.added response.content_part.added response.output_text.delta response.output_text.delta response.output_text.done response.content_part.done response.output_item.done " +
		"response.output_item.added response.function_call_arguments.delta response.function_call_arguments.delta response.function_call_arguments.done response.output_item.done " +
		"response.output_item.added response.function_call_arguments.delta response.function_call_arguments.done response.output_item.done " +
		"response.completed"
	if g := strings.Join(types, " "); g != wantTypes {
		t.Errorf("event types\n%s\nwant\n%s", g, wantTypes)
	}
	// The final response object is what the non-streamed encoder makes of
	// the same answer.
	whole := EncodeResponsesResponse(&Response{ID: "chatcmpl-1", Model: "client-model", StopReason: StopToolUse,
		Parts: []Part{
			{Type: PartThinking, Text: "The user wants weather.", Signature: "c2ln"},
			{Type: PartText, Text: `Let me check "now".`},
			{Type: PartToolCall, ToolCallID: "call_a", ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
			{Type: PartToolCall, ToolCallID: "call_b", ToolName: "get_time", Arguments: "{}"},
		},
		Usage: Usage{Input: 30, Output: 40, Cached: 10, Reasoning: 12}})
	if final.RawJSON() != string(whole) {
		t.Errorf("streamed final\n%s\nwhole\n%s", final.RawJSON(), whole)
	}
}

func TestResponsesStreamIncompleteAndSynthesizedStart(t *testing.T) {
	respFixNow(t)
	stream := respRun(StreamOptions{Model: "m"}, []StreamEvent{
		{Type: EvText, Text: "cut "},
		{Type: EvText, Text: "off"},
		{Type: EvFinish, StopReason: StopMaxTokens},
	})
	events := respCheckFraming(t, stream)
	last := events[len(events)-1]
	if last.Get("type").Str != "response.incomplete" || last.Get("response.status").Str != "incomplete" ||
		last.Get("response.incomplete_details.reason").Str != "max_output_tokens" || last.Get("response.output.0.status").Str != "incomplete" {
		t.Fatalf("last %s", last.Raw)
	}
	if id := events[0].Get("response.id").Str; !strings.HasPrefix(id, "resp_") || last.Get("response.id").Str != id {
		t.Fatalf("ids %q %q", id, last.Get("response.id").Str)
	}
	if last.Get("response.model").Str != "m" {
		t.Fatal(last.Raw)
	}
}

func TestResponsesStreamSignatureOnly(t *testing.T) {
	respFixNow(t)
	stream := respRun(StreamOptions{}, []StreamEvent{
		{Type: EvStart, ID: "g1", Model: "gemini-x"},
		{Type: EvThinking, Text: "unsigned"},
		{Type: EvSignature, Redacted: true, Text: "r0"},
		{Type: EvText, Text: "a"},
		{Type: EvSignature, Text: "thoughtsig"},
		{Type: EvSignature, Redacted: true, Text: "redacted-blob"},
		{Type: EvSignature, Text: ""}, // nothing to carry
		{Type: EvToolStart, Index: 0, ToolCallID: "", ToolName: "f"},
		{Type: EvFinish, StopReason: StopToolUse},
	})
	events := respCheckFraming(t, stream)
	final := events[len(events)-1].Get("response")
	if final.Get("model").Str != "gemini-x" {
		t.Errorf("model %s", final.Get("model").Raw)
	}
	out := final.Get("output").Array()
	if len(out) != 6 || out[0].Get("summary.0.text").Str != "unsigned" || out[0].Get("encrypted_content").Exists() ||
		out[1].Get("encrypted_content").Str != "llmproxy:redacted:r0" ||
		out[3].Get("encrypted_content").Str != "llmproxy:sig:thoughtsig" || out[3].Get("summary").Raw != "[]" ||
		out[4].Get("encrypted_content").Str != "llmproxy:redacted:redacted-blob" ||
		out[5].Get("call_id").Str == "" || out[5].Get("arguments").Str != "{}" {
		t.Fatalf("output %s", final.Get("output").Raw)
	}
}

func TestResponsesStreamError(t *testing.T) {
	respFixNow(t)
	stream := respRun(StreamOptions{Model: "m"}, []StreamEvent{
		{Type: EvStart, ID: "x"},
		{Type: EvText, Text: "partial"},
		{Type: EvError, Text: "upstream went away", Status: 502},
		{Type: EvText, Text: "more"},
		{Type: EvFinish, StopReason: StopEnd},
	})
	events := respCheckFraming(t, stream)
	last := events[len(events)-1]
	if last.Get("type").Str != "response.failed" || last.Get("response.status").Str != "failed" ||
		last.Get("response.error.code").Str != "server_error" || last.Get("response.error.message").Str != "upstream went away" {
		t.Fatalf("last %s", last.Raw)
	}
	// The SDK reads it as an event, not a transport error.
	client := respTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(stream)
	})
	s := client.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "m", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("q")}})
	var failed responses.ResponseFailedEvent
	for s.Next() {
		if s.Current().Type == "response.failed" {
			failed = s.Current().AsResponseFailed()
		}
	}
	if s.Err() != nil || failed.Response.Error.Message != "upstream went away" || failed.Response.Status != "failed" {
		t.Fatalf("err %v failed %+v", s.Err(), failed.Response.Error)
	}

	// An error before anything else still opens the response first; 429
	// is a rate limit.
	stream = respRun(StreamOptions{Model: "m"}, []StreamEvent{{Type: EvError, Text: "slow down", Status: 429}})
	events = respCheckFraming(t, stream)
	if len(events) != 3 || events[2].Get("response.error.code").Str != "rate_limit_exceeded" {
		t.Fatalf("%s", stream)
	}
}

func FuzzDecodeResponsesRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","input":"hi"}`,
		`{"model":"m","instructions":"sys","input":[{"role":"developer","content":"d"},{"role":"user","content":[{"type":"input_text","text":"x"},{"type":"input_image","image_url":"data:image/png;base64,AAAA"}]}],"stream":true}`,
		`{"model":"m","input":[{"role":"user","content":"q"},{"type":"reasoning","summary":[{"type":"summary_text","text":"t"}],"encrypted_content":"llmproxy:sig:abc"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"r"}]}]}`,
		`{"model":"m","input":"q","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"tool_choice":{"type":"function","name":"f"},"text":{"format":{"type":"json_schema","name":"n","schema":{}}},"reasoning":{"effort":"none"},"max_output_tokens":10,"temperature":1,"top_p":1,"parallel_tool_calls":true}`,
		`{"model":"m","input":"q","previous_response_id":"resp_1"}`,
		`{"model":"m","input":[{"type":"item_reference","id":"x"}]}`,
		`{"model":"m","input":[{"type":"reasoning","summary":[],"encrypted_content":"llmproxy:redacted:"}]}`,
		`{}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeResponsesRequest(body)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("not a RequestError: %v", err)
			}
			return
		}
		if r.Model == "" || len(r.Messages) == 0 {
			t.Fatalf("accepted a request without model or messages: %s", body)
		}
		for _, m := range r.Messages {
			if len(m.Parts) == 0 {
				t.Fatalf("empty message from %s", body)
			}
		}
	})
}

// The stream encoder keeps its invariants whatever the event sequence.
func FuzzResponsesStreamEncoder(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{1, 1, 4, 5, 5, 4, 5, 2, 3, 1, 7})
	f.Add([]byte{2, 2, 3, 4, 8})
	f.Fuzz(func(t *testing.T, ops []byte) {
		respFixNow(t)
		evs := []StreamEvent{}
		for i, op := range ops {
			ev := StreamEvent{Type: EventType(op % 9)}
			switch ev.Type {
			case EvStart:
				ev.ID, ev.Model = "id", "m"
			case EvText, EvThinking, EvSignature:
				ev.Text = strings.Repeat("x", int(op/9)%3)
				ev.Redacted = op&0x80 != 0
			case EvToolStart, EvToolArgs:
				ev.Index = int(op/9) % 3
				ev.ToolName, ev.ToolCallID = "f", "c"
				if op&0x40 != 0 {
					ev.Args = `{"a":1}`
				}
			case EvUsage:
				ev.Usage = Usage{Input: int64(i), Output: 1}
			case EvFinish:
				ev.StopReason = []StopReason{StopEnd, StopMaxTokens, StopToolUse}[int(op/9)%3]
			}
			evs = append(evs, ev)
		}
		evs = append(evs, StreamEvent{Type: EvFinish, StopReason: StopEnd})
		// Fragments are whole objects here, so several make invalid JSON.
		respCheckFramingArgs(t, respRun(StreamOptions{}, evs), false)
	})
}

// What a stateless client sends back (the output items of the previous
// response, as they came) decodes to the parts the provider answered, with
// their reasoning signatures.
func TestResponsesOutputRoundTrip(t *testing.T) {
	respFixNow(t)
	parts := []Part{
		{Type: PartThinking, Text: "think", Signature: "sig-1"},
		{Type: PartThinking, Redacted: true, Data: "blob"},
		{Type: PartThinking, Signature: "bare-sig"},
		{Type: PartText, Text: "Calling."},
		{Type: PartToolCall, ToolCallID: "toolu_1", ToolName: "f", Arguments: `{"x":1}`},
	}
	out := gjson.GetBytes(EncodeResponsesResponse(&Response{ID: "msg_1", Parts: parts, StopReason: StopToolUse}), "output").Raw
	body := `{"model":"m","input":[{"role":"user","content":"go"}]}`
	body = strings.Replace(body, `}]}`, `},`+out[1:len(out)-1]+`,{"type":"function_call_output","call_id":"toolu_1","output":"done"}]}`, 1)
	r, err := DecodeResponsesRequest([]byte(body))
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	if len(r.Messages) != 3 || !reflect.DeepEqual(r.Messages[1].Parts, parts) {
		g, _ := json.MarshalIndent(r.Messages, "", " ")
		t.Fatalf("got %s", g)
	}
	if p := r.Messages[2].Parts[0]; p.ToolCallID != "toolu_1" || p.ToolName != "f" {
		t.Fatalf("tool result %+v", p)
	}
}

// A decoded Responses conversation is accepted by every provider encoder.
func TestResponsesRequestToProviders(t *testing.T) {
	body := `{"model":"m","instructions":"Be brief.","input":[
		{"role":"user","content":[{"type":"input_text","text":"Weather?"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]},
		{"type":"reasoning","summary":[{"type":"summary_text","text":"call it"}],"encrypted_content":"llmproxy:sig:c2ln"},
		{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
		{"type":"function_call_output","call_id":"call_1","output":"sunny"},
		{"role":"assistant","content":"Sunny."},
		{"role":"user","content":"Thanks"}],
		"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}},{"type":"function","name":"noparams"}],
		"tool_choice":"auto","max_output_tokens":100,"reasoning":{"effort":"low"},"text":{"format":{"type":"json_object"}},"stream":true}`
	r, err := DecodeResponsesRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for name, enc := range map[string]func(*Request) ([]byte, error){
		"chat": EncodeChatRequest, "anthropic": EncodeAnthropicRequest, "gemini": EncodeGeminiRequest,
	} {
		c := *r
		b, err := enc(&c)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !json.Valid(b) {
			t.Errorf("%s: invalid JSON %s", name, b)
		}
	}
}
