package responses

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
	"github.com/llmproxy/caddy-llm-proxy/translate/internal/respcheck"
)

func fixNow(t testing.TB) {
	t.Helper()
	old := translate.Now
	translate.Now = func() time.Time { return time.Unix(1767225600, 0) }
	t.Cleanup(func() { translate.Now = old })
}

func ptr[T any](v T) *T { return &v }

func testServer(t *testing.T, h http.HandlerFunc) openai.Client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("k"), option.WithMaxRetries(0))
}

// run encodes canonical events into one stream.
func run(o translate.StreamOptions, evs []translate.StreamEvent) []byte {
	enc := NewStreamEncoder(o)
	var out []byte
	for i := range evs {
		out = enc.Encode(out, &evs[i])
	}
	return out
}

// checkFraming checks what every Responses stream must satisfy: whole
// SSE events whose name is the payload's type, sequence numbers 0, 1, ...,
// every item added is done, deltas add up to the done texts, one terminal
// event, last.
func checkFraming(t *testing.T, stream []byte) []gjson.Result {
	return respcheck.Framing(t, stream, true)
}

func allEvents() []translate.StreamEvent {
	return []translate.StreamEvent{
		{Type: translate.EvStart, ID: "chatcmpl-1", Model: "upstream-model"},
		{Type: translate.EvUsage, Usage: translate.Usage{Input: 30, Cached: 10}},
		{Type: translate.EvThinking, Text: "The user "},
		{Type: translate.EvThinking, Text: "wants weather."},
		{Type: translate.EvSignature, Text: "c2ln"},
		{Type: translate.EvText, Text: "Let me "},
		{Type: translate.EvText, Text: ""},
		{Type: translate.EvText, Text: "check \"now\"."},
		{Type: translate.EvToolStart, Index: 0, ToolCallID: "call_a", ToolName: "get_weather"},
		{Type: translate.EvToolArgs, Index: 0, Args: `{"city":`},
		{Type: translate.EvToolArgs, Index: 0, Args: `"Paris"}`},
		{Type: translate.EvToolStart, Index: 0, ToolCallID: "call_a", ToolName: "get_weather"}, // duplicate: ignored
		{Type: translate.EvToolStart, Index: 1, ToolCallID: "call_b", ToolName: "get_time"},
		{Type: translate.EvToolArgs, Index: 7, Args: `junk`}, // unknown call: ignored
		{Type: translate.EvUsage, Usage: translate.Usage{Output: 40, Reasoning: 12}},
		{Type: translate.EvFinish, StopReason: translate.StopToolUse},
		{Type: translate.EvText, Text: "after the end"}, // ignored
	}
}
