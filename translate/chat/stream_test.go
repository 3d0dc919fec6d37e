package chat

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestStreamDecoderRecorded(t *testing.T) {
	cases := map[string]struct {
		want       string
		minPieces  int
		pieceEvent translate.EventType
	}{
		"text.sse":      {`start(chatcmpl-CB4dTq8WnR2xLmZ7vKjP0sYfE3hGa,gpt-4o-mini-2024-07-18) text(Hello! How can I help you today?) usage{"input":19,"output":9} finish(end)`, 9, translate.EvText},
		"tool.sse":      {`start(chatcmpl-CB4dUa1pHc6VeN9rQ4tYwJ8kL2mXo,gpt-4o-2024-08-06) tool[0,"call_q3YxT7mB0cKd9LwVnRz2HsPe","get_weather"] args[0,"{\"location\":\"Paris, France\",\"unit\":\"celsius\"}"] usage{"input":81,"output":19} finish(tool_use)`, 4, translate.EvToolArgs},
		"reasoning.sse": {`start(3f8a1c52-9d7e-4b6a-8e21-c5f04d9b7a13,deepseek-reasoner) think(Okay, the user asks what 2 + 2 is. That's simple addition: 2 plus 2 equals 4.) text(2 + 2 = **4**.) usage{"input":14,"output":40,"reasoning":31} finish(end)`, 8, translate.EvThinking},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile("../testdata/streams/openai/" + name)
			if err != nil {
				t.Fatal(err)
			}
			d := NewStreamDecoder()
			evs, err := decodeStream(t, d, string(raw))
			if err != nil {
				t.Fatal(err)
			}
			if !d.Finished() {
				t.Error("not finished")
			}
			if got := eventsString(merge(evs)); got != c.want {
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
				if (e.Type == translate.EvText || e.Type == translate.EvThinking || e.Type == translate.EvToolArgs) && e.Text == "" && e.Args == "" {
					t.Errorf("empty content event %+v", e)
				}
			}
		})
	}
}

func TestStreamDecoderEdges(t *testing.T) {
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
			`start(c1,m) tool[0,"` + translate.MakeToolCallID("call_", "c1", 0) + `","f"] args[0,"{\"a\""] args[0,":1}"] finish(tool_use)`, true},
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
			d := NewStreamDecoder()
			evs, err := decodeStream(t, d, c.sse)
			if err != nil {
				t.Fatal(err)
			}
			if got := eventsString(evs); got != c.want {
				t.Errorf("\n got: %s\nwant: %s", got, c.want)
			}
			if d.Finished() != c.finished {
				t.Errorf("Finished() = %v, want %v", d.Finished(), c.finished)
			}
		})
	}
	d := NewStreamDecoder()
	if _, err := d.Decode(nil, translate.Event{Data: []byte(`{"id":`)}); err == nil {
		t.Error("invalid JSON chunk: want an error")
	}
}

