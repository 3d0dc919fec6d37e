package llmproxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// Tests of issue 9: upstreams that misbehave after their headers (silent,
// corrupt, invalid, truncated, oversized, slow) and clients that send
// absurd input, as a client of each API sees them through a real Caddy.

// idle is the idle_timeout of these tests: short, so that a silent
// upstream costs little, yet far above a loaded machine's jitter.
const idle = 300 * time.Millisecond

// quick bounds what a failure may take: well under the clients' own 20 s.
const quick = 3 * time.Second

// apiAnswer is a client's raw answer, and how long it took.
type apiAnswer struct {
	status int
	header http.Header
	body   string
	took   time.Duration
}

// callAPI sends text to model in the client API api ("chat", "responses",
// "anthropic", "gemini"), streamed or not, and reads the whole answer.
func callAPI(t *testing.T, api, model string, stream bool, text string) apiAnswer {
	t.Helper()
	var path, body string
	h := http.Header{"Content-Type": {"application/json"}}
	switch api {
	case "chat":
		path = "/v1/chat/completions"
		body = fmt.Sprintf(`{"model":%q,"stream":%t,"messages":[{"role":"user","content":%q}]}`, model, stream, text)
	case "responses":
		path = "/v1/responses"
		body = fmt.Sprintf(`{"model":%q,"stream":%t,"input":%q}`, model, stream, text)
	case "anthropic":
		path = "/v1/messages"
		body = fmt.Sprintf(`{"model":%q,"max_tokens":100,"stream":%t,"messages":[{"role":"user","content":%q}]}`, model, stream, text)
		h.Set("anthropic-version", "2023-06-01")
	case "gemini":
		path = "/v1beta/models/" + model + ":generateContent"
		if stream {
			path = "/v1beta/models/" + model + ":streamGenerateContent?alt=sse"
		}
		body = fmt.Sprintf(`{"contents":[{"role":"user","parts":[{"text":%q}]}]}`, text)
	default:
		t.Fatalf("unknown api %q", api)
	}
	req, _ := http.NewRequest(http.MethodPost, proxyBase+path, strings.NewReader(body))
	req.Header = h
	start := time.Now()
	res, err := rawClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", api, model, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s %s: reading the answer after %s: %v", api, model, took, err)
	}
	shown := string(b)
	if len(shown) > 600 {
		shown = shown[:300] + " … " + shown[len(shown)-300:]
	}
	t.Logf("%s %s stream=%t: %d after %s: %s", api, truncate(model, 40), stream, res.StatusCode, took.Round(time.Millisecond), shown)
	return apiAnswer{status: res.StatusCode, header: res.Header, body: string(b), took: took}
}

// errorMessage is the message of an error answer in api's own shape, ""
// if the body is not one.
func errorMessage(api, body string) string {
	if api == "anthropic" && gjson.Get(body, "type").Str != "error" {
		return ""
	}
	// OpenAI (Chat and Responses), Anthropic and Gemini all nest it so.
	return gjson.Get(body, "error.message").Str
}

// sseEvent is one server-sent event of an answer.
type sseEvent struct{ name, data string }

// sseEvents splits a stream into its events, SSE comments (keepalives)
// left out; comments counts those.
func sseEvents(body string) (events []sseEvent, comments int) {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	for block := range strings.SplitSeq(body, "\n\n") {
		var ev sseEvent
		for line := range strings.SplitSeq(block, "\n") {
			switch {
			case strings.HasPrefix(line, ":"):
				comments++
			case strings.HasPrefix(line, "event:"):
				ev.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				ev.data = strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			}
		}
		if ev != (sseEvent{}) {
			events = append(events, ev)
		}
	}
	return events, comments
}

// streamFailure is the message of the error event that ends a stream in
// api's streaming format; "" if the stream does not end with one (or,
// for Chat, if it carries [DONE]).
func streamFailure(api, body string) string {
	events, _ := sseEvents(body)
	if len(events) == 0 {
		return ""
	}
	last := events[len(events)-1]
	switch api {
	case "chat":
		if strings.Contains(body, "data: [DONE]") {
			return ""
		}
		return gjson.Get(last.data, "error.message").Str
	case "responses":
		if last.name != "response.failed" {
			return ""
		}
		return gjson.Get(last.data, "response.error.message").Str
	case "anthropic":
		if last.name != "error" {
			return ""
		}
		return gjson.Get(last.data, "error.message").Str
	case "gemini":
		return gjson.Get(last.data, "error.message").Str
	}
	return ""
}

