package chat

import (
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// One table (OpenAI's types and codes, with the proxy's own) for error
// answers, the error chunk of a relayed stream and the stream encoder's.
func TestErrorTable(t *testing.T) {
	for status, want := range map[int][2]string{
		400: {"invalid_request_error", "invalid_request"},
		401: {"authentication_error", "invalid_api_key"},
		402: {"insufficient_quota", "insufficient_quota"},
		403: {"invalid_request_error", "server_error"},
		404: {"invalid_request_error", "not_found"},
		405: {"invalid_request_error", "method_not_allowed"},
		413: {"invalid_request_error", "request_too_large"},
		429: {"rate_limit_error", "rate_limit_exceeded"},
		500: {"server_error", "server_error"},
		502: {"upstream_error", "upstream_error"},
		503: {"service_unavailable_error", "no_available_keys"},
		504: {"server_error", "timeout"},
	} {
		body := `{"error":{"message":"m \"q\"","type":"` + want[0] + `","code":"` + want[1] + `"}}`
		if got := string(ErrorBody(status, `m "q"`, "")); got != body {
			t.Errorf("%d: ErrorBody %s, want %s", status, got, body)
		}
		body = `{"error":{"message":"m \"q\"","type":"` + want[0] + `","code":"stream_interrupted"}}`
		if got := string(StreamError(status, `m "q"`, "stream_interrupted")); got != "data: "+body+"\n\n" {
			t.Errorf("%d: StreamError %q", status, got)
		}
		enc := NewStreamEncoder(translate.StreamOptions{})
		out := enc.Encode(nil, &translate.StreamEvent{Type: translate.EvError, Text: `m "q"`, Status: status})
		if string(out) != "data: "+body+"\n\n" {
			t.Errorf("%d: encoder %q", status, out)
		}
	}
	// An error of unknown status is the upstream's failure.
	out := NewStreamEncoder(translate.StreamOptions{}).Encode(nil, &translate.StreamEvent{Type: translate.EvError, Text: "x"})
	if want := `data: {"error":{"message":"x","type":"upstream_error","code":"stream_interrupted"}}` + "\n\n"; string(out) != want {
		t.Errorf("unknown status: %q", out)
	}
}
