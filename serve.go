package llmproxy

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"
	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmproxy/caddy-llm-proxy/pool"
	"github.com/llmproxy/caddy-llm-proxy/providers"
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// ServeHTTP answers the client endpoints. Paths are matched by suffix so the
// handler works under handle_path; it is terminal and never calls next.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	path := r.URL.Path
	a := inferAPI(r)
	if !p.authorized(r) {
		writeError(w, a, &apiError{Status: http.StatusUnauthorized, Message: "missing or invalid client key"})
		return nil
	}
	switch {
	case strings.HasSuffix(path, "/v1/chat/completions"):
		if r.Method != http.MethodPost {
			return methodNotAllowed(w, apiOpenAIChat, http.MethodPost)
		}
		p.serveChat(w, r)
	case strings.HasSuffix(path, "/v1/models"):
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, a, http.MethodGet)
		}
		p.serveModelList(w, r, a)
	case strings.HasSuffix(path, "/v1beta/models"):
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, apiGemini, http.MethodGet)
		}
		p.serveModelList(w, r, apiGemini)
	default:
		writeError(w, a, &apiError{Status: http.StatusNotFound, Message: "unknown path " + path, Code: "unknown_url"})
	}
	return nil
}

// inferAPI picks the error shape for a request before its endpoint is
// known: Anthropic when it carries anthropic-version, Gemini under
// /v1beta/, OpenAI otherwise.
func inferAPI(r *http.Request) api {
	switch {
	case r.Header.Get("anthropic-version") != "":
		return apiAnthropic
	case strings.Contains(r.URL.Path, "/v1beta/"):
		return apiGemini
	}
	return apiOpenAIChat
}

func methodNotAllowed(w http.ResponseWriter, a api, allow string) error {
	writeError(w, a, &apiError{Status: http.StatusMethodNotAllowed, Message: "method not allowed; use " + allow, Allow: allow})
	return nil
}

// authorized checks the client key in any of the places SDKs put it,
// comparing digests in constant time.
func (p *Proxy) authorized(r *http.Request) bool {
	if len(p.clientKeys) == 0 {
		return true
	}
	k := r.Header.Get("x-api-key")
	if k == "" {
		k = r.Header.Get("x-goog-api-key")
	}
	if k == "" {
		if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
			k = auth[7:]
		}
	}
	if k == "" {
		k = r.URL.Query().Get("key")
	}
	if k == "" {
		return false
	}
	sum := sha256.Sum256([]byte(k))
	ok := 0
	for i := range p.clientKeys {
		ok |= subtle.ConstantTimeCompare(sum[:], p.clientKeys[i][:])
	}
	return ok == 1
}

// readBody reads the request body up to max_body.
func (p *Proxy) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	tooLarge := &apiError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", p.maxBody)}
	if r.ContentLength > p.maxBody {
		return nil, tooLarge
	}
	body := http.MaxBytesReader(w, r.Body, p.maxBody)
	var buf []byte
	var err error
	if r.ContentLength > 0 {
		buf = make([]byte, r.ContentLength)
		_, err = io.ReadFull(body, buf)
	} else {
		buf, err = io.ReadAll(body)
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, &apiError{Status: http.StatusBadRequest, Message: "reading request body: " + err.Error()}
	}
	return buf, nil
}

// call is one client request on its way to an upstream.
type call struct {
	api      api
	body     []byte // as the client sent it, with only proxy-side additions
	model    string // as the client asked for it
	stream   bool
	route    *route
	estimate int64
	// stripUsage is set when the proxy asked the upstream for stream usage
	// the client did not ask for, so the extra usage chunk is swallowed.
	stripUsage bool
}

func (p *Proxy) serveChat(w http.ResponseWriter, r *http.Request) {
	const a = apiOpenAIChat
	body, aerr := p.readBody(w, r)
	if aerr != nil {
		writeError(w, a, aerr)
		return
	}
	if !gjson.ValidBytes(body) {
		writeError(w, a, &apiError{Status: http.StatusBadRequest, Message: "request body is not valid JSON"})
		return
	}
	fields := gjson.GetManyBytes(body, "model", "messages", "stream")
	model, msgs, stream := fields[0], fields[1], fields[2]
	if model.Type != gjson.String || model.Str == "" {
		writeError(w, a, &apiError{Status: http.StatusBadRequest, Message: "`model` is required and must be a string"})
		return
	}
	if !msgs.IsArray() {
		writeError(w, a, &apiError{Status: http.StatusBadRequest, Message: "`messages` is required and must be an array"})
		return
	}
	if stream.Exists() && stream.Type != gjson.True && stream.Type != gjson.False {
		writeError(w, a, &apiError{Status: http.StatusBadRequest, Message: "`stream` must be a boolean"})
		return
	}
	c := &call{api: a, body: body, model: model.Str, stream: stream.Bool(), estimate: translate.EstimateTokens(body)}
	c.route = p.openAIRoute(p.router.resolve(c.model))
	if c.route == nil {
		writeError(w, a, &apiError{Status: http.StatusNotFound, Code: "model_not_found",
			Message: fmt.Sprintf("the model %q does not exist or is not served by this proxy", c.model)})
		return
	}
	if c.stream {
		var err error
		if c.body, c.stripUsage, err = translate.AskStreamUsage(c.body); err != nil {
			writeError(w, a, &apiError{Status: http.StatusBadRequest, Message: "request body: " + err.Error()})
			return
		}
	}
	p.forward(w, r, c)
}

