package chat

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func fixNow(t *testing.T) {
	t.Helper()
	old := translate.Now
	translate.Now = func() time.Time { return time.Unix(1760000000, 0) }
	t.Cleanup(func() { translate.Now = old })
}

func ptr[T any](v T) *T { return &v }

// jsonEqual compares two JSON texts structurally.
func jsonEqual(t *testing.T, got []byte, want string) {
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

func canon(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const fullRequest = `{
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

// decodeStream runs SSE text through a decoder.
func decodeStream(t testing.TB, d translate.StreamDecoder, sse string) ([]translate.StreamEvent, error) {
	rd := translate.NewSSEReader(strings.NewReader(sse))
	var evs []translate.StreamEvent
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

func eventsString(evs []translate.StreamEvent) string {
	var sb strings.Builder
	for _, e := range evs {
		switch e.Type {
		case translate.EvStart:
			sb.WriteString("start(" + e.ID + "," + e.Model + ")")
		case translate.EvText:
			sb.WriteString("text(" + e.Text + ")")
		case translate.EvThinking:
			sb.WriteString("think(" + e.Text + ")")
		case translate.EvSignature:
			sb.WriteString("sig(" + e.Text + ")")
		case translate.EvToolStart:
			b, _ := json.Marshal([]any{e.Index, e.ToolCallID, e.ToolName})
			sb.WriteString("tool" + string(b))
		case translate.EvToolArgs:
			b, _ := json.Marshal([]any{e.Index, e.Args})
			sb.WriteString("args" + string(b))
		case translate.EvUsage:
			b, _ := json.Marshal(e.Usage)
			sb.WriteString("usage" + string(b))
		case translate.EvFinish:
			sb.WriteString("finish(" + string(e.StopReason) + e.StopSequence + ")")
		case translate.EvError:
			b, _ := json.Marshal([]any{e.Text, e.Status})
			sb.WriteString("error" + string(b))
		}
		sb.WriteByte(' ')
	}
	return strings.TrimSpace(sb.String())
}

// merge joins consecutive text/thinking/args events so tests read well.
func merge(evs []translate.StreamEvent) []translate.StreamEvent {
	var out []translate.StreamEvent
	for _, e := range evs {
		if n := len(out); n > 0 && out[n-1].Type == e.Type {
			last := &out[n-1]
			switch {
			case e.Type == translate.EvText || e.Type == translate.EvThinking:
				last.Text += e.Text
				continue
			case e.Type == translate.EvToolArgs && last.Index == e.Index:
				last.Args += e.Args
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

// sdkStream serves sse to the official client and accumulates it.
func sdkStream(t *testing.T, sse []byte) (openai.ChatCompletionAccumulator, error, int) {
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
