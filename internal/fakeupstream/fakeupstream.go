// Package fakeupstream provides in-process stand-ins for the OpenAI,
// Anthropic and Gemini APIs for the proxy's tests: [httptest.Server]s that
// speak each provider's wire format faithfully (bodies, streams, error
// objects, status codes, the validation the real API does) and misbehave per
// key on demand (errors, Retry-After, delays, dropped streams, silence after
// the headers or mid-stream, slow streams, corrupt events, invalid,
// truncated and oversized answers). All three are
// a [*Server] with the same control API (SetBehavior, SetKeyValid, SetModels,
// Requests, TotalRequests, MaxConcurrent, LastRequest, Reset).
//
//   - [NewOpenAI]: api.openai.com Chat Completions, Responses (POST
//     /v1/responses, plain and streamed, with the stored responses that
//     previous_response_id and item ids refer to; see responses.go),
//     Embeddings (embeddings.go) and Models (URL ends in /v1);
//   - [NewAnthropic]: api.anthropic.com Messages, token counting and Models
//     (URL is the bare origin; clients use URL+"/v1/messages");
//   - [NewGemini]: generativelanguage.googleapis.com generateContent,
//     streamGenerateContent, countTokens, embedContent and
//     batchEmbedContents (embeddings.go) and Models (URL is the bare origin;
//     clients use URL+"/v1beta/models/{model}:generateContent").
//
// Everything each server sends can be parsed by the provider's official Go
// SDK (openai-go, anthropic-sdk-go, google.golang.org/genai). Replies are
// deterministic and the same for every provider:
//
//   - a plain request gets "echo: <text of the last user message>";
//   - a request offering function tools whose last message is the user's own
//     text (not a tool result), with a tool choice that allows calls, gets a
//     call of the first function tool (or the one forced) with arguments
//     {"q":"<text of the last user message>"}; OpenAI ids are "call_<n>"
//     (Responses function_call items too), Anthropic ids "toolu_<n>",
//     Gemini sends no id (as the real API). On the Responses API the tool
//     called is the first callable one in declaration order (function or
//     custom, top-level or in additional_tools input items, namespaces
//     flattened): a function in a namespace gets a function_call item
//     carrying its namespace, a custom tool a custom_tool_call item whose
//     input is the user's text itself, streamed as
//     response.custom_tool_call_input.delta/.done events;
//   - a request whose last message is a tool result (a custom tool's output
//     too) gets "result: <content>";
//   - Anthropic with thinking enabled, Gemini with
//     thinkingConfig.includeThoughts, and OpenAI reasoning models on the
//     Responses API first think "thinking about: <text>" (the last user
//     message's text, or the tool result's).
//
// A model whose name starts with "unknown" is answered with the provider's
// model-not-found error. Usage is deterministic too: input tokens are
// (bytes of all message text, tool-call names, arguments and custom tool
// inputs and tool results included; for Anthropic and Gemini also the
// system prompt and the tool definitions; for Responses also
// instructions)/4 + 1, and each provider's token-counting endpoint answers
// exactly that; output tokens are the number of content deltas a stream of
// the reply carries: one per word of text or thinking, one per 4-byte
// fragment of tool-call arguments or custom tool input.
package fakeupstream

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Behavior is how the server misbehaves for one key. The zero value is a
// well-behaved upstream. Delay and Hangup apply first, then Status; the
// others (CutAfter, Stall, Pause, CorruptAfter, InvalidJSON, Truncate, Pad)
// apply to successful generations only, streamed or not.
type Behavior struct {
	// Status, if non-zero, is answered instead of the real response, with
	// the provider's error body for that status:
	//
	// OpenAI: 401 invalid_api_key, 402 and (with ErrorCode
	// "insufficient_quota") 429 insufficient_quota, 403
	// unsupported_country_region_territory, 404 model_not_found, 429
	// rate_limit_exceeded, 5xx server_error, others invalid_request_error.
	//
	// Anthropic: 400 invalid_request_error, 401 authentication_error, 402
	// billing_error, 403 permission_error, 404 not_found_error, 413
	// request_too_large, 429 rate_limit_error, 504 timeout_error, 503 and 529
	// overloaded_error, other 5xx api_error. With ErrorCode
	// "insufficient_quota" the answer is what Anthropic really sends for an
	// empty credit balance: 400 invalid_request_error "Your credit balance is
	// too low to access the Anthropic API...", whatever Status says.
	//
	// Gemini: 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403
	// PERMISSION_DENIED, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED (a per-minute
	// quota; with ErrorCode "insufficient_quota", or for 402, a per-day
	// quota), 500 INTERNAL, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED.
	Status int
	// RetryAfter is sent as the Retry-After header with Status (Gemini also
	// puts it in the RetryInfo detail of a 429).
	RetryAfter string
	// ErrorCode overrides error.code (OpenAI), error.type (Anthropic) or
	// error.status (Gemini) of the Status body; "insufficient_quota" selects
	// the provider's quota/billing error instead (see Status).
	ErrorCode string
	// Delay is slept before anything is written; a cancelled request (or the
	// server's shutdown) ends the wait and the handler without a response.
	Delay time.Duration
	// Hangup drops the connection without writing any response, as a network
	// failure would. (For idempotent methods such as GET on a reused
	// connection, Go's transport may retry once by itself.)
	Hangup bool
	// CutAfter, for streams, writes that many stream events (OpenAI and
	// Gemini chunks, Anthropic SSE events including ping) and then drops the
	// connection; the terminating event ([DONE], message_stop, Gemini's
	// finishing chunk) is never sent, so the client sees an unexpected EOF
	// even if the reply has fewer events. For a non-streaming answer any value
	// > 0 sends the headers and half of the body, then drops the connection.
	CutAfter int
	// Stall makes the upstream go silent once its response headers are out:
	// no byte of a JSON answer's body, or StallAfter stream events (never
	// the terminating one), then nothing at all until the request is
	// cancelled or the server closes. The connection stays open.
	Stall bool
	// StallAfter is how many stream events a Stall lets out first.
	StallAfter int
	// Pause slows an answer down: it is waited before every stream event
	// but the first, and between the headers and the body of a JSON
	// answer (a cancelled request ends the wait and the handler).
	Pause time.Duration
	// CorruptAfter, for streams, inserts after that many events one event
	// whose data is not valid JSON (a chunk of the provider's shape with
	// its closing brace missing; an unparseable element in a Gemini JSON
	// array stream); the stream then goes on normally and ends cleanly.
	CorruptAfter int
	// InvalidJSON answers a non-streaming generation with status 200 and a
	// complete body that is not JSON: the real answer with its first ':'
	// replaced by '='.
	InvalidJSON bool
	// Truncate answers a non-streaming generation with status 200 and a
	// complete response (Content-Length and connection intact) whose body
	// is the first half of the real answer: unlike CutAfter, no network
	// error tells the client.
	Truncate bool
	// Pad, if > 0, adds a "padding" field holding Pad bytes to a JSON
	// answer, or to the first event of a stream, which is thus larger than
	// Pad bytes (and still valid).
	Pad int
	// Times limits the behaviour to the key's next Times requests; 0 means
	// until changed.
	Times int
}

