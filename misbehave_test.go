package llmproxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
// idle_timeout (keepalive comments to the client notwithstanding), and the
// client's stream ends with an error event in its own format naming
// idle_timeout, never a clean end; the request log has the error, and the
// key's slot is free.
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
		keepalive 50ms
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
		// Keepalives go to the client during the silence; they do not
		// keep the silent upstream alive.
		if _, comments := sseEvents(a.body); comments == 0 {
			t.Errorf("%s: no keepalive during %s of silence", what, a.took)
		}
		took(t, what, a, idle)
		e, _ := logEntry(t, name, func(e gjson.Result) bool {
			return e.Get("api").Str == apiName[c.api]
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

// apiName is the request log's name of each client API.
var apiName = map[string]string{"chat": "openai-chat", "responses": "openai-responses", "anthropic": "anthropic", "gemini": "gemini"}

// A stream event whose data is not JSON, in the middle of a stream: a
// translated stream cannot skip it (a lost event is a lost word), so it
// ends with an error event naming the problem, logged, and counted on the
// key; a passed-through stream is the upstream's own bytes and goes on.
func TestCorruptStreamEvent(t *testing.T) {
	const trKey, passKey, antKey = "sk-corrupt-tr", "sk-corrupt-pass", "sk-ant-corrupt"
	oai := fakeupstream.NewOpenAI(t, trKey, passKey)
	ant := fakeupstream.NewAnthropic(t, antKey)
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key %s
		}
		upstream pass {
			provider openai
			base_url %s
			key %s
		}
		upstream ant {
			provider anthropic
			base_url %s
			key %s
		}
	}`, name, oai.URL, trKey, oai.URL, passKey, ant.URL, antKey))
	for _, k := range []string{trKey, passKey} {
		oai.SetBehavior(k, fakeupstream.Behavior{CorruptAfter: 2})
	}
	ant.SetBehavior(antKey, fakeupstream.Behavior{CorruptAfter: 4})

	for _, c := range []struct{ api, model string }{
		{"chat", "ant/claude-sonnet-4-5"},
		{"anthropic", "oai/gpt-4o"},
		{"responses", "oai/gpt-4o"},
		{"gemini", "oai/gpt-4o"},
	} {
		what := c.api + " -> " + c.model
		a := callAPI(t, c.api, c.model, true, "one two three")
		msg := streamFailure(c.api, a.body)
		if a.status != 200 || !strings.Contains(msg, "stream event the proxy cannot read") || !strings.HasPrefix(streamText(c.api, a.body), "echo:") {
			t.Errorf("%s: %d; want a begun stream ending with an error event naming the unreadable event:\n%s", what, a.status, a.body)
		}
		if strings.Contains(a.body, "corrupt") {
			t.Errorf("%s: the corrupt event reached a translated stream:\n%s", what, a.body)
		}
		e, _ := logEntry(t, name, func(e gjson.Result) bool { return e.Get("api").Str == apiName[c.api] })
		if !strings.Contains(e.Get("error").Str, "cannot read") {
			t.Errorf("%s: request log %s; want the error", what, e.Raw)
		}
	}
	settled(t, name, "ant", antKey, pool.StateActive, "")
	settled(t, name, "oai", trKey, pool.StateCooling, "unreadable stream event")

	// Passthrough: the client gets the upstream's bytes, the corrupt chunk
	// among them, and the stream's own clean end; nothing is blamed.
	a := callAPI(t, "chat", "pass/gpt-4o", true, "one two three")
	if a.status != 200 || !strings.Contains(a.body, `"id":"chatcmpl-corrupt"`) || !strings.HasSuffix(a.body, "data: [DONE]\n\n") ||
		streamText("chat", a.body) != "echo: corruptone two three" {
		t.Errorf("passthrough: %d %q; want every upstream byte and [DONE]", a.status, a.body)
	}
	e, _ := logEntry(t, name, func(e gjson.Result) bool { return e.Get("upstream").Str == "pass" })
	if e.Get("error").Str != "" || e.Get("status").Int() != 200 || e.Get("output_tokens").Int() == 0 {
		t.Errorf("passthrough: request log %s; want a success with usage", e.Raw)
	}
	settled(t, name, "pass", passKey, pool.StateActive, "")
}

// A client that leaves while the upstream is silent frees the key's slot at
// once, without waiting for idle_timeout, and the key is not blamed.
func TestClientLeavesSilentUpstream(t *testing.T) {
	const key = "sk-leaves-0001"
	up := fakeupstream.NewOpenAI(t, key)
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		idle_timeout 1m
		upstream oai {
			provider openai
			base_url %s
			key %s {
				concurrency 1
			}
		}
	}`, name, up.URL, key))
	for _, stream := range []bool{false, true} {
		up.SetBehavior(key, fakeupstream.Behavior{Stall: true, StallAfter: 2, Times: 1})
		client := &http.Client{Timeout: 200 * time.Millisecond}
		body := fmt.Sprintf(`{"model":"gpt-4o","stream":%t,"messages":[{"role":"user","content":"one two three"}]}`, stream)
		res, err := client.Post(proxyBase+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err == nil {
			_, err = io.ReadAll(res.Body)
			res.Body.Close()
		}
		if err == nil {
			t.Fatalf("stream=%t: the client got a whole answer from a silent upstream", stream)
		}
		e, _ := logEntry(t, name, func(e gjson.Result) bool { return e.Get("error").Str != "" })
		if !strings.Contains(e.Get("error").Str, "client went away") {
			t.Errorf("stream=%t: request log %s", stream, e.Raw)
		}
		settled(t, name, "oai", key, pool.StateActive, "")
		if a := callAPI(t, "chat", "gpt-4o", stream, "again"); a.status != 200 || a.took > time.Second {
			t.Errorf("stream=%t: the next request got %d after %s", stream, a.status, a.took)
		}
	}
}

