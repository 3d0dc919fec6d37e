package chat

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestDecodeResponse(t *testing.T) {
	cases := []struct {
		name, body string
		want       translate.Response
	}{
		{"openai tool calls", `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06",
			"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
				{"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
				{"id":"call_b","type":"function","function":{"name":"get_time","arguments":""}}],"refusal":null,"annotations":[]},
				"logprobs":null,"finish_reason":"tool_calls"}],
			"usage":{"prompt_tokens":80,"completion_tokens":20,"total_tokens":100,"prompt_tokens_details":{"cached_tokens":64,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
			translate.Response{ID: "chatcmpl-1", Model: "gpt-4o-2024-08-06", Parts: []translate.Part{
				{Type: translate.PartToolCall, ToolCallID: "call_a", ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
				{Type: translate.PartToolCall, ToolCallID: "call_b", ToolName: "get_time", Arguments: `{}`},
			}, StopReason: translate.StopToolUse, Usage: translate.Usage{Input: 80, Output: 20, Cached: 64}}},
		{"deepseek reasoning", `{"id":"ds-1","object":"chat.completion","created":1,"model":"deepseek-reasoner",
			"choices":[{"index":0,"message":{"role":"assistant","content":"4","reasoning_content":"2+2=4"},"logprobs":null,"finish_reason":"stop"}],
			"usage":{"prompt_tokens":10,"completion_tokens":30,"total_tokens":40,"completion_tokens_details":{"reasoning_tokens":25},"prompt_cache_hit_tokens":8,"prompt_cache_miss_tokens":2}}`,
			translate.Response{ID: "ds-1", Model: "deepseek-reasoner", Parts: []translate.Part{{Type: translate.PartThinking, Text: "2+2=4"}, {Type: translate.PartText, Text: "4"}},
				StopReason: translate.StopEnd, Usage: translate.Usage{Input: 10, Output: 30, Cached: 8, Reasoning: 25}}},
		{"openrouter reasoning, length", `{"id":"gen-1","model":"x/y","choices":[{"message":{"role":"assistant","content":"trunc","reasoning":"think"},"finish_reason":"length"}]}`,
			translate.Response{ID: "gen-1", Model: "x/y", Parts: []translate.Part{{Type: translate.PartThinking, Text: "think"}, {Type: translate.PartText, Text: "trunc"}}, StopReason: translate.StopMaxTokens}},
		{"content filter", `{"id":"c","model":"m","choices":[{"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}]}`,
			translate.Response{ID: "c", Model: "m", Parts: []translate.Part{}, StopReason: translate.StopContentFilter}},
		{"tool calls with finish stop (Ollama)", `{"id":"c","model":"m","choices":[{"message":{"role":"assistant","content":"","tool_calls":[{"id":"call_x","function":{"name":"f","arguments":{"a":1}}}]},"finish_reason":"stop"}]}`,
			translate.Response{ID: "c", Model: "m", Parts: []translate.Part{{Type: translate.PartToolCall, ToolCallID: "call_x", ToolName: "f", Arguments: `{"a":1}`}}, StopReason: translate.StopToolUse}},
		{"vllm stop sequence", `{"id":"c","model":"m","choices":[{"message":{"role":"assistant","content":"a"},"finish_reason":"stop","stop_reason":"###"}]}`,
			translate.Response{ID: "c", Model: "m", Parts: []translate.Part{{Type: translate.PartText, Text: "a"}}, StopReason: translate.StopSequence, StopSequence: "###"}},
		{"legacy function_call", `{"id":"c","model":"m","choices":[{"message":{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}},"finish_reason":"function_call"}]}`,
			translate.Response{ID: "c", Model: "m", Parts: []translate.Part{{Type: translate.PartToolCall, ToolCallID: translate.MakeToolCallID("call_", "c", 0), ToolName: "f", Arguments: `{}`}}, StopReason: translate.StopToolUse}},
		{"refusal", `{"id":"c","model":"m","choices":[{"message":{"role":"assistant","content":null,"refusal":"I can't help."},"finish_reason":"stop"}]}`,
			translate.Response{ID: "c", Model: "m", Parts: []translate.Part{{Type: translate.PartText, Text: "I can't help."}}, StopReason: translate.StopEnd}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := DecodeResponse([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := canon(t, r), canon(t, &c.want); got != want {
				t.Errorf("\n got: %s\nwant: %s", got, want)
			}
		})
	}
	for _, bad := range []string{`nope`, `[1]`, `{"error":{"message":"overloaded","type":"server_error"}}`} {
		if _, err := DecodeResponse([]byte(bad)); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestEncodeResponse(t *testing.T) {
	fixNow(t)
	r := &translate.Response{ID: "msg_01ABC", Model: "claude-sonnet-4-5", Parts: []translate.Part{
		{Type: translate.PartThinking, Text: "Let me ", Signature: "s1"},
		{Type: translate.PartThinking, Text: "think."},
		{Type: translate.PartThinking, Redacted: true, Data: "opaque"},
		{Type: translate.PartText, Text: "Calling."},
		{Type: translate.PartToolCall, ToolCallID: "toolu_1", ToolName: "f", Arguments: `{"a":"b"}`},
	}, StopReason: translate.StopToolUse, Usage: translate.Usage{Input: 100, Output: 50, Cached: 20, Reasoning: 30}}
	jsonEqual(t, EncodeResponse(r), `{"id":"chatcmpl-msg_01ABC","object":"chat.completion","created":1760000000,"model":"claude-sonnet-4-5",
		"choices":[{"index":0,"message":{"role":"assistant","content":"Calling.","reasoning_content":"Let me think.",
			"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"f","arguments":"{\"a\":\"b\"}"}}],
			"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"tool_calls"}],
		"usage":{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,
			"prompt_tokens_details":{"cached_tokens":20,"audio_tokens":0},
			"completion_tokens_details":{"reasoning_tokens":30,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},
		"system_fingerprint":null}`)

	only := EncodeResponse(&translate.Response{ID: "chatcmpl-x", Model: "m", Parts: []translate.Part{{Type: translate.PartToolCall, ToolCallID: "c", ToolName: "f", Arguments: "{}"}}, StopReason: translate.StopEnd})
	if c := gjson.GetBytes(only, "choices.0.message.content"); c.Type != gjson.Null {
		t.Errorf("content = %s, want null with only tool calls", c.Raw)
	}
	if fr := gjson.GetBytes(only, "choices.0.finish_reason").Str; fr != "tool_calls" {
		t.Errorf("finish_reason = %q, want tool_calls for a Gemini-style STOP with calls", fr)
	}
	if gjson.GetBytes(only, "choices.0.message.reasoning_content").Exists() || gjson.GetBytes(only, "id").Str != "chatcmpl-x" {
		t.Errorf("unexpected: %s", only)
	}
	for s, want := range map[translate.StopReason]string{translate.StopEnd: "stop", translate.StopSequence: "stop", translate.StopMaxTokens: "length", translate.StopContentFilter: "content_filter", "": "stop"} {
		out := EncodeResponse(&translate.Response{Parts: []translate.Part{{Type: translate.PartText, Text: "x"}}, StopReason: s})
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
		_, _ = w.Write(EncodeResponse(r))
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
	back, err := DecodeRequest(hist)
	if err != nil || len(back.Messages[0].Parts) != 2 || back.Messages[0].Parts[1].ToolCallID != "toolu_1" {
		t.Errorf("history: %v %s", err, hist)
	}
}