// Recorded is one request as the server received it.
type Recorded struct {
	Method string
	Path   string // URL path, including /v1 or /v1beta
	Query  string // raw query, without '?'
	Header http.Header
	Body   []byte
	// Key is the credential presented, "" if none: the bearer token
	// (OpenAI), the x-api-key header (Anthropic), the x-goog-api-key header
	// or else the key query parameter (Gemini).
	Key string
}

// Server is a fake provider upstream. All methods are safe for concurrent
// use.
type Server struct {
	// URL is the API base URL without a trailing slash: including /v1 for
	// OpenAI (as https://api.openai.com/v1), the bare origin for Anthropic
	// (as https://api.anthropic.com) and Gemini (as
	// https://generativelanguage.googleapis.com).
	URL string

	d           *dialect
	srv         *httptest.Server
	initialKeys []string
	done        chan struct{}

	mu        sync.Mutex
	valid     map[string]bool
	behaviors map[string]Behavior
	counts    map[string]int
	total     int
	inflight  map[string]int
	peak      map[string]int
	last      Recorded
	models    []string
	seq       int // request ids
	callSeq   int // tool-call ids
	compSeq   int // completion / message / response ids

	textOnly bool // SetTextOnly (refusals.go)
	// Responses API state (store left true): the conversation of each
	// stored response, and the ids of stored items.
	stored      map[string][]respItem
	storedItems map[string]respItem
}