// streamText is the text a stream in api's format carries.
func streamText(api, body string) string {
	events, _ := sseEvents(body)
	var b strings.Builder
	for _, ev := range events {
		switch api {
		case "chat":
			b.WriteString(gjson.Get(ev.data, "choices.0.delta.content").Str)
		case "responses":
			if ev.name == "response.output_text.delta" {
				b.WriteString(gjson.Get(ev.data, "delta").Str)
			}
		case "anthropic":
			b.WriteString(gjson.Get(ev.data, "delta.text").Str)
		case "gemini":
			b.WriteString(gjson.Get(ev.data, "candidates.0.content.parts.0.text").Str)
		}
	}
	return b.String()
}

// answerText is the text of a whole answer in api's shape.
func answerText(api, body string) string {
	switch api {
	case "chat":
		return gjson.Get(body, "choices.0.message.content").Str
	case "responses":
		return gjson.Get(body, `output.#(type=="message").content.0.text`).Str
	case "anthropic":
		return gjson.Get(body, "content.0.text").Str
	case "gemini":
		return gjson.Get(body, "candidates.0.content.parts.0.text").Str
	}
	return ""
}

// logEntry is the newest request-log entry of an instance, once the
// request that the caller just finished is in it (the log is written as
// the handler returns, which may be just after the client has its answer).
func logEntry(t *testing.T, instance string, want func(gjson.Result) bool) (gjson.Result, int) {
	t.Helper()
	var e gjson.Result
	var size int
	eventually(t, 2*time.Second, "the request in the request log", func() bool {
		a := adminOK(t, 200, "GET", "/llm_proxy/"+instance+"/logs?limit=1", nil)
		e, size = gjson.Get(a.body, "logs.0"), len(a.body)
		return want(e)
	})
	return e, size
}

// settled checks that a key holds no slot after a failure, and its state.
func settled(t *testing.T, instance, upstream, secret string, state pool.State, reason string) {
	t.Helper()
	st := keyStatus(t, instance, upstream, secret)
	if st.Usage.InFlight != 0 || st.State != state || !strings.Contains(st.Reason, reason) {
		t.Errorf("key of %s: in flight %d, state %s %q; want 0, %s %q", upstream, st.Usage.InFlight, st.State, st.Reason, state, reason)
	}
}

// took checks a failure's duration: at least min, well under the client's
// own timeout.
func took(t *testing.T, what string, a apiAnswer, min time.Duration) {
	t.Helper()
	if a.took < min || a.took > quick {
		t.Errorf("%s took %s, want between %s and %s", what, a.took, min, quick)
	}
}

