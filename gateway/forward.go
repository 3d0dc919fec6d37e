package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/clientapi"
	"github.com/llmproxy/caddy-llm-proxy/pool"
	"github.com/llmproxy/caddy-llm-proxy/providers"
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// failure is what an attempt that will be retried left behind, so that the
// client hears about the last one if no attempt succeeds.
type failure struct {
	upstream   string
	status     int  // 0: no response
	broken     bool // the upstream answered, but not usably (silent, cut, invalid, too large)
	message    string
	retryAfter time.Duration
	keyID      string // the key the attempt used
}

func (f *failure) toAPIError() *clientapi.Error {
	if f.status == http.StatusTooManyRequests {
		return &clientapi.Error{Status: http.StatusTooManyRequests, RetryAfter: ceilSeconds(f.retryAfter),
			Message: fmt.Sprintf("upstream %q is rate limited: %s", f.upstream, f.message)}
	}
	what := "could not be reached"
	switch {
	case f.broken:
		what = "failed"
	case f.status != 0:
		what = "answered " + strconv.Itoa(f.status)
	}
	return &clientapi.Error{Status: http.StatusBadGateway, Message: fmt.Sprintf("upstream %q %s: %s", f.upstream, what, f.message)}
}

func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// fallbackHeader names the fallback model that served a request; a
// request its own model served has none.
const fallbackHeader = "X-LLM-Proxy-Fallback"

// forward sends the call to the model the client asked for and, when that
// model's keys and tiers cannot serve it, to the models of its fallback
// chain in order, all before anything reaches the client. Each model gets
// its own attempts (retries+1); one with no key free costs none. If every
// model fails, the client hears the most telling failure (see
// moreTelling).
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, c *call) {
	chain := g.router.chain(c.model)
	if len(chain) == 0 {
		if e, _ := g.forwardModel(w, r, c); e != nil {
			g.fail(w, c, e)
		}
		return
	}
	own, label := c.route, c.rec.ModelLabel
	var told *clientapi.Error
	for i, name := range chain {
		if i > 0 {
			// A client that may not use a fallback model does not get it.
			if c.who != nil && !c.who.allows(name, g.isUpstream) {
				continue
			}
			rt := g.router.resolve(name)
			if rt == nil {
				continue // validated at load time; never nil in practice
			}
			// A request this model's upstreams cannot take in translation
			// skips it; that says the least of any failure.
			rt, e := c.readyFor(rt)
			if e != nil {
				if told == nil {
					told = e
				}
				continue
			}
			// The fallback's name comes from the configuration, so it
			// labels metrics as it is, even where only a glob admits it.
			c.route, c.fallback = rt, name
			c.rec.Model, c.rec.ModelLabel = name, name
			w.Header().Set(fallbackHeader, name)
		}
		e, stop := g.forwardModel(w, r, c)
		if e == nil {
			return
		}
		if told == nil || moreTelling(e, told) {
			told = e
		}
		if stop {
			break
		}
	}
	// Nothing served: the request is the client's model's, as it asked.
	w.Header().Del(fallbackHeader)
	c.route, c.fallback = own, ""
	c.rec.Model, c.rec.ModelLabel = c.model, label
	g.fail(w, c, told)
}

// moreTelling reports whether failure a tells a client more than b: a
// limit (429, which waiting cures; the soonest Retry-After wins) over an
// upstream failure (502) over keys that are all disabled (503); between
// two of a kind, the later.
func moreTelling(a, b *clientapi.Error) bool {
	rank := func(e *clientapi.Error) int {
		switch e.Status {
		case http.StatusTooManyRequests:
			return 3
		case http.StatusBadGateway:
			return 2
		case http.StatusServiceUnavailable:
			return 1
		}
		return 0
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra > rb
	}
	if a.Status == http.StatusTooManyRequests {
		return a.RetryAfter < b.RetryAfter
	}
	return true
}