// dialect is what differs between the emulated providers; the counting,
// behaviour and recording machinery is shared.
type dialect struct {
	// urlSuffix is appended to the httptest origin to form Server.URL.
	urlSuffix string
	// defaultModels is read at start and on Reset.
	defaultModels func() []string
	// credential extracts the key a request presents.
	credential func(r *http.Request) (key string, present bool)
	// headers sets the headers every response carries; id is the request's
	// sequence number.
	headers func(h http.Header, id int)
	// route returns the handler of a known endpoint, nil for others.
	route func(s *Server, r *http.Request) handlerFunc
	// notFound answers an unknown endpoint (before authentication).
	notFound func(w http.ResponseWriter, r *http.Request)
	// noKey and invalidKey answer failed authentication.
	noKey      func(w http.ResponseWriter, r *http.Request)
	invalidKey func(w http.ResponseWriter, r *http.Request, key string)
	// failure answers Behavior.Status.
	failure func(w http.ResponseWriter, r *http.Request, b Behavior, key string, body []byte)
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, body []byte, b Behavior)

func newServer(t testing.TB, d *dialect, keys []string) *Server {
	t.Helper()
	s := &Server{
		d:           d,
		initialKeys: slices.Clone(keys),
		done:        make(chan struct{}),
	}
	s.resetLocked()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL + d.urlSuffix
	t.Cleanup(func() {
		close(s.done)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
	return s
}

// SetBehavior sets how requests authenticated with key misbehave from now
// on; the zero Behavior restores normal service.
func (s *Server) SetBehavior(key string, b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b == (Behavior{}) {
		delete(s.behaviors, key)
		return
	}
	s.behaviors[key] = b
}

// SetKeyValid makes key accepted (ok) or rejected the way the provider
// rejects a bad key: OpenAI 401 invalid_api_key, Anthropic 401
// authentication_error, Gemini 400 INVALID_ARGUMENT with reason
// API_KEY_INVALID (Google's real answer to a bad API key).
func (s *Server) SetKeyValid(key string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.valid[key] = ok
}

// SetModels replaces the list the models endpoint returns.
func (s *Server) SetModels(models []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.models = slices.Clone(models)
}

// Requests is how many requests to a known endpoint were received with key
// and accepted by authentication (whatever the behaviour then answered).
func (s *Server) Requests(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[key]
}

// TotalRequests is Requests summed over all keys.
func (s *Server) TotalRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// MaxConcurrent is the peak number of authenticated requests with key in
// flight at once.
func (s *Server) MaxConcurrent(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak[key]
}

// LastRequest is the last request received on any path, authenticated or
// not; the zero Recorded if none.
func (s *Server) LastRequest() Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.last
	r.Header = r.Header.Clone()
	r.Body = bytes.Clone(r.Body)
	return r
}

// Reset returns the server to its state right after it was created:
// counters, the recorded request and behaviours cleared, only the initial
// keys valid, the default models listed.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Server) resetLocked() {
	s.valid = make(map[string]bool)
	for _, k := range s.initialKeys {
		s.valid[k] = true
	}
	s.behaviors = make(map[string]Behavior)
	s.counts = make(map[string]int)
	s.total = 0
	// In-flight requests keep decrementing their own entries; keep them.
	if s.inflight == nil {
		s.inflight = make(map[string]int)
	}
	s.peak = make(map[string]int)
	maps.Copy(s.peak, s.inflight)
	s.last = Recorded{}
	s.models = slices.Clone(s.d.defaultModels())
	s.textOnly = false
	s.stored = make(map[string][]respItem)
	s.storedItems = make(map[string]respItem)
}

// begin counts an authenticated request and returns its release.
func (s *Server) begin(key string) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[key]++
	s.total++
	s.inflight[key]++
	s.peak[key] = max(s.peak[key], s.inflight[key])
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.inflight[key]--
	}
}

// takeBehavior returns the key's behaviour, consuming one of its Times.
func (s *Server) takeBehavior(key string) Behavior {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.behaviors[key]
	if !ok {
		return Behavior{}
	}
	if b.Times > 0 {
		if left := b.Times - 1; left == 0 {
			delete(s.behaviors, key)
		} else {
			nb := b
			nb.Times = left
			s.behaviors[key] = nb
		}
	}
	return b
}

func (s *Server) nextSeq(p *int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	*p++
	return *p
}

