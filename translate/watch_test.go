package translate_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// The recordings under testdata/streams, by the format they are in.
var recordedFormats = map[string]string{"openai": "openai-chat", "anthropic": "anthropic", "gemini": "gemini", "responses": "openai-responses"}

// The passthrough watch must agree with the format's stream decoder on
// usage and on whether a stream finished, for every recorded stream, whole
// and cut in half.
func TestWatchAgreesWithDecoders(t *testing.T) {
	for dir, name := range recordedFormats {
		prov := translate.Provider(name)
		files, _ := filepath.Glob(filepath.Join("testdata", "streams", dir, "*.sse"))
		if len(files) == 0 {
			t.Fatalf("no recordings for %s", name)
		}
		for _, f := range files {
			rec, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var events [][]byte
			rd := translate.NewSSEReader(bytes.NewReader(rec))
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
				dec, w := prov.NewStreamDecoder(), prov.NewWatch()
				var usage translate.Usage
				var evs []translate.StreamEvent
				for _, raw := range events[:n] {
					ev, _ := translate.NewSSEReader(bytes.NewReader(raw)).Next()
					evs, _ = dec.Decode(evs[:0], ev)
					for _, e := range evs {
						if e.Type == translate.EvUsage {
							usage.Merge(e.Usage)
						}
					}
					ev, _ = translate.NewSSEReader(bytes.NewReader(raw)).Next()
					w.Observe(ev)
				}
				if w.Finished() != dec.Finished() {
					t.Errorf("%s, %d of %d events: watch finished %v, decoder %v", f, n, len(events), w.Finished(), dec.Finished())
				}
				if dec.Finished() && w.Usage() != usage {
					t.Errorf("%s: watch usage %+v, decoder %+v", f, w.Usage(), usage)
				}
			}
		}
	}
}

func TestWatchErrors(t *testing.T) {
	cases := map[string]string{
		"openai-chat":      "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n",
		"anthropic":        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"boom\"}}\n\n",
		"gemini":           "data: {\"error\":{\"code\":500,\"message\":\"boom\",\"status\":\"INTERNAL\"}}\n\n",
		"openai-responses": "event: error\ndata: {\"type\":\"error\",\"sequence_number\":3,\"code\":\"server_error\",\"message\":\"boom\",\"param\":null}\n\n",
	}
	for name, in := range cases {
		ev, _ := translate.NewSSEReader(bytes.NewReader([]byte(in))).Next()
		w := translate.Provider(name).NewWatch()
		w.Observe(ev)
		if !w.Finished() || w.Failed() != "boom" {
			t.Errorf("%s: finished %v, failed %q", name, w.Finished(), w.Failed())
		}
	}
}
