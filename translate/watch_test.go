package translate

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The passthrough watcher must agree with the provider's decoder on usage
// and on whether a stream finished, for every recorded stream, whole and
// cut in half.
func TestStreamWatchAgreesWithDecoders(t *testing.T) {
	decoders := map[string]func() StreamDecoder{
		"openai": NewChatStreamDecoder, "anthropic": NewAnthropicStreamDecoder, "gemini": NewGeminiStreamDecoder,
	}
	for prov, newDec := range decoders {
		files, _ := filepath.Glob(filepath.Join("testdata", "streams", prov, "*.sse"))
		if len(files) == 0 {
			t.Fatalf("no recordings for %s", prov)
		}
		for _, f := range files {
			rec, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var events [][]byte
			rd := NewSSEReader(bytes.NewReader(rec))
			for {
				ev, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				events = append(events, append([]byte(nil), ev.Raw...))
			}
			for _, n := range []int{len(events), len(events) / 2} {
				dec, w := newDec(), NewStreamWatch(prov)
				var usage Usage
				var evs []StreamEvent
				for _, raw := range events[:n] {
					ev, _ := NewSSEReader(bytes.NewReader(raw)).Next()
					evs, _ = dec.Decode(evs[:0], ev)
					for _, e := range evs {
						if e.Type == EvUsage {
							usage.Merge(e.Usage)
						}
					}
					ev, _ = NewSSEReader(bytes.NewReader(raw)).Next()
					w.Observe(ev)
				}
				if w.Finished != dec.Finished() {
					t.Errorf("%s, %d of %d events: watch finished %v, decoder %v", f, n, len(events), w.Finished, dec.Finished())
				}
				if dec.Finished() && w.Usage != usage {
					t.Errorf("%s: watch usage %+v, decoder %+v", f, w.Usage, usage)
				}
			}
		}
	}
}

func TestStreamWatchErrors(t *testing.T) {
	cases := map[string]string{
		"openai":    "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n",
		"anthropic": "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"boom\"}}\n\n",
		"gemini":    "data: {\"error\":{\"code\":500,\"message\":\"boom\",\"status\":\"INTERNAL\"}}\n\n",
	}
	for prov, in := range cases {
		ev, _ := NewSSEReader(bytes.NewReader([]byte(in))).Next()
		w := NewStreamWatch(prov)
		w.Observe(ev)
		if !w.Finished || w.Failed != "boom" {
			t.Errorf("%s: finished %v, failed %q", prov, w.Finished, w.Failed)
		}
	}
}