// modelList is a copy of the listed models.
func (s *Server) modelList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.models)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	key, hasKey := s.d.credential(r)

	s.mu.Lock()
	s.last = Recorded{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, Key: key,
	}
	valid := s.valid[key]
	s.mu.Unlock()

	s.d.headers(w.Header(), s.nextSeq(&s.seq))

	handler := s.d.route(s, r)
	if handler == nil {
		s.d.notFound(w, r)
		return
	}
	switch {
	case !hasKey:
		s.d.noKey(w, r)
		return
	case !valid:
		s.d.invalidKey(w, r, key)
		return
	}

	defer s.begin(key)()
	b := s.takeBehavior(key)
	if b.Delay > 0 && !s.wait(r, b.Delay) {
		return
	}
	if b.Hangup {
		panic(http.ErrAbortHandler)
	}
	if b.Status != 0 {
		if b.RetryAfter != "" {
			w.Header().Set("Retry-After", b.RetryAfter)
		}
		s.d.failure(w, r, b, key, body)
		return
	}
	body, done := s.intercept(w, r, body) // refusals.go
	if done {
		return
	}
	handler(w, r, body, b)
}

// writeBody writes a complete response body, or with cut > 0 the headers
// and half of it before dropping the connection.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte, cut int) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if cut <= 0 {
		_, _ = w.Write(body)
		return
	}
	_, _ = w.Write(body[:len(body)/2])
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// writeAnswer writes a successful generation's JSON answer, misbehaving as
// b says: Pad, InvalidJSON and Truncate change the body; Pause, Stall and
// CutAfter how it goes out.
func (s *Server) writeAnswer(w http.ResponseWriter, r *http.Request, contentType string, body []byte, b Behavior) {
	if b.Pad > 0 {
		body = pad(body, b.Pad)
	}
	if b.InvalidJSON {
		if i := bytes.IndexByte(body, ':'); i >= 0 {
			body = slices.Clone(body)
			body[i] = '='
		}
	}
	if b.Truncate {
		body = body[:len(body)/2]
	}
	if b.Pause <= 0 && !b.Stall {
		writeBody(w, http.StatusOK, contentType, body, b.CutAfter)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if http.NewResponseController(w).Flush() != nil {
		return
	}
	if b.Stall {
		s.wait(r, -1)
		return
	}
	if !s.wait(r, b.Pause) {
		return
	}
	if b.CutAfter > 0 {
		_, _ = w.Write(body[:len(body)/2])
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	_, _ = w.Write(body)
}

// wait waits d (forever if d < 0); false if the request was cancelled or
// the server closed first.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-r.Context().Done():
	case <-s.done:
	}
	return false
}

// pad adds a "padding" field of n bytes after the first '{' of b.
func pad(b []byte, n int) []byte {
	i := bytes.IndexByte(b, '{')
	if i < 0 {
		return b
	}
	out := make([]byte, 0, len(b)+n+16)
	out = append(out, b[:i+1]...)
	out = append(out, `"padding":"`...)
	out = append(out, bytes.Repeat([]byte{'x'}, n)...)
	out = append(out, `",`...)
	return append(out, b[i+1:]...)
}

// eventStream writes stream events, misbehaving as its Behavior says.
type eventStream struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	rc      *http.ResponseController
	b       Behavior
	corrupt []byte // the dialect's broken event, for CorruptAfter
	written int    // events written, the corrupt one not included
	spoilt  bool   // the corrupt event is out
}

// startStream sends the headers of a stream; nil if the client is gone.
// corrupt is the event CorruptAfter inserts.
func (s *Server) startStream(w http.ResponseWriter, r *http.Request, contentType string, b Behavior, corrupt []byte) *eventStream {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return nil
	}
	return &eventStream{s: s, w: w, r: r, rc: rc, b: b, corrupt: corrupt}
}

// send writes one event; false if the client is gone. final marks the
// terminating event, which a pending cut or stall never lets out: a cut
// or stalled stream never ends cleanly.
func (es *eventStream) send(event []byte, final bool) bool {
	if es.r.Context().Err() != nil {
		return false
	}
	b := es.b
	if final && b.CutAfter > 0 {
		panic(http.ErrAbortHandler)
	}
	if b.Stall && (final || es.written >= b.StallAfter) {
		es.s.wait(es.r, -1)
		return false
	}
	if es.written > 0 && b.Pause > 0 && !es.s.wait(es.r, b.Pause) {
		return false
	}
	if b.CorruptAfter > 0 && !es.spoilt && (final || es.written >= b.CorruptAfter) {
		es.spoilt = true
		if !es.write(es.corrupt) {
			return false
		}
	}
	if es.written == 0 && b.Pad > 0 {
		event = pad(event, b.Pad)
	}
	if !es.write(event) {
		return false
	}
	es.written++
	if b.CutAfter > 0 && es.written >= b.CutAfter {
		panic(http.ErrAbortHandler)
	}
	return true
}

func (es *eventStream) write(p []byte) bool {
	if _, err := es.w.Write(p); err != nil {
		return false
	}
	return es.rc.Flush() == nil
}
