package chat

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(fullRequest))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"tool","tool_call_id":"c","content":[{"type":"image_url","image_url":"data:;base64,"}]}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":{}}}]}],"stop":["a"],"n":1}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"DATA:image/png;base64,xx"}}]}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeRequest(body)
		if err != nil {
			var re *translate.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("non-RequestError: %v", err)
			}
			return
		}
		out, err := EncodeRequest(r)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("encoded invalid JSON: %s", out)
		}
		// A request of only empty system messages encodes "messages":[],
		// which the provider (and our decoder) rightly reject.
		if _, err := DecodeRequest(out); err != nil && (len(r.Messages) > 0 || r.System != "") {
			t.Fatalf("re-decode: %v\n%s", err, out)
		}
		if _, err := Patch(body, translate.Overrides{SystemPrompt: "s", Reasoning: "low"}); err != nil {
			t.Fatalf("patch of a valid body: %v", err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"hi","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`))
	f.Add([]byte(`{"id":"x","choices":[{"message":{"content":null,"reasoning_content":"r","tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}},{"function":{"arguments":{"a":1}}}]},"finish_reason":"tool_calls"}]}`))
	f.Add([]byte(`{"choices":[{"message":{"function_call":{"name":"f"},"content":[{"type":"text","text":"t"}]},"finish_reason":"stop","stop_reason":"x"}],"usage":{"prompt_cache_hit_tokens":3}}`))
	f.Add([]byte(`{"error":{"message":"m"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeResponse(body)
		if err != nil {
			return
		}
		out := EncodeResponse(r)
		if !json.Valid(out) {
			t.Fatalf("encoded invalid JSON: %s", out)
		}
		if _, err := DecodeResponse(out); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzStreamDecoder(f *testing.F) {
	// Compact seeds (whole recordings make the fuzzer spend its time
	// minimizing): each recording's first three and last three events.
	for _, name := range []string{"text.sse", "tool.sse", "reasoning.sse"} {
		raw, err := os.ReadFile("../testdata/streams/openai/" + name)
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
		d := NewStreamDecoder()
		evs, _ := decodeStream(t, d, string(sse))
		// The contract: nothing after the finish or error, which is last.
		for i, e := range evs {
			if (e.Type == translate.EvFinish || e.Type == translate.EvError) && i != len(evs)-1 {
				t.Fatalf("event after the end: %s", eventsString(evs))
			}
			if e.Type == translate.EvStart && i != 0 {
				t.Fatalf("late start: %s", eventsString(evs))
			}
		}
		if d.Finished() != (len(evs) > 0 && (evs[len(evs)-1].Type == translate.EvFinish || evs[len(evs)-1].Type == translate.EvError)) {
			t.Fatalf("Finished() = %v for %s", d.Finished(), eventsString(evs))
		}
		// Tool indexes are dense and started once, before their arguments.
		started := map[int]bool{}
		for _, e := range evs {
			switch e.Type {
			case translate.EvToolStart:
				if started[e.Index] || e.Index != len(started) {
					t.Fatalf("tool start %d: %s", e.Index, eventsString(evs))
				}
				started[e.Index] = true
			case translate.EvToolArgs:
				if !started[e.Index] || e.Args == "" {
					t.Fatalf("args for %d: %s", e.Index, eventsString(evs))
				}
			case translate.EvText, translate.EvThinking:
				if e.Text == "" {
					t.Fatal("empty text event")
				}
			}
		}
		// Whatever was decoded encodes to a stream the decoder reads back.
		enc := NewStreamEncoder(translate.StreamOptions{Model: "m", IncludeUsage: true})
		var out []byte
		for i := range evs {
			out = enc.Encode(out, &evs[i])
		}
		if _, err := decodeStream(t, NewStreamDecoder(), string(out)); err != nil {
			t.Fatalf("re-decode of encoder output: %v\n%s", err, out)
		}
	})
}