// forwardModel sends the call to upstream keys of its route until one
// answers, retrying on another key after a retryable failure as long as
// nothing has reached the client. It answers nil once the client has its
// answer; otherwise the error the client should get, and whether trying
// another model is pointless (the shared storage is down).
//
// When no other key is left after a failure of the upstream itself (a 5xx,
// no answer at all: see failure.sameKeyRetry), the same key is tried again
// after a short pause, within the same retries: a one-key upstream
// survives a blip.
func (g *Gateway) forwardModel(w http.ResponseWriter, r *http.Request, c *call) (*clientapi.Error, bool) {
	var tried map[string]bool
	var last *failure
	cv := g.conversation(r, c)
	same := 0 // retries on the same key so far
	for attempt := 0; attempt <= g.retries; attempt++ {
		lease, err := g.pool.AcquireFor(&c.hold, c.route.targets, c.estimate, tried, cv)
		if err != nil && last != nil && last.sameKeyRetry() && tried[last.keyID] {
			same++
			if !pause(r.Context(), same) {
				c.rec.Status, c.rec.Error = 499, "client went away"
				return nil, false
			}
			delete(tried, last.keyID)
			lease, err = g.pool.AcquireFor(&c.hold, c.route.targets, c.estimate, tried, cv)
		}
		if err != nil {
			return g.unavailable(c, err, last)
		}
		f, done := g.attempt(w, r, c, lease)
		if done {
			return nil, false
		}
		last = f
		last.keyID = lease.Key.ID
		if tried == nil {
			tried = make(map[string]bool, g.retries+1)
		}
		tried[lease.Key.ID] = true
	}
	return last.toAPIError(), false
}

// unavailable is the answer when the pool has no key for the call, and
// whether the cause (shared storage down) holds for every model.
func (g *Gateway) unavailable(c *call, err error, last *failure) (*clientapi.Error, bool) {
	un, _ := errors.AsType[*pool.Unavailable](err)
	switch {
	case un != nil && un.Client:
		return &clientapi.Error{Status: http.StatusTooManyRequests, RetryAfter: ceilSeconds(un.RetryAfter), Code: "client_rate_limit_exceeded",
			Message: fmt.Sprintf("client %q is at one of its own limits (%s); retry after %s", c.rec.Client, c.who.limitText(), un.RetryAfter)}, true
	case un != nil && un.StoreDown:
		return &clientapi.Error{Status: http.StatusServiceUnavailable, RetryAfter: ceilSeconds(un.RetryAfter),
			Message: "the proxy's shared storage is unreachable; try again shortly"}, true
	case un != nil && un.AllDisabled:
		msg := fmt.Sprintf("every key that could serve %q is disabled", truncate(c.served(), maxEcho))
		if last != nil {
			msg += "; last failure: " + last.toAPIError().Message
		}
		return &clientapi.Error{Status: http.StatusServiceUnavailable, Message: msg}, false
	case last != nil && last.status != http.StatusTooManyRequests:
		return last.toAPIError(), false
	case un != nil:
		return &clientapi.Error{Status: http.StatusTooManyRequests, RetryAfter: ceilSeconds(un.RetryAfter),
			Message: fmt.Sprintf("every key that could serve %q is at a limit or cooling down", truncate(c.served(), maxEcho))}, false
	}
	return &clientapi.Error{Status: http.StatusInternalServerError, Message: "key pool: " + err.Error()}, true
}

// upstreamBody is the body for one attempt: the client's own when formats
// match (model and configured overrides patched in), else the canonical
// request encoded for the provider.
func (c *call) upstreamBody(u *upstream, model string, set *settings) ([]byte, error) {
	if c.embed != nil {
		return c.embedBody(u, model)
	}
	if c.passes(u) {
		body, err := c.withModel(u, model)
		if err == nil && set.hasOverrides {
			// The configured level in the form the model takes, as a
			// translated request gets it (minimal -> low for o-series).
			body, err = u.codec.Patch(body, providers.FitOverrides(set.overrides, model))
		}
		return body, err
	}
	req := *c.canon
	req.Model, req.Stream = model, c.stream
	set.overrides.Apply(&req)
	// Never ask a model for what it refuses: reasoning it does not take,
	// more output than it can give, sampling it rejects.
	providers.Fit(&req, set.maxOutput)
	return u.codec.EncodeRequest(&req)
}

// upstreamURL is the endpoint of one attempt.
func (c *call) upstreamURL(u *upstream, k *pool.KeySpec, model string) string {
	base := u.baseFor(k)
	if c.embed != nil {
		return c.embedURL(u, base, model)
	}
	return u.provider.GenerateURL(base, model, c.stream)
}

// withModel is the client's body for a same-format upstream, with the model
// that upstream gets.
func (c *call) withModel(u *upstream, model string) ([]byte, error) {
	if model == c.model {
		return c.body, nil
	}
	return u.codec.SetModel(c.body, model)
}

// passHeaders are the client headers a same-format Anthropic body may rely
// on: Claude clients opt into features per request, and those must reach an
// Anthropic upstream along with the body that uses them.
var passHeaders = []string{"anthropic-version", "anthropic-beta"}