func TestStreamEncoder(t *testing.T) {
	fixNow(t)
	evs := []translate.StreamEvent{
		{Type: translate.EvStart, ID: "msg_1", Model: "claude-x"},
		{Type: translate.EvThinking, Text: "hm"},
		{Type: translate.EvSignature, Text: "sig"},
		{Type: translate.EvText, Text: "Hi \"you\""},
		{Type: translate.EvText, Text: ""},
		{Type: translate.EvToolStart, Index: 0, ToolCallID: "toolu_1", ToolName: "f"},
		{Type: translate.EvToolStart, Index: 0, ToolCallID: "toolu_1", ToolName: "f"}, // duplicate: ignored
		{Type: translate.EvToolArgs, Index: 0, Args: `{"a":`},
		{Type: translate.EvToolArgs, Index: 0, Args: ``},
		{Type: translate.EvToolArgs, Index: 5, Args: `x`}, // unknown call: ignored
		{Type: translate.EvToolArgs, Index: 0, Args: `1}`},
		{Type: translate.EvUsage, Usage: translate.Usage{Input: 10, Cached: 4}},
		{Type: translate.EvUsage, Usage: translate.Usage{Output: 7, Reasoning: 2}},
		{Type: translate.EvFinish, StopReason: translate.StopToolUse},
		{Type: translate.EvText, Text: "after the end"},
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
	enc := NewStreamEncoder(translate.StreamOptions{Model: "alias", IncludeUsage: true})
	var out []byte
	for i := range evs {
		out = enc.Encode(out, &evs[i])
	}
	if string(out) != want {
		t.Errorf("\n got: %s\nwant: %s", out, want)
	}

	// No include_usage: no usage fields at all; no EvStart: the opening is synthesized with o.Model.
	enc = NewStreamEncoder(translate.StreamOptions{Model: "alias"})
	out = nil
	for _, e := range []translate.StreamEvent{{Type: translate.EvText, Text: "x"}, {Type: translate.EvUsage, Usage: translate.Usage{Input: 1}}, {Type: translate.EvFinish, StopReason: translate.StopMaxTokens}} {
		out = enc.Encode(out, &e)
	}
	s := string(out)
	if strings.Contains(s, "usage") || strings.Count(s, "data: ") != 4 || !strings.HasSuffix(s, "data: [DONE]\n\n") ||
		!strings.Contains(s, `"model":"alias"`) || !strings.Contains(s, `"finish_reason":"length"`) || !strings.Contains(s, `"id":"chatcmpl-`) {
		t.Errorf("no-usage stream:\n%s", s)
	}

	// Error: the error event ends the stream, no [DONE].
	enc = NewStreamEncoder(translate.StreamOptions{Model: "alias", IncludeUsage: true})
	out = nil
	for _, e := range []translate.StreamEvent{{Type: translate.EvStart, ID: "chatcmpl-9", Model: "m"}, {Type: translate.EvText, Text: "par"}, {Type: translate.EvError, Text: "upstream died", Status: 502}, {Type: translate.EvFinish}} {
		out = enc.Encode(out, &e)
	}
	s = string(out)
	if !strings.HasSuffix(s, `data: {"error":{"message":"upstream died","type":"upstream_error","code":"stream_interrupted"}}`+"\n\n") || strings.Contains(s, "[DONE]") || strings.Contains(s, "finish_reason\":\"") {
		t.Errorf("error stream:\n%s", s)
	}
}

func TestStreamEncoderWithSDK(t *testing.T) {
	evs := []translate.StreamEvent{
		{Type: translate.EvStart, ID: "gen-1", Model: "upstream-model"},
		{Type: translate.EvThinking, Text: "think"},
		{Type: translate.EvText, Text: "Hello"},
		{Type: translate.EvText, Text: " world"},
		{Type: translate.EvToolStart, Index: 0, ToolCallID: "call_a", ToolName: "get_weather"},
		{Type: translate.EvToolArgs, Index: 0, Args: `{"city":`},
		{Type: translate.EvToolStart, Index: 1, ToolCallID: "call_b", ToolName: "get_time"},
		{Type: translate.EvToolArgs, Index: 1, Args: `{}`},
		{Type: translate.EvToolArgs, Index: 0, Args: `"Paris"}`},
		{Type: translate.EvUsage, Usage: translate.Usage{Input: 12, Output: 34, Cached: 5, Reasoning: 6}},
		{Type: translate.EvFinish, StopReason: translate.StopToolUse},
	}
	for _, inc := range []bool{true, false} {
		enc := NewStreamEncoder(translate.StreamOptions{Model: "alias", IncludeUsage: inc})
		var out []byte
		for i := range evs {
			out = enc.Encode(out, &evs[i])
		}
		acc, err, _ := sdkStream(t, out)
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
	enc := NewStreamEncoder(translate.StreamOptions{Model: "alias"})
	var out []byte
	for _, e := range []translate.StreamEvent{{Type: translate.EvText, Text: "partial"}, {Type: translate.EvError, Text: "upstream died"}} {
		out = enc.Encode(out, &e)
	}
	acc, err, _ := sdkStream(t, out)
	var se *ssestream.StreamError
	if !errors.As(err, &se) || !strings.Contains(se.Message, "upstream died") || acc.Choices[0].Message.Content != "partial" {
		t.Errorf("error stream: err %v, content %q", err, acc.Choices[0].Message.Content)
	}
}

// TestStreamRecordedThroughEncoder pipes every recorded provider stream
// through the decoder and encoder into the official client.
func TestStreamRecordedThroughEncoder(t *testing.T) {
	fixNow(t)
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
		raw, err := os.ReadFile("../testdata/streams/openai/" + name)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := decodeStream(t, NewStreamDecoder(), string(raw))
		if err != nil {
			t.Fatal(err)
		}
		enc := NewStreamEncoder(translate.StreamOptions{Model: "alias", IncludeUsage: true})
		var out []byte
		for i := range evs {
			out = enc.Encode(out, &evs[i])
		}
		acc, err, _ := sdkStream(t, out)
		if err != nil || !check(acc) {
			t.Errorf("%s: err %v, accumulated %+v", name, err, acc.ChatCompletion)
		}
		if name == "reasoning.sse" && !strings.Contains(string(out), `"delta":{"reasoning_content":"Okay"}`) {
			t.Errorf("reasoning not re-encoded as reasoning_content")
		}
		// Re-decoding our own output gives the same events.
		again, err := decodeStream(t, NewStreamDecoder(), string(out))
		if err != nil {
			t.Fatal(err)
		}
		if a, b := eventsString(merge(again)), eventsString(merge(evs)); a != strings.Replace(b, "start(3f8a", "start(chatcmpl-3f8a", 1) {
			t.Errorf("%s: re-decoded\n%s\nvs\n%s", name, a, b)
		}
	}
}

func TestIsDone(t *testing.T) {
	if !IsDone([]byte("[DONE]")) || IsDone([]byte(`{"choices":[]}`)) || IsDone(nil) {
		t.Error("IsDone does not tell OpenAI's end marker")
	}
}