// An answer with status 200 whose body is not JSON (invalid, or cut short
// with an intact HTTP response) is never handed on as a success: it is
// retried on another key and counted on the bad one like a 5xx; with no
// other key the client gets a 502 saying what was wrong.
func TestInvalidAndTruncatedJSONAnswers(t *testing.T) {
	const bad, good, antKey = "sk-badjson-0001", "sk-badjson-good", "sk-ant-badjson"
	oai := fakeupstream.NewOpenAI(t, bad, good)
	ant := fakeupstream.NewAnthropic(t, antKey)
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream bad {
			provider openai
			base_url %s
			key %s
			models gpt-*
		}
		upstream good {
			provider openai
			base_url %s
			key %s
			models gpt-*
			priority 1
		}
		upstream ant {
			provider anthropic
			base_url %s
			key %s {
				concurrency 1
			}
			models claude-*
		}
	}`, name, oai.URL, bad, oai.URL, good, ant.URL, antKey))

	for i, c := range []struct {
		api string
		b   fakeupstream.Behavior
	}{
		{"anthropic", fakeupstream.Behavior{InvalidJSON: true}}, // translated: undecodable
		{"chat", fakeupstream.Behavior{Truncate: true}},         // passthrough: checked
		{"chat", fakeupstream.Behavior{InvalidJSON: true}},
	} {
		oai.SetBehavior(bad, c.b)
		what := fmt.Sprintf("%s %+v", c.api, c.b)
		a := callAPI(t, c.api, "gpt-4o", false, "hi")
		if a.status != 200 || answerText(c.api, a.body) != "echo: hi" {
			t.Errorf("%s: %d %s; want the good key's answer", what, a.status, a.body)
		}
		if up := oai.Requests(bad); up != i+1 {
			t.Errorf("%s: the bad key saw %d requests, want %d", what, up, i+1)
		}
		if i < 2 {
			settled(t, name, "bad", bad, pool.StateActive, "")
		}
	}
	settled(t, name, "bad", bad, pool.StateCooling, "invalid JSON answer")

	// The only key of a model: a 502 in the client's shape, the key's one
	// slot free at once for the next request.
	for _, b := range []fakeupstream.Behavior{{Truncate: true, Times: 1}, {InvalidJSON: true, Times: 1}} {
		ant.SetBehavior(antKey, b)
		what := fmt.Sprintf("anthropic passthrough %+v", b)
		a := callAPI(t, "anthropic", "claude-sonnet-4-5", false, "hi")
		if msg := errorMessage("anthropic", a.body); a.status != http.StatusBadGateway || !strings.Contains(msg, "not valid JSON") || !strings.Contains(msg, `"ant"`) {
			t.Errorf("%s: %d %s; want a 502 saying the answer is not valid JSON", what, a.status, a.body)
		}
		settled(t, name, "ant", antKey, pool.StateActive, "")
		if n := callAPI(t, "anthropic", "claude-sonnet-4-5", false, "again"); n.status != 200 || n.took > time.Second {
			t.Errorf("%s: the next request got %d after %s", what, n.status, n.took)
		}
	}
}

// An answer, or a single stream event, larger than max_answer is refused
// with a 502 saying so (the proxy never holds more than max_answer of one
// answer in memory), and counted on the key.
func TestOversizedAnswer(t *testing.T) {
	const oaiKey, antKey = "sk-huge-0001", "sk-ant-huge-0001"
	oai := fakeupstream.NewOpenAI(t, oaiKey)
	ant := fakeupstream.NewAnthropic(t, antKey)
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		max_answer 64KiB
		upstream oai {
			provider openai
			base_url %s
			key %s
			models gpt-*
		}
		upstream ant {
			provider anthropic
			base_url %s
			key %s
			models claude-*
		}
	}`, name, oai.URL, oaiKey, ant.URL, antKey))
	oai.SetBehavior(oaiKey, fakeupstream.Behavior{Pad: 100 << 10})
	ant.SetBehavior(antKey, fakeupstream.Behavior{Pad: 100 << 10})

	for _, c := range []struct {
		api, model string
		stream     bool
	}{
		{"chat", "gpt-4o", false},                 // passthrough answer
		{"anthropic", "claude-sonnet-4-5", false}, // passthrough answer
		{"chat", "gpt-4o", true},                  // passthrough stream, oversized first event
		{"gemini", "gpt-4o", true},                // translated stream
		{"responses", "claude-sonnet-4-5", true},  // translated stream
	} {
		what := fmt.Sprintf("%s -> %s stream=%t", c.api, c.model, c.stream)
		a := callAPI(t, c.api, c.model, c.stream, "hi")
		msg := errorMessage(c.api, a.body)
		if a.status != http.StatusBadGateway || !strings.Contains(msg, "larger than 65536 bytes (max_answer)") {
			t.Errorf("%s: %d %s; want a 502 naming max_answer", what, a.status, a.body)
		}
		if len(a.body) > 1024 {
			t.Errorf("%s: %d bytes of error", what, len(a.body))
		}
	}
	settled(t, name, "oai", oaiKey, pool.StateCooling, "oversized")
	settled(t, name, "ant", antKey, pool.StateActive, "")

	// Under the bound, answers pass.
	ant.SetBehavior(antKey, fakeupstream.Behavior{Pad: 32 << 10})
	for _, stream := range []bool{false, true} {
		a := callAPI(t, "anthropic", "claude-sonnet-4-5", stream, "hi")
		if a.status != 200 || !strings.Contains(a.body, "echo") {
			t.Errorf("padded under max_answer, stream=%t: %d", stream, a.status)
		}
	}
}

