package anthropic

import (
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// One table (Anthropic's documented error types) for error answers, the
// error event of a relayed stream and the stream encoder's error event.
func TestErrorTable(t *testing.T) {
	for status, typ := range map[int]string{
		400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
		403: "permission_error", 404: "not_found_error", 405: "invalid_request_error",
		413: "request_too_large", 422: "invalid_request_error", 429: "rate_limit_error",
		500: "api_error", 502: "api_error", 503: "overloaded_error", 504: "timeout_error",
		529: "overloaded_error",
	} {
		body := `{"type":"error","error":{"type":"` + typ + `","message":"m \"q\""}}`
		if got := string(ErrorBody(status, `m "q"`, "ignored")); got != body {
			t.Errorf("%d: ErrorBody %s, want %s", status, got, body)
		}
		event := "event: error\ndata: " + body + "\n\n"
		if got := string(StreamError(status, `m "q"`, "")); got != event {
			t.Errorf("%d: StreamError %q, want %q", status, got, event)
		}
		enc := NewStreamEncoder(translate.StreamOptions{})
		if got := string(enc.Encode(nil, &translate.StreamEvent{Type: translate.EvError, Text: `m "q"`, Status: status})); got != event {
			t.Errorf("%d: encoder %q, want %q", status, got, event)
		}
		if errorStatus(typ) == 0 {
			t.Errorf("%s: no status", typ)
		}
	}
}
