package responses

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	openairesponses "github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
	"github.com/llmproxy/caddy-llm-proxy/translate/internal/respcheck"
)

// Tests of the provider half: what an `openai_responses` upstream gets,
// and how its answers and streams read.

// fernet is an OpenAI-style encrypted_content (a Fernet token).
var fernet = base64.URLEncoding.EncodeToString(append([]byte{0x80, 0, 0, 0, 0, 0x68, 0xed, 0xf1, 0x31}, bytes.Repeat([]byte{0xfb, 0x01}, 60)...))

func provJSONEqual(t *testing.T, got []byte, want string) {
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

func text(s string) translate.Part { return translate.Part{Type: translate.PartText, Text: s} }

func fullCanonical(model string) *translate.Request {
	return &translate.Request{
		Model:  model,
		System: "Be brief.",
		Messages: []translate.Message{
			{Role: translate.RoleUser, Parts: []translate.Part{text("Weather in Paris?"), {Type: translate.PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="}}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{
				{Type: translate.PartThinking, Text: "Use the tool.", Signature: fernet},
				{Type: translate.PartThinking, Text: "Claude's thought", Signature: "EqQBCkgIBxABGAIqQFYm"},
				text("Let me "), text("check."),
				{Type: translate.PartToolCall, ToolCallID: "call_1", ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
			}},
			{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "call_1", ToolName: "get_weather",
				Content: []translate.Part{text("sunny"), {Type: translate.PartImage, URL: "https://example.com/sun.png"}}, IsError: true}}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{text("Sunny.")}},
			{Role: translate.RoleUser, Parts: []translate.Part{text("Thanks")}},
		},
		Tools: []translate.Tool{
			{Name: "get_weather", Description: "Weather now", Parameters: json.RawMessage(`{ "type": "object", "properties": {"city": {"type": "string"}} }`)},
			{Name: "noparams"},
		},
		ToolChoice:        &translate.ToolChoice{Mode: "tool", Name: "get_weather"},
		ParallelToolCalls: ptr(false),
		MaxTokens:         5,
		Temperature:       ptr(0.2),
		TopP:              ptr(0.9),
		TopK:              ptr(3),
		Stop:              []string{"END"},
		ResponseFormat:    &translate.ResponseFormat{Type: "json_schema", Name: "weather report!", Schema: json.RawMessage(`{"type":"object"}`), Strict: true},
		Reasoning:         &translate.Reasoning{Budget: 20000},
		Stream:            true,
		User:              "user-1",
	}
}

func TestEncodeRequestReasoningModel(t *testing.T) {
	b, err := EncodeRequest(fullCanonical("gpt-5"))
	if err != nil {
		t.Fatal(err)
	}
	provJSONEqual(t, b, `{"model":"gpt-5","instructions":"Be brief.","input":[
		{"type":"message","role":"user","content":[{"type":"input_text","text":"Weather in Paris?"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo=","detail":"auto"}]},
		{"type":"reasoning","summary":[{"type":"summary_text","text":"Use the tool."}],"encrypted_content":"`+fernet+`"},
		{"type":"message","role":"assistant","content":"Let me check."},
		{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
		{"type":"function_call_output","call_id":"call_1","output":[{"type":"input_text","text":"sunny"},{"type":"input_image","image_url":"https://example.com/sun.png","detail":"auto"}]},
		{"type":"message","role":"assistant","content":"Sunny."},
		{"type":"message","role":"user","content":"Thanks"}],
		"tools":[{"type":"function","name":"get_weather","description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":false},
			{"type":"function","name":"noparams","parameters":{"type":"object","properties":{}},"strict":false}],
		"tool_choice":{"type":"function","name":"get_weather"},"parallel_tool_calls":false,
		"max_output_tokens":16,
		"text":{"format":{"type":"json_schema","name":"weather_report_","schema":{"type":"object"},"strict":true}},
		"reasoning":{"effort":"high"},"include":["reasoning.encrypted_content"],
		"store":false,"stream":true,"safety_identifier":"user-1"}`)

	// The official SDK reads it as its own request type.
	var p openairesponses.ResponseNewParams
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("openai-go: %v", err)
	}
	if len(p.Input.OfInputItemList) != 7 || len(p.Tools) != 2 || p.Reasoning.Effort != "high" {
		t.Errorf("openai-go read %+v", p)
	}
}