// While a stream's upstream is silent (here: slow, pausing between
// events), the streaming client gets `: keepalive` comments every
// keepalive, between whole events, in every API's stream; a JSON answer
// never carries one, however slow, and neither does a stream before its
// first event (the client's response is committed only then).
func TestKeepaliveDuringSlowUpstream(t *testing.T) {
	const oaiKey, gemKey = "sk-slow-0001", "AIzaSlowKey0001"
	const pause = 150 * time.Millisecond
	oai := fakeupstream.NewOpenAI(t, oaiKey)
	gem := fakeupstream.NewGemini(t, gemKey)
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		keepalive 30ms
		idle_timeout 2s
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
	}`, name, oai.URL, oaiKey, gem.URL, gemKey))
	oai.SetBehavior(oaiKey, fakeupstream.Behavior{Pause: pause})
	gem.SetBehavior(gemKey, fakeupstream.Behavior{Pause: pause})

	for _, c := range []struct{ api, model string }{
		{"chat", "gpt-4o"},                // passthrough
		{"anthropic", "gemini-2.5-flash"}, // translated
		{"gemini", "gemini-2.5-flash"},    // passthrough
	} {
		what := c.api + " -> " + c.model
		a := callAPI(t, c.api, c.model, true, "hi")
		events, comments := sseEvents(a.body)
		if a.status != 200 || streamText(c.api, a.body) != "echo: hi" || streamFailure(c.api, a.body) != "" || comments == 0 {
			t.Errorf("%s: %d, %d keepalive comments; want the whole answer with comments:\n%s", what, a.status, comments, a.body)
		}
		if strings.Count(a.body, ": keepalive\n\n") != comments {
			t.Errorf("%s: comments other than `: keepalive`:\n%s", what, a.body)
		}
		for _, ev := range events {
			if ev.data != "[DONE]" && !gjson.Valid(ev.data) {
				t.Errorf("%s: an event was split: %q", what, ev.data)
			}
		}
	}

	// JSON answers: slow before the headers, or between headers and body.
	for _, b := range []fakeupstream.Behavior{{Delay: pause, Times: 1}, {Pause: pause, Times: 1}} {
		oai.SetBehavior(oaiKey, b)
		a := callAPI(t, "chat", "gpt-4o", false, "hi")
		if a.status != 200 || !gjson.Valid(a.body) || answerText("chat", a.body) != "echo: hi" || strings.Contains(a.body, "keepalive") || a.took < pause {
			t.Errorf("JSON answer, %+v: %d after %s: %s", b, a.status, a.took, a.body)
		}
	}
	// A stream slow to begin: nothing before its first event.
	oai.SetBehavior(oaiKey, fakeupstream.Behavior{Delay: pause, Times: 1})
	a := callAPI(t, "chat", "gpt-4o", true, "hi")
	if a.status != 200 || !strings.HasPrefix(a.body, "data: {") || strings.Contains(a.body, "keepalive") {
		t.Errorf("stream slow to begin: %d: %s", a.status, a.body)
	}
}

// A 10 MiB model name costs the proxy no more than its request: the error
// answer echoes at most a short prefix of it, whether the proxy or the
// upstream refuses the model, and the request log keeps a bounded entry.
func TestHugeModelName(t *testing.T) {
	const oaiKey, anyKey = "sk-hugename-0001", "sk-hugename-0002"
	oai := fakeupstream.NewOpenAI(t, oaiKey, anyKey)
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key %s
			models gpt-*
		}
		upstream any {
			provider openai
			base_url %s
			key %s
		}
	}`, name, oai.URL, oaiKey, oai.URL, anyKey))
	// "oai/<name>": no pattern of oai admits it, the proxy refuses it.
	// "any/<name>": sent on; the fake refuses models named unknown*,
	// echoing the whole name as OpenAI does.
	huge := "unknown-" + strings.Repeat("m", 10<<20)

	for _, c := range []struct{ api, model, who string }{
		{"chat", "oai/" + huge, "proxy"},
		{"anthropic", "oai/" + huge, "proxy"},
		{"chat", "any/" + huge, "upstream, passthrough"},
		{"responses", "any/" + huge, "upstream, translated"},
	} {
		what := c.api + ", refused by the " + c.who
		a := callAPI(t, c.api, c.model, false, "hi")
		msg := errorMessage(c.api, a.body)
		if a.status != http.StatusNotFound || !strings.Contains(msg, "unknown-mmm") || len(a.body) > 2<<10 {
			t.Errorf("%s: %d, %d bytes: %.300s; want a short 404 in the client's shape", what, a.status, len(a.body), a.body)
		}
		e, size := logEntry(t, name, func(e gjson.Result) bool { return e.Get("api").Str == apiName[c.api] })
		if size > 4<<10 || e.Get("status").Int() != 404 || !strings.Contains(e.Get("model").Str, "/unknown-mmm") {
			t.Errorf("%s: logs?limit=1 answered %d bytes: %.500s", what, size, e.Raw)
		}
	}
	settled(t, name, "any", anyKey, pool.StateActive, "")
}

