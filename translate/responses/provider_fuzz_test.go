package responses

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Fuzz targets of the provider half.

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(answerBody))
	f.Add([]byte(`{"id":"r","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"message","content":[{"type":"refusal","refusal":"no"}]}],"usage":{"input_tokens":1}}`))
	f.Add([]byte(`{"response":{"id":"r","status":"completed","output":[{"type":"reasoning","content":[{"type":"reasoning_text","text":"t"}]},{"type":"function_call","arguments":{"a":1}}]}}`))
	f.Add([]byte(`{"id":"r","status":"failed","error":{"code":"server_error","message":"m"},"output":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeResponse(body)
		if err != nil {
			return
		}
		for _, p := range r.Parts {
			if p.Type == translate.PartToolCall && (p.ToolCallID == "" || p.Arguments == "") {
				t.Fatalf("tool call without id or arguments: %+v", p)
			}
		}
		// What was read encodes as a Responses answer that reads back.
		out := EncodeResponse(r)
		if !json.Valid(out) {
			t.Fatalf("encoded invalid JSON: %s", out)
		}
		if _, err := DecodeResponse(out); err != nil {
			t.Fatalf("re-decode: %v\n%s", err, out)
		}
	})
}

func FuzzStreamDecoder(f *testing.F) {
	// Compact seeds: each recording's first three and last three events.
	for _, name := range []string{"text.sse", "tool.sse", "reasoning.sse"} {
		raw, err := os.ReadFile("../testdata/streams/responses/" + name)
		if err != nil {
			f.Fatal(err)
		}
		evs := strings.SplitAfter(string(raw), "\n\n")
		evs = evs[:len(evs)-1]
		f.Add([]byte(strings.Join(evs[:3], "") + strings.Join(evs[len(evs)-3:], "")))
	}
	f.Add([]byte(sse(
		`{"type":"response.output_item.added","output_index":0,"item":{"id":"fc","type":"function_call","arguments":"{","call_id":"c","name":"f"}}`,
		`{"type":"response.function_call_arguments.delta","item_id":"fc","delta":"}"}`,
		`{"type":"response.output_item.done","output_index":0,"item":{"id":"fc","type":"function_call","arguments":"{}"}}`,
		`{"type":"response.reasoning_summary_part.added","item_id":"rs","summary_index":1}`,
		`{"type":"response.completed","response":{"status":"completed"}}`)))
	f.Add([]byte("event: error\ndata: {\"type\":\"error\",\"message\":\"m\"}\n\ndata: [DONE]\n\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		d := NewStreamDecoder()
		rd := translate.NewSSEReader(strings.NewReader(string(stream)))
		var evs []translate.StreamEvent
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			if evs, err = d.Decode(evs, ev); err != nil {
				break
			}
		}
		// The contract: a start first, nothing after the finish or error.
		for i, e := range evs {
			if (e.Type == translate.EvFinish || e.Type == translate.EvError) && i != len(evs)-1 {
				t.Fatalf("event after the end: %+v", evs)
			}
			if (e.Type == translate.EvStart) != (i == 0) {
				t.Fatalf("start not first, or twice: %+v", evs)
			}
		}
		end := len(evs) > 0 && (evs[len(evs)-1].Type == translate.EvFinish || evs[len(evs)-1].Type == translate.EvError)
		if d.Finished() != end {
			t.Fatalf("Finished() = %v for %+v", d.Finished(), evs)
		}
		// Tool indexes are dense and started once, before their arguments.
		started := map[int]bool{}
		for _, e := range evs {
			switch e.Type {
			case translate.EvToolStart:
				if started[e.Index] || e.Index != len(started) || e.ToolCallID == "" {
					t.Fatalf("tool start %d: %+v", e.Index, evs)
				}
				started[e.Index] = true
			case translate.EvToolArgs:
				if !started[e.Index] || e.Args == "" {
					t.Fatalf("args for %d: %+v", e.Index, evs)
				}
			case translate.EvText, translate.EvThinking:
				if e.Text == "" {
					t.Fatal("empty text event")
				}
			}
		}
		// The watch agrees with the decoder on the end and the usage.
		w := NewWatch()
		rd = translate.NewSSEReader(strings.NewReader(string(stream)))
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			w.Observe(ev)
		}
		if d.Finished() {
			var u translate.Usage
			for _, e := range evs {
				if e.Type == translate.EvUsage {
					u.Merge(e.Usage)
				}
			}
			if !w.Finished() || w.Usage() != u {
				t.Fatalf("watch finished %v usage %+v, decoder usage %+v", w.Finished(), w.Usage(), u)
			}
		}
	})
}

// Any request the client half reads, the provider half encodes as valid
// JSON that the client half reads again.
func FuzzEncodeRequest(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-5","instructions":"s","input":[{"role":"user","content":[{"type":"input_text","text":"x"},{"type":"input_image","image_url":"https://e/x.png"}]},{"type":"function_call","call_id":"c","name":"f","arguments":""},{"type":"function_call_output","call_id":"zz","output":"r"}],"reasoning":{"effort":"low"},"max_output_tokens":1,"stream":true,"user":"u"}`))
	f.Add([]byte(`{"model":"gpt-4o","input":"q","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"tool_choice":"required","text":{"format":{"type":"json_schema","name":"a b","schema":{}}},"temperature":9}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeRequest(body)
		if err != nil {
			return
		}
		out, err := EncodeRequest(r)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("encoded invalid JSON: %s", out)
		}
		if _, err := DecodeRequest(out); err != nil {
			t.Fatalf("re-decode: %v\n%s", err, out)
		}
	})
}
