package responses

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
	"github.com/llmproxy/caddy-llm-proxy/translate/anthropic"
	"github.com/llmproxy/caddy-llm-proxy/translate/chat"
	"github.com/llmproxy/caddy-llm-proxy/translate/gemini"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *translate.Request
	}{
		{
			name: "string input",
			body: `{"model":"gpt-x","input":"Hello"}`,
			want: &translate.Request{Model: "gpt-x", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "Hello"}}}}},
		},
		{
			name: "instructions then system and developer messages",
			body: `{"model":"m","instructions":"Be brief.","input":[
				{"role":"system","content":"You are a cat."},
				{"type":"message","role":"developer","content":[{"type":"input_text","text":"Meow only."},{"type":"input_text","text":"Always."}]},
				{"role":"user","content":"hi"}]}`,
			want: &translate.Request{Model: "m", System: "Be brief.\n\nYou are a cat.\n\nMeow only.\nAlways.",
				Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "hi"}}}}},
		},
		{
			name: "images",
			body: `{"model":"m","input":[{"role":"user","content":[
				{"type":"input_text","text":"What is this?"},
				{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"},
				{"type":"input_image","image_url":"https://example.com/cat.jpg","detail":"auto"}]}]}`,
			want: &translate.Request{Model: "m", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{
				{Type: translate.PartText, Text: "What is this?"},
				{Type: translate.PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="},
				{Type: translate.PartImage, URL: "https://example.com/cat.jpg"},
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
			want: &translate.Request{Model: "m", Messages: []translate.Message{
				{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "Weather in Paris and Rome?"}}},
				{Role: translate.RoleAssistant, Parts: []translate.Part{
					{Type: translate.PartThinking, Text: "Need two calls."},
					{Type: translate.PartText, Text: "Checking."},
					{Type: translate.PartToolCall, ToolCallID: "call_a", ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
					{Type: translate.PartToolCall, ToolCallID: "call_b", ToolName: "get_weather", Arguments: `{}`},
				}},
				{Role: translate.RoleTool, Parts: []translate.Part{
					{Type: translate.PartToolResult, ToolCallID: "call_a", ToolName: "get_weather", Content: []translate.Part{{Type: translate.PartText, Text: "18C"}}},
					{Type: translate.PartToolResult, ToolCallID: "call_b", ToolName: "get_weather", Content: []translate.Part{{Type: translate.PartText, Text: "21C"}, {Type: translate.PartImage, URL: "https://example.com/map.png"}}},
				}},
				{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartText, Text: "Paris 18C, Rome 21C."}}},
				{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "Thanks"}}},
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
			want: &translate.Request{Model: "m", Messages: []translate.Message{
				{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "a"}}},
				{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "b"}}},
				{Role: translate.RoleAssistant, Parts: []translate.Part{
					{Type: translate.PartThinking, Text: "x\n\ny", Signature: "EqQBCkYI"},
					{Type: translate.PartThinking, Redacted: true, Data: "EmwKAhgB"},
					{Type: translate.PartText, Text: "I can't."},
				}},
				{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "c"}}},
			}},
		},
		{
			name: "settings",
			body: `{"model":"m","input":"q","tools":[{"type":"function","name":"f","description":"does f","parameters":{"type":"object","properties":{"a":{"type":"string"}}},"strict":true},{"type":"function","name":"g","parameters":null,"strict":false}],
				"tool_choice":{"type":"function","name":"f"},"parallel_tool_calls":false,"max_output_tokens":500,"temperature":0.2,"top_p":0.9,
				"text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"},"strict":true},"verbosity":"low"},
				"reasoning":{"effort":"high","summary":"auto"},"stream":true,"user":"u-1",
				"store":false,"metadata":{"k":"v"},"truncation":"auto","include":["reasoning.encrypted_content"],"service_tier":"auto","prompt_cache_key":"x","top_logprobs":2}`,
			want: &translate.Request{Model: "m", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "q"}}}},
				Tools: []translate.Tool{
					{Name: "f", Description: "does f", Parameters: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`)},
					{Name: "g"},
				},
				ToolChoice: &translate.ToolChoice{Mode: "tool", Name: "f"}, ParallelToolCalls: ptr(false),
				MaxTokens: 500, Temperature: ptr(0.2), TopP: ptr(0.9),
				ResponseFormat: &translate.ResponseFormat{Type: "json_schema", Name: "out", Schema: json.RawMessage(`{"type":"object"}`), Strict: true},
				Reasoning:      &translate.Reasoning{Effort: "high"}, Stream: true, User: "u-1"},
		},
		{
			name: "tool_choice string, json_object, reasoning none, safety_identifier",
			body: `{"model":"m","input":"q","tool_choice":"required","text":{"format":{"type":"json_object"}},"reasoning":{"effort":"none"},"safety_identifier":"s-1"}`,
			want: &translate.Request{Model: "m", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "q"}}}},
				ToolChoice: &translate.ToolChoice{Mode: "required"}, ResponseFormat: &translate.ResponseFormat{Type: "json_object"},
				Reasoning: &translate.Reasoning{Off: true}, User: "s-1"},
		},
		{
			name: "minimal and xhigh efforts, text format, null fields",
			body: `{"model":"m","input":"q","reasoning":{"effort":"minimal"},"text":{"format":{"type":"text"}},"instructions":null,"previous_response_id":null,"temperature":null,"tools":null}`,
			want: &translate.Request{Model: "m", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "q"}}}},
				Reasoning: &translate.Reasoning{Effort: "low"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tt.body))
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

func TestDecodeRequestErrors(t *testing.T) {
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
		{`{"model":"m","prompt":{"id":"pmpt_1"}}`, "prompt", "stored prompt"},
		{`{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, "input[0]", "item_reference is not supported"},
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
		{`{"model":"m","input":"q","tools":[{"type":"function"}]}`, "tools[0].name", "name is required"},
		{`{"model":"m","input":"q","tools":[{"type":"function","name":"f","parameters":"x"}]}`, "tools[0].parameters", "JSON Schema"},
		{`{"model":"m","input":"q","tools":{}}`, "tools", "array"},
		{`{"model":"m","input":"q","tool_choice":"any"}`, "tool_choice", "tool_choice must be"},
		{`{"model":"m","input":"q","tool_choice":{"type":"function"}}`, "tool_choice.name", "name is required"},
		{`{"model":"m","input":"q","tool_choice":{"name":"f"}}`, "tool_choice.type", "type is required"},
		{`{"model":"m","input":"q","tools":[{"type":"namespace","tools":[]}]}`, "tools[0].name", "name is required"},
		{`{"model":"m","input":"q","tools":[{"type":"namespace","name":"n"}]}`, "tools[0].tools", "must be an array"},
		{`{"model":"m","input":"q","tools":[{"type":"namespace","name":"n","tools":[{"type":"custom"}]}]}`, "tools[0].tools[0].name", "name is required"},
		{`{"model":"m","input":"q","tools":[{"type":"custom","name":"c","format":"lark"}]}`, "tools[0].format", "object"},
		{`{"model":"m","input":[{"type":"additional_tools","tools":{}},{"role":"user","content":"a"}]}`, "input[0].tools", "array"},
		{`{"model":"m","input":[{"type":"custom_tool_call","call_id":"c","name":"exec","input":{}}]}`, "input[0].input", "must be a string"},
		{`{"model":"m","input":[{"type":"custom_tool_call","call_id":"c","input":"x"}]}`, "input[0].name", "name"},
		{`{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","namespace":1}]}`, "input[0].namespace", "string"},
		{`{"model":"m","input":[{"type":"custom_tool_call_output","call_id":"c"}]}`, "input[0].output", "output must be"},
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
		_, err := DecodeRequest([]byte(tt.body))
		var re *translate.RequestError
		if !errors.As(err, &re) {
			t.Errorf("%s: got %v, want a RequestError", tt.body, err)
			continue
		}
		if re.Param != tt.param || !strings.Contains(re.Message, tt.msg) {
			t.Errorf("%s: got param %q message %q, want param %q message containing %q", tt.body, re.Param, re.Message, tt.param, tt.msg)
		}
		// The engine names the parameter only when the message does not
		// start with it: a message that names it differently says it twice.
		if re.Param != "" && !strings.HasPrefix(re.Message, re.Param) {
			t.Errorf("%s: message %q does not start with its param %q", tt.body, re.Message, re.Param)
		}
	}
}