// GET /v1/models with upstreams whose model lists hang: the globs they
// would expand are asked of all at once, each for at most 5 s, so the
// list answers in about 5 s (not 5 s per upstream), with what the
// configuration names; the next list answers at once.
func TestModelListWithHangingUpstreams(t *testing.T) {
	const oaiKey, antKey, gemKey = "sk-hangmodels-0001", "sk-ant-hangmodels", "AIzaHangModels0001"
	oai := fakeupstream.NewOpenAI(t, oaiKey)
	ant := fakeupstream.NewAnthropic(t, antKey)
	gem := fakeupstream.NewGemini(t, gemKey)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key %s
			models gpt-4o gpt-5*
		}
		upstream ant {
			provider anthropic
			base_url %s
			key %s
			alias sonnet claude-sonnet-4-5
			models claude-*
		}
		upstream gem {
			provider gemini
			base_url %s
			key %s
		}
	}`, instanceName(t), oai.URL, oaiKey, ant.URL, antKey, gem.URL, gemKey))
	// Each hangs before its headers, for a minute.
	oai.SetBehavior(oaiKey, fakeupstream.Behavior{Delay: time.Minute})
	ant.SetBehavior(antKey, fakeupstream.Behavior{Delay: time.Minute})
	gem.SetBehavior(gemKey, fakeupstream.Behavior{Delay: time.Minute})

	list := func() (gjson.Result, time.Duration) {
		req, _ := http.NewRequest(http.MethodGet, proxyBase+"/v1/models", nil)
		start := time.Now()
		res := do(t, req)
		if res.status != 200 {
			t.Fatalf("GET /v1/models: %d %s", res.status, res.body)
		}
		return gjson.Get(res.body, "data.#.id"), time.Since(start)
	}
	ids, took := list()
	if took < 4*time.Second || took > 7*time.Second {
		t.Errorf("first list took %s, want about 5 s", took)
	}
	if got := ids.String(); got != `["gpt-4o","sonnet"]` {
		t.Errorf("listed %s, want the configured names", got)
	}
	if _, took := list(); took > time.Second {
		t.Errorf("second list took %s; a failed fetch should not be retried for a minute", took)
	}
}

// An admin body's duration is a string; a number is refused with a 400
// that says so.
func TestAdminDurationAsNumber(t *testing.T) {
	const secret = "sk-admin-duration-0001"
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url http://127.0.0.1:9
			key %s
		}
	}`, name, secret))
	id := pool.KeyID("oai", secret)
	adminErr(t, 400, `durations are strings like "500ms" or "2s", got 5`, "PATCH", "/llm_proxy/"+name+"/keys/"+id, `{"interval": 5}`)
	adminOK(t, 200, "PATCH", "/llm_proxy/"+name+"/keys/"+id, `{"interval": "5s"}`)
}