func TestEncodeRequestPlainModel(t *testing.T) {
	r := fullCanonical("gpt-4o")
	r.MaxTokens = 1 << 20
	r.User = strings.Repeat("u", 65)
	r.ToolChoice = &translate.ToolChoice{Mode: "required"}
	r.ParallelToolCalls = nil
	r.ResponseFormat = &translate.ResponseFormat{Type: "json_object"}
	r.Stream = false
	b, err := EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	root := gjson.ParseBytes(b)
	// No reasoning of any kind for a model that does not reason: no
	// parameter, no include, no reasoning items in the history.
	for _, f := range []string{"reasoning", "include", "stream", "parallel_tool_calls", "stop", "top_k"} {
		if root.Get(f).Exists() {
			t.Errorf("%s sent: %s", f, b)
		}
	}
	if strings.Contains(string(b), `"type":"reasoning"`) {
		t.Errorf("reasoning item sent to gpt-4o: %s", b)
	}
	for f, want := range map[string]string{
		"temperature": "0.2", "top_p": "0.9", "max_output_tokens": "16384", "tool_choice": `"required"`,
		"text": `{"format":{"type":"json_object"}}`, "store": "false",
	} {
		if got := root.Get(f).Raw; got != want {
			t.Errorf("%s = %s, want %s", f, got, want)
		}
	}
	if id := root.Get("safety_identifier").Str; len(id) != 64 || strings.Contains(id, "u") {
		t.Errorf("long user id sent as %q", id)
	}
}

// The history an upstream gets is self-contained, as store=false demands:
// every output answers a call before it, every call gets an output.
func TestEncodeRequestRepairsHistory(t *testing.T) {
	long := strings.Repeat("x", 80)
	r := &translate.Request{Model: "gpt-4o", Messages: []translate.Message{
		{Role: translate.RoleUser, Parts: []translate.Part{
			{Type: translate.PartToolResult, ToolCallID: "orphan", ToolName: "f", Content: []translate.Part{text("late")}},
			text("hi"),
		}},
		{Role: translate.RoleAssistant, Parts: []translate.Part{
			{Type: translate.PartToolCall, ToolCallID: "call_0", ToolName: "f", Arguments: ""},
			{Type: translate.PartToolCall, ToolCallID: long, ToolName: "g", Arguments: "{}"},
		}},
		{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: long, Content: []translate.Part{text("g done")}}}},
		// A second turn reusing call_0, whose result the client lost.
		{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartToolCall, ToolCallID: "call_0", ToolName: "f", Arguments: "{}"}}},
		{Role: translate.RoleUser, Parts: []translate.Part{text("go on")}},
	}}
	b, err := EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	hashed := callID(long)
	if len(hashed) > maxCallIDLen || hashed == long {
		t.Fatalf("long id kept: %q", hashed)
	}
	provJSONEqual(t, []byte(gjson.GetBytes(b, "input").Raw), `[
		{"type":"message","role":"user","content":"Result of tool call f (orphan):\nlate"},
		{"type":"message","role":"user","content":"hi"},
		{"type":"function_call","call_id":"call_0","name":"f","arguments":"{}"},
		{"type":"function_call","call_id":"`+hashed+`","name":"g","arguments":"{}"},
		{"type":"function_call_output","call_id":"`+hashed+`","output":"g done"},
		{"type":"function_call_output","call_id":"call_0","output":"`+missingResult+`"},
		{"type":"function_call","call_id":"call_0_2","name":"f","arguments":"{}"},
		{"type":"function_call_output","call_id":"call_0_2","output":"`+missingResult+`"},
		{"type":"message","role":"user","content":"go on"}]`)
}

func TestOpenAIEncrypted(t *testing.T) {
	raw, _ := base64.URLEncoding.DecodeString(fernet)
	for in, want := range map[string]string{
		fernet:                                 fernet,
		base64.StdEncoding.EncodeToString(raw): fernet, // as a Gemini client hands it back
		base64.RawURLEncoding.EncodeToString(raw): fernet,
		"EqQBCkgIBxABGAIqQFYmQhTiLqS3vNR9eMxwPc2Ct6v3Oa8Q5+hXb4s1WzJmGkUfDpNyRz0t7LcAeIoVq9xSgBw2JdKrT5nHuEyYmP8S": "",
		"gAAAA":                       "",
		"":                            "",
		"g" + strings.Repeat("!", 90): "",
	} {
		if got := OpenAIEncrypted(in); got != want {
			t.Errorf("OpenAIEncrypted(%.20q...) = %.20q, want %.20q", in, got, want)
		}
	}
}

