// Package respcheck checks OpenAI Responses event streams in tests: the
// responses package's own, and the golden harness that runs every
// provider's recordings through the Responses stream encoder.
package respcheck

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Framing checks what every Responses stream must satisfy: whole
// SSE events whose name is the payload's type, sequence numbers 0, 1, ...,
// every item added is done, deltas add up to the done texts, one terminal
// event, last.
// validArgs asks that call arguments be valid JSON too (a fuzzer's
// fragments may not add up to JSON). It returns the events' payloads.
func Framing(t testing.TB, stream []byte, validArgs bool) (events []gjson.Result) {
	t.Helper()
	rd := translate.NewSSEReader(bytes.NewReader(stream))
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
		textKey := key
		if si := d.Get("summary_index"); si.Exists() {
			textKey += "/" + si.Raw // each summary part has its own text
		}
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
		case "response.output_text.delta", "response.reasoning_summary_text.delta", "response.function_call_arguments.delta",
			"response.custom_tool_call_input.delta":
			if d.Get("delta").Str == "" {
				t.Fatalf("empty delta: %s", ev.Data)
			}
			if added[oi] != key {
				t.Fatalf("delta for an item not open: %s", ev.Data)
			}
			texts[textKey] += d.Get("delta").Str
		case "response.output_text.done", "response.reasoning_summary_text.done":
			if texts[textKey] != d.Get("text").Str {
				t.Fatalf("done text %q, deltas %q", d.Get("text").Str, texts[textKey])
			}
		case "response.custom_tool_call_input.done":
			if texts[key] != d.Get("input").Str {
				t.Fatalf("input %q, deltas %q", d.Get("input").Str, texts[key])
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