// openAIRoute keeps the targets that speak the OpenAI Chat format; other
// providers need translation, which this build does not do yet.
func (p *Proxy) openAIRoute(rt *route) *route {
	if rt == nil {
		return nil
	}
	all := true
	for _, u := range rt.ups {
		if u.provider.Name() != "openai" {
			all = false
			break
		}
	}
	if all {
		return rt
	}
	out := &route{}
	for i, u := range rt.ups {
		if u.provider.Name() == "openai" {
			out.add(u, rt.models[i])
		}
	}
	if len(out.ups) == 0 {
		return nil
	}
	return out
}

// failure is what an attempt that will be retried left behind, so that the
// client hears about the last one if no attempt succeeds.
type failure struct {
	upstream   string
	status     int // 0: no response
	message    string
	retryAfter time.Duration
}

func (f *failure) toAPIError() *apiError {
	if f.status == http.StatusTooManyRequests {
		return &apiError{Status: http.StatusTooManyRequests, RetryAfter: ceilSeconds(f.retryAfter),
			Message: fmt.Sprintf("upstream %q is rate limited: %s", f.upstream, f.message)}
	}
	what := "could not be reached"
	if f.status != 0 {
		what = "answered " + strconv.Itoa(f.status)
	}
	return &apiError{Status: http.StatusBadGateway, Message: fmt.Sprintf("upstream %q %s: %s", f.upstream, what, f.message)}
}

func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// forward sends the call to upstream keys until one answers, retrying on
// another key after a retryable failure as long as nothing has reached the
// client.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, c *call) {
	var tried map[string]bool
	var last *failure
	for attempt := 0; attempt <= p.retries; attempt++ {
		lease, err := p.pool.Acquire(c.route.targets, c.estimate, tried)
		if err != nil {
			var un *pool.Unavailable
			errors.As(err, &un)
			switch {
			case un != nil && un.AllDisabled:
				msg := fmt.Sprintf("every key that could serve %q is disabled", c.model)
				if last != nil {
					msg += "; last failure: " + last.toAPIError().Message
				}
				writeError(w, c.api, &apiError{Status: http.StatusServiceUnavailable, Message: msg})
			case last != nil && last.status != http.StatusTooManyRequests:
				writeError(w, c.api, last.toAPIError())
			case un != nil:
				writeError(w, c.api, &apiError{Status: http.StatusTooManyRequests, RetryAfter: ceilSeconds(un.RetryAfter),
					Message: fmt.Sprintf("every key that could serve %q is at a limit or cooling down", c.model)})
			default:
				writeError(w, c.api, &apiError{Status: http.StatusInternalServerError, Message: "key pool: " + err.Error()})
			}
			return
		}
		f, done := p.attempt(w, r, c, lease)
		if done {
			return
		}
		last = f
		if tried == nil {
			tried = make(map[string]bool, p.retries+1)
		}
		tried[lease.Key.ID] = true
	}
	writeError(w, c.api, last.toAPIError())
}

// retryable reports whether an upstream status is the key's or the
// upstream's fault rather than the request's, so another key may succeed.
func retryable(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusPaymentRequired, http.StatusForbidden,
		http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	}
	return status >= 500
}

