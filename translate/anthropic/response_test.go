package anthropic

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestDecodeResponse(t *testing.T) {
	r, err := DecodeResponse([]byte(responseBody))
	if err != nil {
		t.Fatal(err)
	}
	want := &translate.Response{
		ID: "msg_01Aq9w938a90dw8q", Model: "claude-sonnet-4-5-20250929",
		Parts: []translate.Part{
			{Type: translate.PartThinking, Text: "Let me see.", Signature: "EqQBsig", SignatureFormat: Name},
			{Type: translate.PartThinking, Redacted: true, Data: "EmwKred", SignatureFormat: Name},
			{Type: translate.PartText, Text: "I'll look it up."},
			{Type: translate.PartToolCall, ToolCallID: "toolu_01A09q90qw90lq917835lq9", ToolName: "get_weather", Arguments: `{"location":"San Francisco, CA"}`},
		},
		StopReason: translate.StopToolUse,
		Usage:      translate.Usage{Input: 420, Cached: 300, Output: 50},
	}
	if g, w := jsonOf(t, r), jsonOf(t, want); g != w {
		t.Errorf("got  %s\nwant %s", g, w)
	}
	stops := map[string]translate.StopReason{"end_turn": translate.StopEnd, "max_tokens": translate.StopMaxTokens, "stop_sequence": translate.StopSequence,
		"tool_use": translate.StopToolUse, "refusal": translate.StopContentFilter, "pause_turn": translate.StopEnd, "model_context_window_exceeded": translate.StopMaxTokens}
	for s, w := range stops {
		r, err := DecodeResponse([]byte(`{"id":"x","content":[],"stop_reason":"` + s + `","stop_sequence":"##","usage":{}}`))
		if err != nil || r.StopReason != w || r.StopSequence != "##" {
			t.Errorf("%s: %v %v", s, r, err)
		}
	}
	if _, err := DecodeResponse([]byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)); err == nil || !strings.Contains(err.Error(), "Overloaded") {
		t.Errorf("error body: %v", err)
	}
	if _, err := DecodeResponse([]byte(`nope`)); err == nil {
		t.Error("invalid JSON accepted")
	}
}

func TestEncodeResponse(t *testing.T) {
	r := &translate.Response{
		ID: "chatcmpl-123", Model: "claude-sonnet-4-5",
		Parts: []translate.Part{
			{Type: translate.PartThinking, Text: "hmm", Signature: "sig"},
			{Type: translate.PartThinking, Redacted: true, Data: "red"},
			{Type: translate.PartText, Text: ""},
			{Type: translate.PartText, Text: "Hello <b>"},
			{Type: translate.PartToolCall, ToolCallID: "call_1", ToolName: "f", Arguments: `{"a": [1, 2]}`},
			{Type: translate.PartToolCall, ToolCallID: "call_2", ToolName: "g", Arguments: `{"broken`},
		},
		StopReason: translate.StopToolUse,
		Usage:      translate.Usage{Input: 120, Cached: 100, Output: 7},
	}
	b := EncodeResponse(r)
	want := `{"id":"msg_chatcmpl-123","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[` +
		`{"type":"thinking","thinking":"hmm","signature":"sig"},{"type":"redacted_thinking","data":"red"},{"type":"text","text":"Hello <b>"},` +
		`{"type":"tool_use","id":"call_1","name":"f","input":{"a":[1,2]}},{"type":"tool_use","id":"call_2","name":"g","input":{}}],` +
		`"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":100,"output_tokens":7}}`
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}

	// The SDK parses it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	client := anthropic.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("k"), option.WithMaxRetries(0))
	msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{Model: "m", MaxTokens: 5,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	if err != nil {
		t.Fatal(err)
	}
	if msg.ID != "msg_chatcmpl-123" || len(msg.Content) != 5 || msg.StopReason != anthropic.StopReasonToolUse ||
		msg.Usage.InputTokens != 20 || msg.Usage.CacheReadInputTokens != 100 || msg.Usage.OutputTokens != 7 {
		t.Errorf("sdk message %+v", msg)
	}
	if msg.Content[0].Thinking != "hmm" || msg.Content[0].Signature != "sig" || msg.Content[1].Data != "red" ||
		msg.Content[2].Text != "Hello <b>" || string(msg.Content[3].Input) != `{"a":[1,2]}` || msg.Content[4].Name != "g" {
		t.Errorf("sdk content %+v", msg.Content)
	}

	// Stop reasons, stop_sequence, generated ids, and a natural end with
	// tool calls.
	tests := []struct {
		r    translate.Response
		stop string
		seq  string
	}{
		{translate.Response{StopReason: translate.StopEnd}, "end_turn", "null"},
		{translate.Response{StopReason: translate.StopMaxTokens}, "max_tokens", "null"},
		{translate.Response{StopReason: translate.StopSequence, StopSequence: "END"}, "stop_sequence", `"END"`},
		{translate.Response{StopReason: translate.StopContentFilter}, "refusal", "null"},
		{translate.Response{StopReason: translate.StopEnd, Parts: []translate.Part{{Type: translate.PartToolCall, ToolName: "f"}}}, "tool_use", "null"},
		{translate.Response{}, "end_turn", "null"},
	}
	for _, tt := range tests {
		b := EncodeResponse(&tt.r)
		root := gjson.ParseBytes(b)
		if root.Get("stop_reason").Str != tt.stop || root.Get("stop_sequence").Raw != tt.seq || !strings.HasPrefix(root.Get("id").Str, "msg_") {
			t.Errorf("%+v -> %s", tt.r, b)
		}
		if !json.Valid(b) {
			t.Errorf("invalid JSON %s", b)
		}
	}
	b = EncodeResponse(&translate.Response{ID: "msg_keep", Parts: []translate.Part{{Type: translate.PartToolCall, ToolName: "f"}}})
	if gjson.GetBytes(b, "id").Str != "msg_keep" || !strings.HasPrefix(gjson.GetBytes(b, "content.0.id").Str, "toolu_") {
		t.Errorf("%s", b)
	}
}

func TestResponseRoundTrip(t *testing.T) {
	r1, err := DecodeResponse([]byte(responseBody))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := DecodeResponse(EncodeResponse(r1))
	if err != nil {
		t.Fatal(err)
	}
	// Cache writes are reported as uncached input on the way back.
	if g, w := jsonOf(t, r2), jsonOf(t, r1); g != w {
		t.Errorf("got  %s\nwant %s", g, w)
	}
}