const answerBody = `{
  "id": "resp_68ed1a2b3c4d5e6f",
  "object": "response",
  "created_at": 1760424240,
  "status": "completed",
  "background": false,
  "error": null,
  "incomplete_details": null,
  "model": "o4-mini-2025-04-16",
  "output": [
    {"id": "rs_1", "type": "reasoning", "encrypted_content": "gAAAAABoenc", "summary": [
      {"type": "summary_text", "text": "**Plan**"}, {"type": "summary_text", "text": "Call it."}]},
    {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant", "content": [
      {"type": "output_text", "annotations": [], "logprobs": [], "text": "Checking"},
      {"type": "output_text", "annotations": [], "logprobs": [], "text": " now."}]},
    {"id": "ws_1", "type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "x"}},
    {"id": "fc_1", "type": "function_call", "status": "completed", "arguments": "{\"city\":\"Paris\"}", "call_id": "call_abc", "name": "get_weather"},
    {"id": "fc_2", "type": "function_call", "status": "completed", "arguments": "", "call_id": "call_def", "name": "get_time"}
  ],
  "usage": {"input_tokens": 120, "input_tokens_details": {"cached_tokens": 64}, "output_tokens": 80,
    "output_tokens_details": {"reasoning_tokens": 50}, "total_tokens": 200}
}`

func TestDecodeResponse(t *testing.T) {
	r, err := DecodeResponse([]byte(answerBody))
	if err != nil {
		t.Fatal(err)
	}
	want := &translate.Response{ID: "resp_68ed1a2b3c4d5e6f", Model: "o4-mini-2025-04-16", Parts: []translate.Part{
		{Type: translate.PartThinking, Text: "**Plan**\n\nCall it.", Signature: "gAAAAABoenc"},
		text("Checking now."),
		{Type: translate.PartToolCall, ToolCallID: "call_abc", ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
		{Type: translate.PartToolCall, ToolCallID: "call_def", ToolName: "get_time", Arguments: `{}`},
	}, StopReason: translate.StopToolUse, Usage: translate.Usage{Input: 120, Cached: 64, Output: 80, Reasoning: 50}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}
	if u, ok := ReadUsage([]byte(answerBody)); !ok || u != want.Usage {
		t.Errorf("ReadUsage = %+v, %v", u, ok)
	}

	for body, stop := range map[string]translate.StopReason{
		`{"id":"r","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"message","content":[{"type":"output_text","text":"cut"}]}]}`: translate.StopMaxTokens,
		`{"id":"r","status":"incomplete","incomplete_details":{"reason":"content_filter"},"output":[]}`:                                                                      translate.StopContentFilter,
		`{"id":"r","status":"completed","output":[{"type":"message","content":[{"type":"refusal","refusal":"I can't."}]}]}`:                                                  translate.StopEnd,
	} {
		r, err := DecodeResponse([]byte(body))
		if err != nil || r.StopReason != stop {
			t.Errorf("%s: %+v, %v", body, r, err)
		}
	}
	for _, body := range []string{
		`{"id":"r","status":"failed","error":{"code":"server_error","message":"boom"},"output":[]}`,
		`{"error":{"message":"bad","type":"invalid_request_error"}}`,
		`{"id":"r"}`, `[]`, `nope`,
	} {
		if _, err := DecodeResponse([]byte(body)); err == nil {
			t.Errorf("%s: no error", body)
		}
	}
}

// decodeAll runs a stream through a fresh decoder.
func decodeAll(t *testing.T, stream string) ([]translate.StreamEvent, translate.StreamDecoder) {
	t.Helper()
	d := NewStreamDecoder()
	rd := translate.NewSSEReader(strings.NewReader(stream))
	var evs []translate.StreamEvent
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return evs, d
		}
		if err != nil {
			t.Fatal(err)
		}
		if evs, err = d.Decode(evs, ev); err != nil {
			t.Fatal(err)
		}
	}
}