// attempt sends the call with one lease. done is false when the attempt
// failed retryably before anything reached the client.
func (p *Proxy) attempt(w http.ResponseWriter, r *http.Request, c *call, lease *pool.Lease) (f *failure, done bool) {
	up, model := c.route.pick(lease.Upstream)
	body := c.body
	if model != c.model {
		var err error
		if body, err = translate.SetModel(body, model); err != nil {
			lease.Done(pool.Outcome{Canceled: true})
			writeError(w, c.api, &apiError{Status: http.StatusBadRequest, Message: "request body: " + err.Error()})
			return nil, true
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, providers.OpenAI{}.ChatCompletionsURL(up.base), bytes.NewReader(body))
	if err != nil {
		lease.Done(pool.Outcome{Canceled: true})
		writeError(w, c.api, &apiError{Status: http.StatusInternalServerError, Message: "building upstream request: " + err.Error()})
		return nil, true
	}
	req.Header.Set("Content-Type", "application/json")
	if c.stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	up.authorize(req.Header, lease.Key.Secret)

	resp, err := up.client.Do(req)
	if err != nil {
		if r.Context().Err() != nil {
			lease.Done(pool.Outcome{Canceled: true})
			return nil, true
		}
		msg := scrub(err.Error(), lease.Key.Secret)
		lease.Done(pool.Outcome{Status: 0, Reason: "network error"})
		p.logger.Warn("upstream unreachable", zap.String("upstream", up.name), zap.String("key_id", lease.Key.ID), zap.String("error", msg))
		return &failure{upstream: up.name, message: msg}, false
	}
	defer resp.Body.Close()

	if retryable(resp.StatusCode) {
		errBody, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		msg := scrub(upstreamMessage(errBody), lease.Key.Secret)
		ra := retryAfter(resp.Header)
		lease.Done(pool.Outcome{
			Status:         resp.StatusCode,
			RetryAfter:     ra,
			QuotaExhausted: up.provider.QuotaExhausted(resp.StatusCode, errBody),
			Reason:         fmt.Sprintf("%d from upstream: %s", resp.StatusCode, truncate(msg, 200)),
		})
		if c := p.logger.Check(zap.InfoLevel, "upstream refused; trying another key"); c != nil {
			c.Write(zap.String("upstream", up.name), zap.String("key_id", lease.Key.ID), zap.Int("status", resp.StatusCode))
		}
		return &failure{upstream: up.name, status: resp.StatusCode, message: msg, retryAfter: ra}, false
	}

	ok := resp.StatusCode < 300
	if c.stream && ok && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		p.relayStream(w, r, c, lease, resp)
		return nil, true
	}
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		if r.Context().Err() != nil {
			lease.Done(pool.Outcome{Canceled: true})
			return nil, true
		}
		lease.Done(pool.Outcome{Status: 0, Reason: "reading upstream answer"})
		return &failure{upstream: up.name, status: resp.StatusCode, message: "reading answer: " + scrub(err.Error(), lease.Key.Secret)}, false
	}
	var usage translate.Usage
	if ok {
		usage, _ = translate.OpenAIChatUsage(out)
	}
	copyHeaders(w.Header(), resp.Header)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
	lease.Done(pool.Outcome{Status: resp.StatusCode, InputTokens: usage.Input, OutputTokens: usage.Output})
	return nil, true
}

var sseReaders = sync.Pool{New: func() any { return translate.NewSSEReader(nil) }}

// relayStream passes an OpenAI event stream through event by event,
// reading usage on the way and flushing after every event.
func (p *Proxy) relayStream(w http.ResponseWriter, r *http.Request, c *call, lease *pool.Lease, resp *http.Response) {
	h := w.Header()
	copyHeaders(h, resp.Header)
	h.Del("Content-Length")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	_ = rc.Flush()

	rd := sseReaders.Get().(*translate.SSEReader)
	rd.Reset(resp.Body)
	defer func() {
		rd.Reset(nil)
		sseReaders.Put(rd)
	}()

	var usage translate.Usage
	sawDone := false
	outcome := pool.Outcome{Status: resp.StatusCode}
	for {
		ev, err := rd.Next()
		if err != nil {
			switch {
			case err == io.EOF && sawDone:
			case r.Context().Err() != nil:
				outcome.Canceled = true
			default:
				// The upstream cut the stream: say so in the stream rather
				// than let the client take it for a clean end.
				outcome = pool.Outcome{Status: 0, Reason: "stream cut"}
				msg := "upstream stream ended before completion"
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					msg += ": " + scrub(err.Error(), lease.Key.Secret)
				}
				_, _ = w.Write(streamErrorEvent(c.api, msg))
				_ = rc.Flush()
			}
			break
		}
		if translate.IsDone(ev.Data) {
			sawDone = true
		} else if u, ok := translate.OpenAIChatUsage(ev.Data); ok {
			usage = u
			if c.stripUsage && translate.IsUsageOnlyChunk(ev.Data) {
				continue
			}
		}
		if _, err := w.Write(ev.Raw); err != nil {
			outcome.Canceled = true
			break
		}
		_ = rc.Flush()
	}
	outcome.InputTokens, outcome.OutputTokens = usage.Input, usage.Output
	lease.Done(outcome)
}

// streamErrorEvent ends a broken stream in the inbound API's own format.
func streamErrorEvent(a api, msg string) []byte {
	e := &apiError{Status: http.StatusBadGateway, Message: msg, Code: "stream_interrupted"}
	body := errorBody(a, e)
	switch a {
	case apiAnthropic:
		return append(append([]byte("event: error\ndata: "), body...), "\n\n"...)
	default:
		return append(append([]byte("data: "), body...), "\n\n"...)
	}
}

// hopHeaders are connection-level headers that must not be copied.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Content-Length": true,
}

func copyHeaders(dst, src http.Header) {
	for k, v := range src {
		if !hopHeaders[k] {
			dst[k] = v
		}
	}
}

// upstreamMessage is the human part of an upstream error answer.
func upstreamMessage(body []byte) string {
	for _, path := range []string{"error.message", "message", "error"} {
		if m := gjson.GetBytes(body, path); m.Type == gjson.String && m.Str != "" {
			return m.Str
		}
	}
	if len(body) == 0 {
		return "(empty answer)"
	}
	return truncate(string(body), 500)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// retryAfter reads Retry-After in seconds or as an HTTP date.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
