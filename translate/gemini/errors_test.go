package gemini

import (
	"strconv"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// One table (google.rpc status names) for error answers, the error chunk
// of a relayed stream and the stream encoder's error chunk.
func TestErrorTable(t *testing.T) {
	for code, status := range map[int]string{
		400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
		405: "UNIMPLEMENTED", 409: "ABORTED", 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED",
		499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "INTERNAL", 503: "UNAVAILABLE",
		504: "DEADLINE_EXCEEDED",
	} {
		body := `{"error":{"code":` + strconv.Itoa(code) + `,"message":"m \"q\"","status":"` + status + `"}}`
		if got := string(ErrorBody(code, `m "q"`, "ignored")); got != body {
			t.Errorf("%d: ErrorBody %s, want %s", code, got, body)
		}
		if got := string(StreamError(code, `m "q"`, "")); got != "data: "+body+"\n\n" {
			t.Errorf("%d: StreamError %q", code, got)
		}
		enc := NewStreamEncoder(translate.StreamOptions{})
		if got := string(enc.Encode(nil, &translate.StreamEvent{Type: translate.EvError, Text: `m "q"`, Status: code})); got != "data: "+body+"\r\n\r\n" {
			t.Errorf("%d: encoder %q", code, got)
		}
	}
}