func sse(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		typ := gjson.Get(e, "type").Str
		b.WriteString("event: " + typ + "\ndata: " + e + "\n\n")
	}
	return b.String()
}

// Compatible servers (and some OpenAI paths) send a text, summary or
// arguments only whole, on the done events: nothing is lost or repeated.
func TestStreamDecoderWholeItems(t *testing.T) {
	evs, d := decodeAll(t, sse(
		`{"type":"response.created","response":{"id":"resp_1","model":"gpt-oss-120b","status":"in_progress","output":[]}}`,
		`{"type":"response.output_item.done","output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"raw thought"}]}}`,
		`{"type":"response.output_item.added","output_index":1,"item":{"id":"msg_1","type":"message","status":"in_progress","content":[],"role":"assistant"}}`,
		`{"type":"response.output_text.delta","item_id":"msg_1","output_index":1,"content_index":0,"delta":"Hi"}`,
		`{"type":"response.output_item.done","output_index":1,"item":{"id":"msg_1","type":"message","status":"completed","content":[{"type":"output_text","text":"Hi"}],"role":"assistant"}}`,
		`{"type":"response.output_item.done","output_index":2,"item":{"id":"fc_1","type":"function_call","status":"completed","arguments":"{\"a\":1}","call_id":"call_9","name":"f"}}`,
		`{"type":"response.incomplete","response":{"id":"resp_1","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":5,"output_tokens":7}}}`,
		`{"type":"response.output_text.delta","delta":"after the end"}`,
	))
	want := []translate.StreamEvent{
		{Type: translate.EvStart, ID: "resp_1", Model: "gpt-oss-120b"},
		{Type: translate.EvThinking, Text: "raw thought"},
		{Type: translate.EvText, Text: "Hi"},
		{Type: translate.EvToolStart, Index: 0, ToolCallID: "call_9", ToolName: "f"},
		{Type: translate.EvToolArgs, Index: 0, Args: `{"a":1}`},
		{Type: translate.EvUsage, Usage: translate.Usage{Input: 5, Output: 7}},
		{Type: translate.EvFinish, StopReason: translate.StopMaxTokens},
	}
	if !reflect.DeepEqual(evs, want) || !d.Finished() {
		t.Errorf("got  %+v\nwant %+v", evs, want)
	}
}

func TestStreamDecoderFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		stream string
		msg    string
		status int
	}{
		"failed": {sse(
			`{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","model":"gpt-5","status":"in_progress"}}`,
			`{"type":"response.failed","sequence_number":1,"response":{"id":"resp_1","status":"failed","error":{"code":"rate_limit_exceeded","message":"slow down"},"usage":null}}`,
		), "slow down", 429},
		"error event": {sse(
			`{"type":"error","sequence_number":0,"code":"server_error","message":"The server had an error","param":null}`,
		), "The server had an error", 500},
		"nested error event": {sse(
			`{"type":"error","sequence_number":0,"error":{"type":"invalid_request_error","code":"invalid_prompt","message":"flagged","param":null}}`,
		), "flagged", 400},
	} {
		evs, d := decodeAll(t, tc.stream)
		last := evs[len(evs)-1]
		if evs[0].Type != translate.EvStart || last.Type != translate.EvError || last.Text != tc.msg || last.Status != tc.status || !d.Finished() {
			t.Errorf("%s: %+v", name, evs)
		}
		w := NewWatch()
		rd := translate.NewSSEReader(strings.NewReader(tc.stream))
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			w.Observe(ev)
		}
		if !w.Finished() || w.Failed() != tc.msg {
			t.Errorf("%s: watch finished %v, failed %q", name, w.Finished(), w.Failed())
		}
	}
	// A stream that stops before its terminal event is not finished.
	_, d := decodeAll(t, sse(`{"type":"response.created","response":{"id":"r"}}`, `{"type":"response.output_text.delta","delta":"x"}`))
	if d.Finished() {
		t.Error("cut stream reported finished")
	}
	if _, err := NewStreamDecoder().Decode(nil, translate.Event{Data: []byte("{oops")}); err == nil {
		t.Error("invalid JSON event accepted")
	}
}

