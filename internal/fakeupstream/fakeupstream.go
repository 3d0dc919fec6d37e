// Package fakeupstream provides an in-process stand-in for api.openai.com for
// the proxy's tests: an [httptest.Server] that speaks the OpenAI Chat
// Completions and Models wire format faithfully (bodies, SSE chunks, error
// objects, status codes) and misbehaves per key on demand (errors,
// Retry-After, delays, dropped streams).
//
// Everything it sends can be parsed by the official openai-go client. Replies
// are deterministic:
//
//   - a plain request gets "echo: <text of the last user message>";
//   - a request with function tools whose last message is from the user gets a
//     call of the first function tool (or the one forced by tool_choice) with
//     arguments {"q":"<text of the last user message>"} and tool-call id
//     "call_<n>";
//   - a request whose last message is a tool result gets "result: <content>".
//
// Usage is deterministic too: prompt_tokens = (bytes of all message text,
// tool-call names and arguments included)/4 + 1; completion_tokens = the
// number of content or argument deltas a stream of the reply carries (one per
// word of a text reply, one per 4-byte fragment of tool-call arguments),
// summed over the n choices.
package fakeupstream

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultModels is what GET /v1/models lists until SetModels is called.
var DefaultModels = []string{"gpt-4o", "gpt-4o-mini", "o3-mini"}

// Behavior is how the server misbehaves for one key. The zero value is a
// well-behaved upstream. Delay and Hangup apply first, then Status; CutAfter
// applies to successful chat completions only.
type Behavior struct {
	// Status, if non-zero, is answered instead of the real response, with an
	// OpenAI-shaped error body: 401 invalid_api_key, 402 and (with ErrorCode
	// "insufficient_quota") 429 insufficient_quota, 403
	// unsupported_country_region_territory, 404 model_not_found, 429
	// rate_limit_exceeded, 5xx server_error, others invalid_request_error.
	Status int
	// RetryAfter is sent as the Retry-After header with Status.
	RetryAfter string
	// ErrorCode overrides error.code of the Status body.
	ErrorCode string
	// Delay is slept before anything is written; a cancelled request (or the
	// server's shutdown) ends the wait and the handler without a response.
	Delay time.Duration
	// Hangup drops the connection without writing any response, as a network
	// failure would. (For idempotent methods such as GET on a reused
	// connection, Go's transport may retry once by itself.)
	Hangup bool
	// CutAfter, for streams, writes that many SSE chunks and then drops the
	// connection (no [DONE], no terminating chunk, so the client sees an
	// unexpected EOF). For a non-streaming completion any value > 0 sends the
	// headers and half of the body, then drops the connection.
	CutAfter int
	// Times limits the behaviour to the key's next Times requests; 0 means
	// until changed.
	Times int
}

// Recorded is one request as the server received it.
type Recorded struct {
	Method string
	Path   string // URL path, including /v1
	Query  string // raw query, without '?'
	Header http.Header
	Body   []byte
	Key    string // bearer token presented, "" if none
}

// Server is a fake OpenAI upstream. All methods are safe for concurrent use.
type Server struct {
	// URL is the API base URL including /v1 (no trailing slash), as for
	// https://api.openai.com/v1.
	URL string

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
	compSeq   int // completion ids
}

// NewOpenAI starts a fake OpenAI upstream accepting the given bearer tokens;
// t.Cleanup closes it (ending any request still delayed or streaming).
func NewOpenAI(t testing.TB, keys ...string) *Server {
	t.Helper()
	s := &Server{
		initialKeys: slices.Clone(keys),
		done:        make(chan struct{}),
	}
	s.resetLocked()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL + "/v1"
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

// SetKeyValid makes key accepted (ok) or answered with 401 invalid_api_key.
func (s *Server) SetKeyValid(key string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.valid[key] = ok
}

// SetModels replaces the list GET /v1/models returns.
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

// Reset returns the server to its state right after NewOpenAI: counters,
// the recorded request and behaviours cleared, only the initial keys valid,
// the default models listed.
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
	s.models = slices.Clone(DefaultModels)
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

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	key, hasKey := bearer(r.Header.Get("Authorization"))

	s.mu.Lock()
	s.last = Recorded{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, Key: key,
	}
	valid := s.valid[key]
	s.mu.Unlock()

	h := w.Header()
	h.Set("X-Request-Id", fmt.Sprintf("req_%032x", s.nextSeq(&s.seq)))
	h.Set("Openai-Version", "2020-10-01")
	h.Set("Openai-Organization", "user-fakeupstream")
	h.Set("Openai-Processing-Ms", "1")

	handler := s.route(r)
	if handler == nil {
		writeError(w, apiError{
			Status:  http.StatusNotFound,
			Message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path),
			Type:    "invalid_request_error",
		})
		return
	}
	switch {
	case !hasKey:
		writeError(w, errNoKey())
		return
	case !valid:
		writeError(w, errInvalidKey(key))
		return
	}

	defer s.begin(key)()
	b := s.takeBehavior(key)
	if b.Delay > 0 {
		t := time.NewTimer(b.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return
		}
	}
	if b.Hangup {
		panic(http.ErrAbortHandler)
	}
	if b.Status != 0 {
		if b.RetryAfter != "" {
			w.Header().Set("Retry-After", b.RetryAfter)
		}
		writeError(w, behaviorError(b, key, modelOf(body)))
		return
	}
	handler(w, r, body, b)
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, body []byte, b Behavior)

func (s *Server) route(r *http.Request) handlerFunc {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/v1/chat/completions":
		return s.chatCompletions
	case r.Method == http.MethodGet && p == "/v1/models":
		return s.listModels
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/v1/models/") && len(p) > len("/v1/models/"):
		return s.retrieveModel
	}
	return nil
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// modelCreated is the "created" of every listed model (gpt-4o's real one).
const modelCreated = 1715367049

func modelObject(id string) obj {
	return obj{{"id", id}, {"object", "model"}, {"created", modelCreated}, {"owned_by", "system"}}
}

func (s *Server) listModels(w http.ResponseWriter, _ *http.Request, _ []byte, _ Behavior) {
	s.mu.Lock()
	models := slices.Clone(s.models)
	s.mu.Unlock()
	data := make([]any, 0, len(models))
	for _, m := range models {
		data = append(data, modelObject(m))
	}
	writeJSON(w, http.StatusOK, obj{{"object", "list"}, {"data", data}})
}

func (s *Server) retrieveModel(w http.ResponseWriter, r *http.Request, _ []byte, _ Behavior) {
	id := strings.TrimPrefix(r.URL.Path, "/v1/models/")
	s.mu.Lock()
	found := slices.Contains(s.models, id)
	s.mu.Unlock()
	if !found {
		writeError(w, apiError{
			Status:  http.StatusNotFound,
			Message: fmt.Sprintf("The model '%s' does not exist", id),
			Type:    "invalid_request_error",
			Param:   "model",
			Code:    "model_not_found",
		})
		return
	}
	writeJSON(w, http.StatusOK, modelObject(id))
}