// passed copies the client's passHeaders for a same-format upstream.
func (c *call) passed(r *http.Request, u *upstream) http.Header {
	if !c.passes(u) {
		return nil
	}
	var h http.Header
	for _, k := range passHeaders {
		if v := r.Header.Values(k); len(v) > 0 {
			if h == nil {
				h = make(http.Header, len(passHeaders))
			}
			h[http.CanonicalHeaderKey(k)] = v
		}
	}
	return h
}

// outcome is what an error answer means for the key, by the provider's
// verdict: a key the provider refuses in its own way counts as a 401.
func outcome(v providers.Verdict, status int) pool.Outcome {
	o := pool.Outcome{Status: status, QuotaExhausted: v == providers.QuotaSpent}
	if v == providers.KeyRefused && status != http.StatusUnauthorized && status != http.StatusForbidden {
		o.Status = http.StatusUnauthorized
	}
	return o
}

// attempt sends the call with one lease. done is false when the attempt
// failed retryably before anything reached the client.
func (g *Gateway) attempt(w http.ResponseWriter, r *http.Request, c *call, lease *pool.Lease) (f *failure, done bool) {
	up, model, set := c.route.pick(lease.Upstream)
	c.rec.Upstream, c.rec.UpstreamModel, c.rec.KeyID = up.name, model, lease.Key.ID
	pass := c.passes(up)
	if !pass && !c.warned && c.canon != nil && len(c.canon.Dropped) > 0 {
		c.warned = true
		g.logger.Warn("translating drops what the upstream cannot take",
			zap.String("upstream", up.name), zap.String("api", c.api.Name()), zap.Strings("dropped", c.canon.Dropped))
	}
	body, err := c.upstreamBody(up, model, set)
	if err != nil {
		lease.Done(pool.Outcome{Canceled: true})
		g.fail(w, c, requestError(err))
		return nil, true
	}
	// The client's going away cancels the upstream request; past the
	// headers, the watchdog ends it by closing its body.
	sent := time.Now()
	resp, err := up.send(r.Context(), outbound{
		method: http.MethodPost, url: c.upstreamURL(up, lease.Key, model),
		body: body, stream: c.stream, pass: c.passed(r, up),
	}, lease.Key)
	c.rec.TTFB = time.Since(sent)
	if err != nil {
		if r.Context().Err() != nil {
			lease.Done(pool.Outcome{Canceled: true})
			c.rec.Status, c.rec.Error = 499, "client went away"
			return nil, true
		}
		msg := scrub(err.Error(), lease.Key.Secret)
		lease.Done(pool.Outcome{Status: 0, Reason: "network error"})
		g.logger.Warn("upstream unreachable", zap.String("upstream", up.name), zap.String("key_id", lease.Key.ID), zap.String("error", msg))
		return &failure{upstream: up.name, message: msg}, false
	}
	defer resp.Body.Close()
	// One watchdog for whatever body follows the headers: an error answer,
	// a JSON answer or a stream (keepalive comments go out only once a
	// stream is committed to the client).
	keepalive := time.Duration(0)
	if c.stream {
		keepalive = g.keepalive
	}
	dog := newWatchdog(resp.Body, g.idleTimeout, keepalive)
	defer dog.stop()

	status := resp.StatusCode
	if status >= 300 {
		errBody, _ := io.ReadAll(io.LimitReader(dog, 1<<20))
		verdict := up.provider.Classify(status, errBody)
		if verdict.Retryable() {
			msg := scrub(upstreamMessage(errBody), lease.Key.Secret)
			ra := retryAfter(resp.Header)
			o := outcome(verdict, status)
			o.RetryAfter = ra
			o.Reason = fmt.Sprintf("%d from upstream: %s", status, truncate(msg, 200))
			lease.Done(o)
			if ce := g.logger.Check(zap.InfoLevel, "upstream refused; trying another key"); ce != nil {
				ce.Write(zap.String("upstream", up.name), zap.String("key_id", lease.Key.ID), zap.Int("status", status))
			}
			return &failure{upstream: up.name, status: o.Status, message: msg, retryAfter: ra}, false
		}
		// The request's own fault (400, 404, 422...): the client hears it,
		// in its own API's shape. A same-format client gets the upstream's
		// own answer only when that is whole, valid JSON of a sane size:
		// not an echo of a huge request cut at the read limit, nor an HTML
		// page from something in between.
		lease.Done(pool.Outcome{Status: status})
		if pass && len(errBody) <= maxPassedError && gjson.ValidBytes(errBody) {
			copyHeaders(w.Header(), resp.Header)
			w.Header().Set("Content-Length", strconv.Itoa(len(errBody)))
			w.WriteHeader(status)
			_, _ = w.Write(errBody)
			c.rec.Status, c.rec.Error = status, scrub(upstreamMessage(errBody), lease.Key.Secret)
		} else {
			g.fail(w, c, &clientapi.Error{Status: status, Message: fmt.Sprintf("upstream %q: %s", up.name, scrub(upstreamMessage(errBody), lease.Key.Secret))})
		}
		return nil, true
	}

	if c.stream && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return g.relay(w, r, c, lease, up, resp, pass, dog)
	}
	out, err := readAnswer(dog, g.maxAnswer)
	if err != nil {
		var reason, msg string
		switch {
		case r.Context().Err() != nil:
			lease.Done(pool.Outcome{Canceled: true})
			c.rec.Status, c.rec.Error = 499, "client went away"
			return nil, true
		case dog.Expired():
			reason, msg = "upstream went silent", fmt.Sprintf("the upstream sent nothing for %s (idle_timeout)", g.idleTimeout)
		case errors.Is(err, errAnswerTooLarge):
			reason, msg = "oversized answer", fmt.Sprintf("the upstream's answer is larger than %d bytes (max_answer)", g.maxAnswer)
		default:
			reason, msg = "reading upstream answer", "reading answer: "+scrub(err.Error(), lease.Key.Secret)
		}
		lease.Done(pool.Outcome{Status: 0, Reason: reason})
		return &failure{upstream: up.name, broken: true, message: msg}, false
	}
	var usage translate.Usage
	if c.embed != nil {
		if out, usage, err = c.embedAnswer(w, resp, up, model, out, pass); err != nil {
			lease.Done(pool.Outcome{Status: 0, Reason: "unreadable answer"})
			return &failure{upstream: up.name, broken: true, message: "the proxy cannot use the upstream's answer: " + truncate(err.Error(), 200)}, false
		}
	} else if pass && !c.stream {
		// Passed on untouched, but never a broken answer as a success: a
		// fast validity check, not a parse.
		if !gjson.ValidBytes(out) {
			lease.Done(pool.Outcome{Status: 0, Reason: "invalid JSON answer"})
			return &failure{upstream: up.name, broken: true, message: "the upstream's answer is not valid JSON"}, false
		}
		usage, _ = up.codec.ReadUsage(out)
		c.rec.Served = servedModel(out, c.rec.UpstreamModel)
		copyHeaders(w.Header(), resp.Header)
	} else {
		// Translate the answer (or, for a stream the upstream answered
		// whole, hand the client what it can use: the answer in its API).
		canon, err := up.codec.DecodeResponse(out)
		if err != nil {
			lease.Done(pool.Outcome{Status: 0, Reason: "unreadable answer"})
			return &failure{upstream: up.name, broken: true,
				message: "the proxy cannot read the upstream's answer: " + truncate(err.Error(), 200)}, false
		}
		usage = canon.Usage
		c.rec.Served = servedName(canon.Model, c.rec.UpstreamModel)
		if c.stream {
			out = streamWhole(c, canon)
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			c.tools.RestoreResponse(canon)
			out = c.client.EncodeResponse(canon)
			w.Header().Set("Content-Type", "application/json")
		}
	}
	// Settled before the answer goes out, so a client that has it finds the
	// key's counters already up to date.
	lease.Done(pool.Outcome{Status: status, InputTokens: usage.Input, OutputTokens: usage.Output})
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, _ = w.Write(out)
	c.rec.Status, c.rec.InputTokens, c.rec.OutputTokens = status, usage.Input, usage.Output
	return nil, true
}

