package responses

import (
	"bytes"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
	"github.com/llmproxy/caddy-llm-proxy/translate/chat"
)

// Responses clients get OpenAI's error objects; a stream ends with
// response.failed, whose code is OpenAI's where the Responses API allows it.
func TestErrorTable(t *testing.T) {
	fixNow(t)
	for _, status := range []int{400, 402, 429, 500, 502, 503, 504} {
		if got, want := ErrorBody(status, "m", ""), chat.ErrorBody(status, "m", ""); !bytes.Equal(got, want) {
			t.Errorf("%d: ErrorBody %s, want %s", status, got, want)
		}
		code := "server_error"
		if status == 429 {
			code = "rate_limit_exceeded"
		}
		ev, err := translate.NewSSEReader(bytes.NewReader(StreamError(status, "m", "stream_interrupted"))).Next()
		d := gjson.ParseBytes(ev.Data)
		if err != nil || string(ev.Name) != "response.failed" || d.Get("type").Str != "response.failed" ||
			d.Get("response.status").Str != "failed" || d.Get("response.error.code").Str != code || d.Get("response.error.message").Str != "m" {
			t.Errorf("%d: StreamError %s (%v)", status, ev.Raw, err)
		}
		stream := run(translate.StreamOptions{}, []translate.StreamEvent{{Type: translate.EvError, Text: "m", Status: status}})
		events := checkFraming(t, stream)
		if last := events[len(events)-1]; last.Get("response.error.code").Str != code {
			t.Errorf("%d: encoder %s", status, last.Raw)
		}
	}
}
