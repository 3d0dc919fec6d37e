package anthropic

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestStreamDecoderRecordings(t *testing.T) {
	sig := "EqQBCkgIBxABGAIqQFYmQhTiLqS3vNR9eMxwPc2Ct6v3Oa8Q5+hXb4s1WzJmGkUfDpNyRz0t7LcAeIoVq9xSgBw2JdKrT5nHuEyYmP8SDOc4QvNWz0bA7kx3XBoMrGq1fJd9VhIiPtZ2IjCUzq4nT0Ls6Ow4dEy9pLm2bHkXr1jGFvQaT7cNwI5sYxK8oAeBu3DiMzhRlPfWgE6KhBkUdaT3eG9yRzh1fn0mLcHgGAE="
	tests := []struct {
		file string
		want []translate.StreamEvent
	}{
		{"text.sse", []translate.StreamEvent{
			{Type: translate.EvStart, ID: "msg_01XFDUDYJgAACzvnptvVoYEL", Model: "claude-sonnet-4-5-20250929"},
			{Type: translate.EvUsage, Usage: translate.Usage{Input: 19, Output: 1}},
			{Type: translate.EvText, Text: "The capital of France is Paris"},
			{Type: translate.EvText, Text: ". It has been the country's capital since"},
			{Type: translate.EvText, Text: " 508 AD, and it is also its largest city."},
			{Type: translate.EvUsage, Usage: translate.Usage{Input: 19, Output: 28}},
			{Type: translate.EvFinish, StopReason: translate.StopEnd},
		}},
		{"tool.sse", []translate.StreamEvent{
			{Type: translate.EvStart, ID: "msg_014p7gG3wDgGV9EUtLvnow3U", Model: "claude-sonnet-4-5-20250929"},
			{Type: translate.EvUsage, Usage: translate.Usage{Input: 586, Output: 2}},
			{Type: translate.EvText, Text: "I'll check the current weather in San Francisco"},
			{Type: translate.EvText, Text: " for you."},
			{Type: translate.EvToolStart, Index: 0, ToolCallID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", ToolName: "get_weather"},
			{Type: translate.EvToolArgs, Index: 0, Args: `{"location": "San`},
			{Type: translate.EvToolArgs, Index: 0, Args: ` Francisco, CA"`},
			{Type: translate.EvToolArgs, Index: 0, Args: `, "unit": "fah`},
			{Type: translate.EvToolArgs, Index: 0, Args: `renheit"}`},
			{Type: translate.EvUsage, Usage: translate.Usage{Input: 586, Output: 89}},
			{Type: translate.EvFinish, StopReason: translate.StopToolUse},
		}},
		{"reasoning.sse", []translate.StreamEvent{
			{Type: translate.EvStart, ID: "msg_01HCDu5LRGeP2o7s2xGmxyx8", Model: "claude-sonnet-4-5-20250929"},
			{Type: translate.EvUsage, Usage: translate.Usage{Input: 2060, Cached: 2048, Output: 4}},
			{Type: translate.EvThinking, Text: "The user wants 27 * 453. Let me"},
			{Type: translate.EvThinking, Text: " work it out: 27 * 453 = 27 * 400 + 27 * 53 = 10800 + 1431"},
			{Type: translate.EvThinking, Text: " = 12231."},
			{Type: translate.EvSignature, Text: sig, SignatureFormat: Name},
			{Type: translate.EvText, Text: "27 × 453 = **12,231**"},
			{Type: translate.EvText, Text: "\n\n(27 × 400 = 10,800 and 27 × 53 = 1,431.)"},
			{Type: translate.EvUsage, Usage: translate.Usage{Input: 2060, Cached: 2048, Output: 142}},
			{Type: translate.EvFinish, StopReason: translate.StopEnd},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := decodeAll(t, readStream(t, tt.file))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestStreamDecoderEdges(t *testing.T) {
	ev := func(name, data string) translate.Event {
		return translate.Event{Name: []byte(name), Data: []byte(data)}
	}

	// An error event ends the stream; later events are ignored.
	d := NewStreamDecoder()
	evs, _ := d.Decode(nil, ev("message_start", `{"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":3,"output_tokens":1}}}`))
	evs, _ = d.Decode(evs, ev("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	evs, _ = d.Decode(evs, ev("message_stop", `{"type":"message_stop"}`))
	if !d.Finished() || len(evs) != 3 || evs[2].Type != translate.EvError || evs[2].Text != "overloaded_error: Overloaded" || evs[2].Status != 529 {
		t.Errorf("%+v", evs)
	}

	// Content without message_start gets a synthesized start; redacted
	// thinking, a second tool, stop_sequence, empty deltas, ping, unknown
	// events and deltas for unknown blocks.
	d = NewStreamDecoder()
	var err error
	evs = nil
	for _, e := range []translate.Event{
		ev("ping", `{"type": "ping"}`),
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking","data":"EmwKAhgB"}}`),
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
		ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"a","input":{}}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}`),
		ev("content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"server_tool_use","id":"s1","name":"web_search","input":{}}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"q\":1}"}}`),
		ev("content_block_start", `{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"t2","name":"b","input":{}}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\"x\":2}"}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":4,"delta":{"type":"text_delta","text":""}}`),
		ev("something_new", `{"type":"something_new"}`),
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"output_tokens":9}}`),
		ev("message_stop", `{"type":"message_stop"}`),
	} {
		if evs, err = d.Decode(evs, e); err != nil {
			t.Fatal(err)
		}
	}
	want := []translate.StreamEvent{
		{Type: translate.EvStart},
		{Type: translate.EvSignature, Redacted: true, Text: "EmwKAhgB", SignatureFormat: Name},
		{Type: translate.EvToolStart, Index: 0, ToolCallID: "t1", ToolName: "a"},
		{Type: translate.EvToolArgs, Index: 0, Args: "{}"},
		{Type: translate.EvToolStart, Index: 1, ToolCallID: "t2", ToolName: "b"},
		{Type: translate.EvToolArgs, Index: 1, Args: `{"x":2}`},
		{Type: translate.EvUsage, Usage: translate.Usage{Output: 9}},
		{Type: translate.EvFinish, StopReason: translate.StopSequence, StopSequence: "END"},
	}
	if !reflect.DeepEqual(evs, want) {
		t.Errorf("got\n%+v\nwant\n%+v", evs, want)
	}

	// A cut stream is not finished; bad JSON is an error.
	d = NewStreamDecoder()
	_, _ = d.Decode(nil, ev("message_start", `{"type":"message_start","message":{"id":"m"}}`))
	if d.Finished() {
		t.Error("finished without message_stop")
	}
	if _, err := d.Decode(nil, ev("content_block_delta", `{"type":`)); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestStreamEncoderFraming(t *testing.T) {
	evs := []translate.StreamEvent{
		{Type: translate.EvStart, ID: "abc", Model: "upstream-model"},
		{Type: translate.EvText, Text: "Hi"},
		{Type: translate.EvUsage, Usage: translate.Usage{Input: 10, Cached: 4, Output: 2}},
		{Type: translate.EvFinish, StopReason: translate.StopEnd},
	}
	got := string(encodeAll(translate.StreamOptions{Model: "claude-x"}, evs))
	want := "event: message_start\n" +
		`data: {"type":"message_start","message":{"id":"msg_abc","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}` + "\n\n" +
		"event: content_block_start\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}` + "\n\n" +
		"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":0}` + "\n\n" +
		"event: message_delta\n" + `data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":6,"cache_creation_input_tokens":0,"cache_read_input_tokens":4,"output_tokens":2}}` + "\n\n" +
		"event: message_stop\n" + `data: {"type":"message_stop"}` + "\n\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestStreamEncoderSDK(t *testing.T) {
	tests := []struct {
		name    string
		evs     []translate.StreamEvent
		content string // the accumulated content, as type:value
		stop    anthropic.StopReason
		usage   [3]int64 // input, cache read, output
	}{
		{"text, no start, usage first", []translate.StreamEvent{
			{Type: translate.EvUsage, Usage: translate.Usage{Input: 5}},
			{Type: translate.EvText, Text: ""},
			{Type: translate.EvText, Text: "Hello"},
			{Type: translate.EvText, Text: ", world"},
			{Type: translate.EvUsage, Usage: translate.Usage{Output: 3}},
			{Type: translate.EvFinish, StopReason: translate.StopMaxTokens},
		}, "text:Hello, world", anthropic.StopReasonMaxTokens, [3]int64{5, 0, 3}},
		{"thinking, signature, text, tools", []translate.StreamEvent{
			{Type: translate.EvStart, ID: "msg_x", Model: "m"},
			{Type: translate.EvThinking, Text: "Let me "},
			{Type: translate.EvThinking, Text: "think."},
			{Type: translate.EvSignature, Text: "sig1"},
			{Type: translate.EvSignature, Redacted: true, Text: "redacted-data"},
			{Type: translate.EvText, Text: "Calling."},
			{Type: translate.EvToolStart, Index: 0, ToolCallID: "call_1", ToolName: "f"},
			{Type: translate.EvToolArgs, Index: 0, Args: `{"a"`},
			{Type: translate.EvToolArgs, Index: 0, Args: ""},
			{Type: translate.EvToolArgs, Index: 0, Args: `:1}`},
			{Type: translate.EvToolStart, Index: 0, ToolCallID: "call_1", ToolName: "f"}, // duplicate
			{Type: translate.EvToolStart, Index: 1, ToolName: "g"},
			{Type: translate.EvToolArgs, Index: 1, Args: `{}`},
			{Type: translate.EvToolArgs, Index: 0, Args: `junk`}, // a closed call: dropped
			{Type: translate.EvUsage, Usage: translate.Usage{Input: 100, Cached: 60, Output: 40}},
			{Type: translate.EvFinish, StopReason: translate.StopEnd},
		}, `thinking:Let me think.|sig1 redacted_thinking:redacted-data text:Calling. tool_use:f{"a":1} tool_use:g{}`, anthropic.StopReasonToolUse, [3]int64{40, 60, 40}},
		{"signature without thinking, thinking without signature", []translate.StreamEvent{
			{Type: translate.EvStart},
			{Type: translate.EvSignature, Text: "lonely"},
			{Type: translate.EvSignature, Text: ""},
			{Type: translate.EvThinking, Text: "unsigned"},
			{Type: translate.EvText, Text: "ok"},
			{Type: translate.EvFinish, StopReason: translate.StopSequence, StopSequence: "##"},
		}, `thinking:|lonely thinking:unsigned| text:ok`, anthropic.StopReasonStopSequence, [3]int64{0, 0, 0}},
		{"empty answer", []translate.StreamEvent{
			{Type: translate.EvStart},
			{Type: translate.EvFinish, StopReason: translate.StopContentFilter},
		}, ``, anthropic.StopReasonRefusal, [3]int64{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := encodeAll(translate.StreamOptions{Model: "claude-sonnet-4-5"}, tt.evs)
			checkStream(t, out)
			msg, _, err := sdkStream(t, out)
			if err != nil {
				t.Fatalf("sdk: %v\n%s", err, out)
			}
			var parts []string
			for _, c := range msg.Content {
				switch c.Type {
				case "text":
					parts = append(parts, "text:"+c.Text)
				case "thinking":
					parts = append(parts, "thinking:"+c.Thinking+"|"+c.Signature)
				case "redacted_thinking":
					parts = append(parts, "redacted_thinking:"+c.Data)
				case "tool_use":
					parts = append(parts, "tool_use:"+c.Name+string(c.Input))
					if !strings.HasPrefix(c.ID, "call_") && !strings.HasPrefix(c.ID, "toolu_") {
						t.Errorf("tool id %q", c.ID)
					}
				}
			}
			if got := strings.Join(parts, " "); got != tt.content {
				t.Errorf("content\n got %s\nwant %s", got, tt.content)
			}
			if msg.StopReason != tt.stop {
				t.Errorf("stop %q, want %q", msg.StopReason, tt.stop)
			}
			if u := msg.Usage; [3]int64{u.InputTokens, u.CacheReadInputTokens, u.OutputTokens} != tt.usage && tt.usage != [3]int64{} {
				t.Errorf("usage %+v, want %v", u, tt.usage)
			}
			if msg.Model != "claude-sonnet-4-5" || !strings.HasPrefix(msg.ID, "msg_") {
				t.Errorf("model %q id %q", msg.Model, msg.ID)
			}
		})
	}
}

func TestStreamEncoderError(t *testing.T) {
	for _, tt := range []struct {
		status int
		typ    string
	}{{0, "api_error"}, {429, "rate_limit_error"}, {529, "overloaded_error"}, {400, "invalid_request_error"}} {
		out := encodeAll(translate.StreamOptions{Model: "m"}, []translate.StreamEvent{
			{Type: translate.EvStart, ID: "msg_1"},
			{Type: translate.EvText, Text: "partial"},
			{Type: translate.EvError, Text: "upstream broke", Status: tt.status},
			{Type: translate.EvFinish, StopReason: translate.StopEnd}, // nothing after an error
		})
		checkStream(t, out)
		if !bytes.HasSuffix(out, []byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\""+tt.typ+"\",\"message\":\"upstream broke\"}}\n\n")) {
			t.Errorf("no error event at the end:\n%s", out)
		}
		_, _, err := sdkStream(t, out)
		var ae *anthropic.Error
		if !errors.As(err, &ae) || !strings.Contains(ae.Error(), "upstream broke") {
			t.Errorf("sdk error %v", err)
		}
	}
	// An error before anything else is still a whole error event.
	out := encodeAll(translate.StreamOptions{}, []translate.StreamEvent{{Type: translate.EvError, Text: "no upstream"}})
	if !bytes.HasPrefix(out, []byte("event: error\n")) {
		t.Errorf("%s", out)
	}
}

// Every recording, decoded and re-encoded, gives the SDK the same message
// as the recording itself.
func TestStreamRoundTripRecordings(t *testing.T) {
	for _, f := range []string{"text.sse", "tool.sse", "reasoning.sse"} {
		t.Run(f, func(t *testing.T) {
			raw := readStream(t, f)
			orig, types, err := sdkStream(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			if types[0] != "message_start" || types[len(types)-1] != "message_stop" {
				t.Errorf("recording event types %v", types)
			}
			out := encodeAll(translate.StreamOptions{Model: orig.Model}, decodeAll(t, raw))
			checkStream(t, out)
			again, _, err := sdkStream(t, out)
			if err != nil {
				t.Fatal(err)
			}
			if len(again.Content) != len(orig.Content) {
				t.Fatalf("content %d blocks, want %d", len(again.Content), len(orig.Content))
			}
			for i := range orig.Content {
				o, a := orig.Content[i], again.Content[i]
				if o.Type != a.Type || o.Text != a.Text || o.Thinking != a.Thinking || o.Signature != a.Signature ||
					o.ID != a.ID || o.Name != a.Name || string(o.Input) != string(a.Input) {
					t.Errorf("block %d: got %+v want %+v", i, a, o)
				}
			}
			if again.ID != orig.ID || again.StopReason != orig.StopReason || again.Usage.InputTokens != orig.Usage.InputTokens ||
				again.Usage.OutputTokens != orig.Usage.OutputTokens || again.Usage.CacheReadInputTokens != orig.Usage.CacheReadInputTokens {
				t.Errorf("message %s %s %+v, want %s %s %+v", again.ID, again.StopReason, again.Usage, orig.ID, orig.StopReason, orig.Usage)
			}
		})
	}
}