// maxPassedError is the largest upstream error answer passed verbatim to
// a same-format client; real ones are a few hundred bytes.
const maxPassedError = 64 << 10

// errAnswerTooLarge is an answer past max_answer.
var errAnswerTooLarge = errors.New("answer too large")

// readAnswer reads a whole upstream answer, at most max bytes (0 =
// unbounded), sized by Content-Length where the upstream sent one.
func readAnswer(r io.Reader, max int64) ([]byte, error) {
	if max <= 0 {
		return io.ReadAll(r)
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err == nil && int64(len(b)) > max {
		return nil, errAnswerTooLarge
	}
	return b, err
}

// streamWhole renders a whole answer as the client's stream, for an
// upstream that answered a streamed request in one piece.
func streamWhole(c *call, r *translate.Response) []byte {
	enc := c.tools.Wrap(c.client.NewStreamEncoder(translate.StreamOptions{Model: c.served(), IncludeUsage: c.includeUsage}))
	var out []byte
	ev := translate.StreamEvent{Type: translate.EvStart, ID: r.ID, Model: r.Model}
	out = enc.Encode(out, &ev)
	tools := 0
	for _, part := range r.Parts {
		switch part.Type {
		case translate.PartText:
			ev = translate.StreamEvent{Type: translate.EvText, Text: part.Text}
			out = enc.Encode(out, &ev)
		case translate.PartThinking:
			if part.Text != "" {
				ev = translate.StreamEvent{Type: translate.EvThinking, Text: part.Text}
				out = enc.Encode(out, &ev)
			}
			if part.Signature != "" || part.Redacted {
				sig := part.Signature
				if part.Redacted {
					sig = part.Data
				}
				ev = translate.StreamEvent{Type: translate.EvSignature, Text: sig, Redacted: part.Redacted, SignatureFormat: part.SignatureFormat}
				out = enc.Encode(out, &ev)
			}
		case translate.PartToolCall:
			ev = translate.StreamEvent{Type: translate.EvToolStart, Index: tools, ToolCallID: part.ToolCallID, ToolName: part.ToolName}
			out = enc.Encode(out, &ev)
			ev = translate.StreamEvent{Type: translate.EvToolArgs, Index: tools, Args: part.Arguments}
			out = enc.Encode(out, &ev)
			tools++
		}
	}
	ev = translate.StreamEvent{Type: translate.EvUsage, Usage: r.Usage}
	out = enc.Encode(out, &ev)
	ev = translate.StreamEvent{Type: translate.EvFinish, StopReason: r.StopReason, StopSequence: r.StopSequence}
	return enc.Encode(out, &ev)
}

// hopHeaders are connection-level headers that must not be copied.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Content-Length": true,
}