// The watch reads events by name and, for servers that send none, by the
// payload's type.
func TestWatchWithoutEventNames(t *testing.T) {
	w := NewWatch()
	for _, data := range []string{
		`{"type":"response.created","response":{"id":"r"}}`,
		`{"type":"response.output_text.delta","delta":"x"}`,
		`{"type":"response.completed","response":{"id":"r","status":"completed","usage":{"input_tokens":3,"output_tokens":4,"input_tokens_details":{"cached_tokens":1},"output_tokens_details":{"reasoning_tokens":2}}}}`,
	} {
		w.Observe(translate.Event{Data: []byte(data)})
	}
	if !w.Finished() || w.Failed() != "" || w.Usage() != (translate.Usage{Input: 3, Output: 4, Cached: 1, Reasoning: 2}) {
		t.Errorf("finished %v failed %q usage %+v", w.Finished(), w.Failed(), w.Usage())
	}
}

func TestPatch(t *testing.T) {
	for _, tc := range []struct {
		body string
		o    translate.Overrides
		want string
	}{
		{`{"model":"gpt-5","input":"hi"}`, translate.Overrides{SystemPrompt: "S"},
			`{"model":"gpt-5","input":"hi","instructions":"S"}`},
		{`{"model":"gpt-5","instructions":"mine","input":"hi"}`, translate.Overrides{SystemPrompt: "S", Reasoning: "high"},
			`{"model":"gpt-5","instructions":"S\n\nmine","input":"hi","reasoning":{"effort":"high"}}`},
		{`{"model":"o3","input":"hi","reasoning":{"effort":"low","summary":"auto"}}`, translate.Overrides{Reasoning: "30000"},
			`{"model":"o3","input":"hi","reasoning":{"effort":"high","summary":"auto"}}`},
		{`{"model":"o3","input":"hi","reasoning":{"effort":"low"}}`, translate.Overrides{Reasoning: "off"},
			`{"model":"o3","input":"hi","reasoning":{}}`},
		{`{"model":"gpt-5","input":"hi","reasoning":null}`, translate.Overrides{Reasoning: "low"},
			`{"model":"gpt-5","input":"hi","reasoning":{"effort":"low"}}`},
		// A model that does not reason never gets the parameter.
		{`{"model":"gpt-4o","input":"hi"}`, translate.Overrides{Reasoning: "high"}, `{"model":"gpt-4o","input":"hi"}`},
	} {
		got, err := Patch([]byte(tc.body), tc.o)
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		provJSONEqual(t, got, tc.want)
	}
	for _, body := range []string{`nope`, `{"model":"m","instructions":5}`} {
		if _, err := Patch([]byte(body), translate.Overrides{SystemPrompt: "S"}); err == nil {
			t.Errorf("%s: patched", body)
		}
	}
	if got, _ := SetModel([]byte(`{"model":"a","input":"x"}`), "b"); string(got) != `{"model":"b","input":"x"}` {
		t.Errorf("SetModel: %s", got)
	}
}

// What the provider half writes, the client half reads back the same.
func TestEncodeRequestReadsBack(t *testing.T) {
	r := fullCanonical("gpt-4o")
	r.Messages[2].Parts[0].IsError = false // no field for it
	b, err := EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeRequest(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if back.System != r.System || len(back.Messages) != len(r.Messages) || len(back.Tools) != 2 ||
		back.ToolChoice.Name != "get_weather" || back.MaxTokens != 16 || *back.Temperature != 0.2 {
		t.Errorf("read back %+v\nfrom %s", back, b)
	}
	if got := back.Messages[1].Parts; len(got) != 2 || got[0].Text != "Let me check." || got[1].ToolCallID != "call_1" {
		t.Errorf("assistant turn read back as %+v", got)
	}
}

// The recorded provider streams and the fake's streams follow the rules
// every Responses stream follows (the encoder's output is held to them
// too).
func TestRecordedStreamsFraming(t *testing.T) {
	for _, name := range []string{"text", "tool", "reasoning"} {
		rec, err := os.ReadFile("../testdata/streams/responses/" + name + ".sse")
		if err != nil {
			t.Fatal(err)
		}
		respcheck.Framing(t, rec, true)
	}
}