// An upstream that sends its headers and then nothing is cut off after
// idle_timeout: before anything reached the client that is an ordinary
// failure, retried on another key, and counted on the silent key like a
// 5xx (three in a row cool it down); with no other key, the client gets a
// 502 naming idle_timeout, and the key's slot is free at once.
func TestUpstreamSilentAfterHeaders(t *testing.T) {
	const silent, good = "sk-silent-0001", "sk-silent-good"
	up := fakeupstream.NewOpenAI(t, silent, good)
	name := instanceName(t)
	// Tiers make the order fixed: the silent key first, then the good one.
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		idle_timeout %s
		upstream first {
			provider openai
			base_url %s
			key %s
		}
		upstream second {
			provider openai
			base_url %s
			key %s
			priority 1
		}
	}`, name, idle, up.URL, silent, up.URL, good))
	up.SetBehavior(silent, fakeupstream.Behavior{Stall: true})

	cases := []struct {
		api    string
		stream bool
	}{
		{"chat", false},      // passthrough JSON
		{"anthropic", false}, // translated JSON
		{"chat", true},       // a stream silent before its first event
	}
	for i, c := range cases {
		a := callAPI(t, c.api, "gpt-4o", c.stream, "hi")
		what := fmt.Sprintf("%s stream=%t", c.api, c.stream)
		text := answerText(c.api, a.body)
		if c.stream {
			text = streamText(c.api, a.body)
		}
		if a.status != 200 || text != "echo: hi" {
			t.Fatalf("%s: %d %s; want the good key's answer", what, a.status, a.body)
		}
		took(t, what, a, idle)
		if up.Requests(silent) != i+1 || up.Requests(good) != i+1 {
			t.Errorf("%s: upstream saw %d silent and %d good requests, want %d each", what, up.Requests(silent), up.Requests(good), i+1)
		}
		if i < 2 {
			settled(t, name, "first", silent, pool.StateActive, "")
		}
	}
	// Three failures in a row: the silent key cools down, as after 5xx.
	settled(t, name, "first", silent, pool.StateCooling, "upstream went silent")
	settled(t, name, "second", good, pool.StateActive, "")

	// One key, one slot: the client hears of the silence after
	// idle_timeout, and the slot is free the moment it does.
	const only = "sk-silent-only"
	up2 := fakeupstream.NewOpenAI(t, only)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s_only
		storage memory
		idle_timeout %s
		upstream oai {
			provider openai
			base_url %s
			key %s {
				concurrency 1
			}
		}
	}`, name, idle, up2.URL, only))
	for _, c := range []struct {
		api    string
		stream bool
	}{{"chat", false}, {"gemini", true}} {
		up2.SetBehavior(only, fakeupstream.Behavior{Stall: true, Times: 1})
		what := fmt.Sprintf("%s stream=%t", c.api, c.stream)
		a := callAPI(t, c.api, "gpt-4o", c.stream, "hi")
		msg := errorMessage(c.api, a.body)
		if a.status != http.StatusBadGateway || !strings.Contains(msg, "idle_timeout") || !strings.Contains(msg, `"oai"`) {
			t.Errorf("%s: %d %s; want a 502 in its shape naming the upstream and idle_timeout", what, a.status, a.body)
		}
		took(t, what, a, idle)
		settled(t, name+"_only", "oai", only, pool.StateActive, "")
		// concurrency 1: a slot still held would make this a 429.
		b := callAPI(t, "chat", "gpt-4o", false, "again")
		if b.status != 200 || b.took > time.Second {
			t.Errorf("%s: the next request got %d after %s: %s", what, b.status, b.took, b.body)
		}
	}
}

// An upstream that goes silent in the middle of a stream is cut off after
// idle_timeout, and the client's stream ends with an error event in its
// own format naming idle_timeout, never a clean end; the request log has
// the error, and the key's slot is free.
func TestUpstreamSilentMidStream(t *testing.T) {
	const oaiKey, gemKey = "sk-midsilent-0001", "AIzaMidSilent0001"
	oai := fakeupstream.NewOpenAI(t, oaiKey)
	gem := fakeupstream.NewGemini(t, gemKey)
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		idle_timeout %s
		upstream oai {
			provider openai
			base_url %s
			key %s
			models gpt-*
		}
		upstream gem {
			provider gemini
			base_url %s
			key %s
			models gemini-*
		}
	}`, name, idle, oai.URL, oaiKey, gem.URL, gemKey))
	// Three events, then silence: the client has had the first byte.
	oai.SetBehavior(oaiKey, fakeupstream.Behavior{Stall: true, StallAfter: 3})
	gem.SetBehavior(gemKey, fakeupstream.Behavior{Stall: true, StallAfter: 1})

	for _, c := range []struct{ api, model, key string }{
		{"chat", "gpt-4o", oaiKey},             // passthrough
		{"gemini", "gemini-2.5-flash", gemKey}, // passthrough
		{"anthropic", "gpt-4o", oaiKey},        // translated
		{"responses", "gpt-4o", oaiKey},        // translated
	} {
		what := c.api + " -> " + c.model
		a := callAPI(t, c.api, c.model, true, "one two three four five")
		msg := streamFailure(c.api, a.body)
		if a.status != 200 || !strings.Contains(msg, "idle_timeout") || !strings.HasPrefix(streamText(c.api, a.body), "echo:") {
			t.Errorf("%s: %d; want a begun stream ending with an error event naming idle_timeout:\n%s", what, a.status, a.body)
		}
		took(t, what, a, idle)
		e, _ := logEntry(t, name, func(e gjson.Result) bool {
			return e.Get("api").Str == map[string]string{"chat": "openai-chat", "gemini": "gemini", "anthropic": "anthropic", "responses": "openai-responses"}[c.api]
		})
		if !strings.Contains(e.Get("error").Str, "idle_timeout") || e.Get("status").Int() != 200 {
			t.Errorf("%s: request log %s; want status 200 and the error", what, e.Raw)
		}
	}
	settled(t, name, "gem", gemKey, pool.StateActive, "")
	// The OpenAI key failed three times in a row: counted like 5xx.
	settled(t, name, "oai", oaiKey, pool.StateCooling, "upstream went silent")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