// accountHeaders are upstream answer headers about the pooled key's account
// rather than the answer: who owns the key (OpenAI's organization and
// project, Anthropic's organization id), the key's own rate limits (which
// are not the client's: its limits are the proxy's), and cookies and
// alternative services the provider sets for its own host, not the proxy's.
// A client of a key pool sees none of them.
var accountHeaders = map[string]bool{
	"Openai-Organization": true, "Openai-Project": true, "Anthropic-Organization-Id": true,
	"Set-Cookie": true, "Alt-Svc": true,
}

// copyHeaders copies an upstream answer's headers for the client, but for
// hop-by-hop and account headers.
func copyHeaders(dst, src http.Header) {
	for k, v := range src {
		if !hopHeaders[k] && !accountHeaders[k] && !strings.HasPrefix(k, "X-Ratelimit-") && !strings.HasPrefix(k, "Anthropic-Ratelimit-") {
			dst[k] = v
		}
	}
}

// upstreamMessage is the human part of an upstream error answer.
func upstreamMessage(body []byte) string {
	for _, path := range []string{"error.message", "message", "error", "0.error.message"} {
		if m := gjson.GetBytes(body, path); m.Type == gjson.String && m.Str != "" {
			return truncate(m.Str, 1000)
		}
	}
	if len(body) == 0 {
		return "(empty answer)"
	}
	return truncate(string(body), 500)
}

// truncate cuts s to at most n bytes (on a rune boundary) plus an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
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

// servedPaths are where the four wire formats name the model that served
// an answer (Chat, Responses and Anthropic "model"; Gemini
// "modelVersion"), and, for the first event of a stream, Anthropic's
// message_start and Responses' response.created.
var servedPaths = []string{"model", "modelVersion", "message.model", "response.model"}

// servedModel is the model an upstream's JSON answer or stream event says
// served it ("" when it does not say), cut to what the log keeps. When it
// is asked, the model the proxy asked for, the string is that one: the
// usual answer costs no allocation.
func servedModel(b []byte, asked string) string {
	for _, p := range servedPaths {
		if m := gjson.Get(translate.InPlace(b), p); m.Type == gjson.String && m.Str != "" {
			return servedName(m.Str, asked)
		}
	}
	return ""
}

// servedName is a served model name m as the records keep it: asked
// itself when it is that, else a copy cut to what the log keeps (m may
// point into a buffer that is reused).
func servedName(m, asked string) string {
	if m == asked {
		return asked
	}
	return strings.Clone(truncate(m, maxLogName))
}