// The SDK's own request bodies decode: a function-calling conversation as
// openai-go marshals it.
func TestDecodeRequestFromSDK(t *testing.T) {
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
	got, err := DecodeRequest(body)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	want := &translate.Request{Model: "gpt-x", System: "Be helpful.", Messages: []translate.Message{
		{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "What's the weather in Paris?"}}},
		{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartToolCall, ToolCallID: "call_1", ToolName: "get_weather", Arguments: `{"city":"Paris"}`}}},
		{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "call_1", ToolName: "get_weather", Content: []translate.Part{{Type: translate.PartText, Text: "sunny"}}}}},
	},
		Tools:     []translate.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"properties":{"city":{"type":"string"}},"type":"object"}`)}},
		MaxTokens: 256, Temperature: ptr(0.5)}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		t.Fatalf("got\n%s\nfrom\n%s", g, body)
	}
}

// What a stateless client sends back (the output items of the previous
// response, as they came) decodes to the parts the provider answered, with
// their reasoning signatures.
func TestOutputRoundTrip(t *testing.T) {
	fixNow(t)
	parts := []translate.Part{
		{Type: translate.PartThinking, Text: "think", Signature: "sig-1"},
		{Type: translate.PartThinking, Redacted: true, Data: "blob"},
		{Type: translate.PartThinking, Signature: "bare-sig"},
		{Type: translate.PartText, Text: "Calling."},
		{Type: translate.PartToolCall, ToolCallID: "toolu_1", ToolName: "f", Arguments: `{"x":1}`},
	}
	out := gjson.GetBytes(EncodeResponse(&translate.Response{ID: "msg_1", Parts: parts, StopReason: translate.StopToolUse}), "output").Raw
	body := `{"model":"m","input":[{"role":"user","content":"go"}]}`
	body = strings.Replace(body, `}]}`, `},`+out[1:len(out)-1]+`,{"type":"function_call_output","call_id":"toolu_1","output":"done"}]}`, 1)
	r, err := DecodeRequest([]byte(body))
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
func TestRequestToProviders(t *testing.T) {
	body := `{"model":"m","instructions":"Be brief.","input":[
		{"role":"user","content":[{"type":"input_text","text":"Weather?"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]},
		{"type":"reasoning","summary":[{"type":"summary_text","text":"call it"}],"encrypted_content":"llmproxy:sig:c2ln"},
		{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
		{"type":"function_call_output","call_id":"call_1","output":"sunny"},
		{"role":"assistant","content":"Sunny."},
		{"role":"user","content":"Thanks"}],
		"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}},{"type":"function","name":"noparams"}],
		"tool_choice":"auto","max_output_tokens":100,"reasoning":{"effort":"low"},"text":{"format":{"type":"json_object"}},"stream":true}`
	r, err := DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for name, enc := range map[string]func(*translate.Request) ([]byte, error){
		"chat": chat.EncodeRequest, "anthropic": anthropic.EncodeRequest, "gemini": gemini.EncodeRequest,
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