// An upstream that opens its stream with SSE comments and then thinks
// (OpenRouter sends ": OPENROUTER PROCESSING" so): a translated stream has
// nothing for its client yet, so nothing goes out, headers included, until
// the first event; then the client gets its own stream's headers.
func TestStreamOpeningWithComments(t *testing.T) {
	const key = "sk-comments-0001"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		_, _ = io.WriteString(w, ": OPENROUTER PROCESSING\n\n")
		fl.Flush()
		time.Sleep(150 * time.Millisecond)
		_, _ = io.WriteString(w, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"echo: hi"},"finish_reason":null}]}`+"\n\n"+
			`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`+"\n\n"+
			"data: [DONE]\n\n")
	}))
	defer up.Close()
	startCaddy(t, proxyBlock(instanceName(t), upstreamBlock("oai", "openai", up.URL+"/v1", "key "+key)))
	for _, api := range []string{"anthropic", "responses", "chat"} {
		a := callAPI(t, api, "gpt-4o", true, "hi")
		if a.status != 200 || a.header.Get("Content-Type") != "text/event-stream" || streamText(api, a.body) != "echo: hi" || streamFailure(api, a.body) != "" {
			t.Errorf("%s: %d, Content-Type %q; want the whole stream with its headers:\n%s", api, a.status, a.header.Get("Content-Type"), a.body)
		}
	}
}
