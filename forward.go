package llmproxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/pool"
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

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
			p.fail(w, c, p.unavailable(c, err, last))
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
	p.fail(w, c, last.toAPIError())
}

// unavailable is the answer when the pool has no key for the call.
func (p *Proxy) unavailable(c *call, err error, last *failure) *apiError {
	un, _ := errors.AsType[*pool.Unavailable](err)
	switch {
	case un != nil && un.AllDisabled:
		msg := fmt.Sprintf("every key that could serve %q is disabled", c.model)
		if last != nil {
			msg += "; last failure: " + last.toAPIError().Message
		}
		return &apiError{Status: http.StatusServiceUnavailable, Message: msg}
	case last != nil && last.status != http.StatusTooManyRequests:
		return last.toAPIError()
	case un != nil:
		return &apiError{Status: http.StatusTooManyRequests, RetryAfter: ceilSeconds(un.RetryAfter),
			Message: fmt.Sprintf("every key that could serve %q is at a limit or cooling down", c.model)}
	}
	return &apiError{Status: http.StatusInternalServerError, Message: "key pool: " + err.Error()}
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

// upstreamBody is the body for one attempt: the client's own when formats
// match (model and configured overrides patched in), else the canonical
// request encoded for the provider.
func (c *call) upstreamBody(u *upstream, model string) ([]byte, error) {
	if sameFormat(c.api, u.provider.Name()) {
		body, err := c.withModel(u.codec, model)
		if err == nil && u.hasOverrides {
			body, err = u.codec.Patch(body, u.overrides)
		}
		return body, err
	}
	req := *c.canon
	req.Model, req.Stream = model, c.stream
	u.overrides.Apply(&req)
	return u.codec.EncodeRequest(&req)
}

// withModel is the client's body for a same-format upstream, with the model
// that upstream gets (a Gemini codec leaves it: its model is in the URL).
func (c *call) withModel(codec translate.ProviderCodec, model string) ([]byte, error) {
	if model == c.model {
		return c.body, nil
	}
	return codec.SetModel(c.body, model)
}

// attempt sends the call with one lease. done is false when the attempt
// failed retryably before anything reached the client.
func (p *Proxy) attempt(w http.ResponseWriter, r *http.Request, c *call, lease *pool.Lease) (f *failure, done bool) {
	up, model := c.route.pick(lease.Upstream)
	c.rec.Upstream, c.rec.UpstreamModel, c.rec.KeyID = up.name, model, lease.Key.ID
	pass := sameFormat(c.api, up.provider.Name())
	body, err := c.upstreamBody(up, model)
	if err != nil {
		lease.Done(pool.Outcome{Canceled: true})
		p.fail(w, c, requestError(err))
		return nil, true
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, up.provider.GenerateURL(up.base, model, c.stream), bytes.NewReader(body))
	if err != nil {
		lease.Done(pool.Outcome{Canceled: true})
		p.fail(w, c, &apiError{Status: http.StatusInternalServerError, Message: "building upstream request: " + err.Error()})
		return nil, true
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	if c.stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	if pass && c.api == apiAnthropic {
		// Claude clients opt into features per request; those must reach
		// an Anthropic upstream along with the body that uses them.
		for _, k := range []string{"anthropic-version", "anthropic-beta"} {
			if v := r.Header.Get(k); v != "" {
				h.Set(k, v)
			}
		}
	}
	up.authorize(h, lease.Key.Secret)

	sent := time.Now()
	resp, err := up.client.Do(req)
	c.rec.TTFB = time.Since(sent)
	if err != nil {
		if r.Context().Err() != nil {
			lease.Done(pool.Outcome{Canceled: true})
			c.rec.Status, c.rec.Error = 499, "client went away"
			return nil, true
		}
		msg := scrub(err.Error(), lease.Key.Secret)
		lease.Done(pool.Outcome{Status: 0, Reason: "network error"})
		p.logger.Warn("upstream unreachable", zap.String("upstream", up.name), zap.String("key_id", lease.Key.ID), zap.String("error", msg))
		return &failure{upstream: up.name, message: msg}, false
	}
	defer resp.Body.Close()

	status := resp.StatusCode
	if status >= 300 {
		errBody, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if up.provider.KeyRejected(status, errBody) {
			status = http.StatusUnauthorized // the pool treats it as a refused key
		}
		if retryable(status) {
			msg := scrub(upstreamMessage(errBody), lease.Key.Secret)
			ra := retryAfter(resp.Header)
			lease.Done(pool.Outcome{
				Status:         status,
				RetryAfter:     ra,
				QuotaExhausted: up.provider.QuotaExhausted(resp.StatusCode, errBody),
				Reason:         fmt.Sprintf("%d from upstream: %s", resp.StatusCode, truncate(msg, 200)),
			})
			if ce := p.logger.Check(zap.InfoLevel, "upstream refused; trying another key"); ce != nil {
				ce.Write(zap.String("upstream", up.name), zap.String("key_id", lease.Key.ID), zap.Int("status", resp.StatusCode))
			}
			return &failure{upstream: up.name, status: status, message: msg, retryAfter: ra}, false
		}
		// The request's own fault (400, 404, 422...): the client hears it,
		// in its own API's shape.
		lease.Done(pool.Outcome{Status: status})
		if pass {
			copyHeaders(w.Header(), resp.Header)
			w.Header().Set("Content-Length", strconv.Itoa(len(errBody)))
			w.WriteHeader(status)
			_, _ = w.Write(errBody)
			c.rec.Status, c.rec.Error = status, scrub(upstreamMessage(errBody), lease.Key.Secret)
		} else {
			p.fail(w, c, &apiError{Status: status, Message: fmt.Sprintf("upstream %q: %s", up.name, scrub(upstreamMessage(errBody), lease.Key.Secret))})
		}
		return nil, true
	}

	if c.stream && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		p.relay(w, r, c, lease, up, resp, pass)
		return nil, true
	}
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		if r.Context().Err() != nil {
			lease.Done(pool.Outcome{Canceled: true})
			c.rec.Status, c.rec.Error = 499, "client went away"
			return nil, true
		}
		lease.Done(pool.Outcome{Status: 0, Reason: "reading upstream answer"})
		return &failure{upstream: up.name, status: status, message: "reading answer: " + scrub(err.Error(), lease.Key.Secret)}, false
	}
	var usage translate.Usage
	if pass && !c.stream {
		usage, _ = up.codec.ReadUsage(out)
		copyHeaders(w.Header(), resp.Header)
	} else {
		// Translate the answer (or, for a stream the upstream answered
		// whole, hand the client what it can use: the answer in its API).
		canon, err := up.codec.DecodeResponse(out)
		if err != nil {
			lease.Done(pool.Outcome{Status: http.StatusBadGateway, Reason: "unreadable answer"})
			p.fail(w, c, &apiError{Status: http.StatusBadGateway, Message: fmt.Sprintf("upstream %q sent an answer the proxy cannot read: %v", up.name, err)})
			return nil, true
		}
		usage = canon.Usage
		if c.stream {
			out = streamWhole(c, canon)
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			out = encodeInboundResponse(c.api, canon)
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

// streamWhole renders a whole answer as the client's stream, for an
// upstream that answered a streamed request in one piece.
func streamWhole(c *call, r *translate.Response) []byte {
	enc := newInboundStreamEncoder(c.api, translate.StreamOptions{Model: c.model, IncludeUsage: c.includeUsage})
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
				ev = translate.StreamEvent{Type: translate.EvSignature, Text: sig, Redacted: part.Redacted}
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

func copyHeaders(dst, src http.Header) {
	for k, v := range src {
		if !hopHeaders[k] {
			dst[k] = v
		}
	}
}

// upstreamMessage is the human part of an upstream error answer.
func upstreamMessage(body []byte) string {
	for _, path := range []string{"error.message", "message", "error", "0.error.message"} {
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
