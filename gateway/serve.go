package gateway

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmproxy/caddy-llm-proxy/clientapi"
	"github.com/llmproxy/caddy-llm-proxy/pool"
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// ServeHTTP answers the client endpoints of the four APIs, which
// package clientapi routes by the end of the path, so the handler works
// under handle_path; it is terminal and never calls next.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	a, ep, routed := clientapi.Route(r)
	ce, ok := g.authorize(r)
	if !ok {
		clientapi.WriteError(w, a, &clientapi.Error{Status: http.StatusUnauthorized, Message: "missing or invalid client key"})
		return
	}
	if ce != nil && ce.disabled {
		clientapi.WriteError(w, a, &clientapi.Error{Status: http.StatusForbidden, Code: "client_disabled",
			Message: fmt.Sprintf("client %q is disabled", ce.name)})
		return
	}
	switch {
	case !routed:
		clientapi.WriteError(w, a, &clientapi.Error{Status: http.StatusNotFound, Code: "unknown_url", Message: "unknown path " + truncate(r.URL.Path, maxEcho)})
	case r.Method != ep.Method:
		clientapi.WriteError(w, a, &clientapi.Error{Status: http.StatusMethodNotAllowed, Message: "method not allowed; use " + ep.Method, Allow: ep.Method})
	case ep.Kind == clientapi.Models:
		g.serveModelList(w, r, a, ce)
	default:
		g.serveRequest(w, r, a, ep, ce, start)
	}
}

// serveRequest serves a generation or counting request of client ce (nil:
// anonymous) and records it.
func (g *Gateway) serveRequest(w http.ResponseWriter, r *http.Request, a clientapi.API, ep clientapi.Endpoint, ce *clientEntry, start time.Time) {
	c := &call{api: a, client: translate.Client(a.Format()), ep: ep, model: ep.Model, stream: ep.Stream, who: ce}
	c.rec = requestRecord{Time: start, API: a.Name(), Model: ep.Model}
	if ce != nil {
		c.rec.Client, c.hold.Client = ce.name, ce.limiter
		if ce.limiter == nil {
			ce.use.start(start.Unix())
		}
	}
	// Deferred, so that nothing can keep a client's place taken: it frees
	// with its request, settled with the tokens its answer used (those the
	// key was settled with).
	defer func() {
		g.pool.Release(&c.hold, c.rec.InputTokens+c.rec.OutputTokens)
		if ce != nil && ce.limiter == nil {
			ce.use.inFlight.Add(-1)
		}
	}()
	g.serveCall(w, r, c)
	c.rec.Latency = time.Since(start)
	g.observe(&c.rec)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Map(c.rec.placeholders().get)
	}
}

// authorize finds the client of the secret the request presents, in any of
// the places SDKs put it. ok is false when the request must be refused
// (no secret, or an unknown one, unless the proxy is open); ce is nil for
// an anonymous request to an open proxy.
func (g *Gateway) authorize(r *http.Request) (ce *clientEntry, ok bool) {
	t := g.clients.Load()
	if g.open && len(t.bySum) == 0 {
		return nil, true // nobody to recognize: no need to look for a secret
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
		return nil, g.open
	}
	// Compared as digests: see clientTable.bySum for why a map lookup is
	// as safe as a constant-time comparison here.
	ce = t.bySum[sha256.Sum256([]byte(k))]
	if ce == nil {
		return nil, g.open
	}
	return ce, true
}

// readBody reads the request body up to max_body.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *clientapi.Error) {
	tooLarge := func() *clientapi.Error {
		return &clientapi.Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", g.maxBody)}
	}
	if r.ContentLength > g.maxBody {
		return nil, tooLarge()
	}
	body := http.MaxBytesReader(w, r.Body, g.maxBody)
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
			return nil, tooLarge()
		}
		return nil, &clientapi.Error{Status: http.StatusBadRequest, Message: "reading request body: " + err.Error()}
	}
	return buf, nil
}

// call is one client request on its way to an upstream.
type call struct {
	api    clientapi.API
	client translate.ClientCodec // the client's format
	ep     clientapi.Endpoint
	body   []byte // as the client sent it, plus proxy-side additions
	model  string // as the client asked for it
	stream bool
	// includeUsage: an OpenAI Chat client asked for the usage chunk.
	includeUsage bool
	// stripUsage: the proxy asked an OpenAI upstream for stream usage the
	// client did not ask for, so the extra usage chunk is swallowed.
	stripUsage bool
	route      *route
	// fallback is the fallback model being tried (see forward), "" while
	// the model the client asked for is.
	fallback string
	estimate int64
	// canon is the request in canonical form, decoded once when some
	// target speaks another format than the client.
	canon *translate.Request
	// tools puts the client's own tool names, namespaces and kinds back on
	// a translated answer (nil when they need nothing).
	tools *translate.ClientTools
	// embed is an embeddings request, decoded; nil for other requests.
	embed *translate.EmbedRequest
	// warned: what translation drops has been logged for this request.
	warned bool
	rec    requestRecord
	// who is the client (nil: anonymous, on an open proxy); hold is its
	// place under its own limits, taken by the first admitted attempt.
	who  *clientEntry
	hold pool.ClientHold
}

// served is the model name being served: the client's, or the fallback
// model in use. A translated answer names it.
func (c *call) served() string {
	if c.fallback != "" {
		return c.fallback
	}
	return c.model
}

// passes reports whether the client and an upstream speak the same wire
// format, so the body passes through with only the model changed.
func (c *call) passes(u *upstream) bool {
	if c.embed != nil {
		return u.embeds != nil && c.api.Format() == u.embeds.EmbedFormat()
	}
	return c.api.Format() == u.provider.Format()
}

// answered lets go of what only attempts use, the request's body and its
// canonical form, once the client's answer has begun and no attempt can
// follow: a stream holds its call for as long as it lasts, minutes, and a
// request may be hundreds of kilobytes (a whole conversation).
func (c *call) answered() { c.body, c.canon = nil, nil }

// serveCall checks a generation or token-counting request and sends it on.
func (g *Gateway) serveCall(w http.ResponseWriter, r *http.Request, c *call) {
	body, aerr := g.readBody(w, r)
	if aerr == nil {
		c.body = body
		aerr = c.parse()
		c.rec.Model = c.model
	}
	if aerr == nil && c.who != nil && !c.who.allows(c.model, g.isUpstream) {
		aerr = &clientapi.Error{Status: http.StatusForbidden, Code: "model_not_allowed",
			Message: fmt.Sprintf("client %q may not use the model %q", c.who.name, truncate(c.model, maxEcho))}
	}
	if aerr == nil {
		c.route = g.router.resolve(c.model)
		if c.route == nil {
			aerr = &clientapi.Error{Status: http.StatusNotFound, Code: "model_not_found",
				Message: fmt.Sprintf("the model %q does not exist or is not served by this proxy", truncate(c.model, maxEcho))}
		}
	}
	if aerr == nil {
		c.rec.ModelLabel = c.route.label
		aerr = c.prepare()
	}
	if aerr != nil {
		g.fail(w, c, aerr)
		return
	}
	if c.ep.Kind == clientapi.Count {
		g.countTokens(w, r, c)
		return
	}
	g.forward(w, r, c)
}

// fail answers an error and records it.
func (g *Gateway) fail(w http.ResponseWriter, c *call, e *clientapi.Error) {
	clientapi.WriteError(w, c.api, e)
	c.rec.Status, c.rec.Error = e.Status, e.Message
}

// parse checks the body is JSON and lets the client's API read what
// routing needs from it.
func (c *call) parse() *clientapi.Error {
	if c.ep.Kind == clientapi.Embed {
		c.rec.Endpoint = "embeddings"
	}
	if !gjson.ValidBytes(c.body) {
		return &clientapi.Error{Status: http.StatusBadRequest, Message: "request body is not valid JSON"}
	}
	f, err := c.api.Parse(c.body, c.ep)
	c.model, c.stream, c.includeUsage = f.Model, f.Stream, f.IncludeUsage
	return err
}

// prepare decodes the request when some target needs it translated, and
// makes the same-format body ready, before any key is spent on it.
func (c *call) prepare() *clientapi.Error {
	if c.ep.Kind == clientapi.Embed {
		return c.prepareEmbed()
	}
	c.estimate = translate.EstimateTokens(c.body)
	if _, err := c.readyFor(c.route); err != nil {
		return err
	}
	if ua, ok := c.api.(clientapi.UsageAsking); ok && c.stream && c.ep.Kind == clientapi.Generate {
		var err error
		if c.body, c.stripUsage, err = ua.AskStreamUsage(c.body); err != nil {
			return &clientapi.Error{Status: http.StatusBadRequest, Message: "request body: " + err.Error()}
		}
	}
	return nil
}

// readyFor makes the call ready for the targets of rt (its own route, or
// a fallback model's) and returns the route to use: an embeddings request
// keeps only the targets that can embed it; any other is decoded, once,
// when some target speaks another format than the client.
func (c *call) readyFor(rt *route) (*route, *clientapi.Error) {
	if c.embed != nil {
		return c.embedRoute(rt)
	}
	if c.canon != nil {
		return rt, nil
	}
	for _, u := range rt.ups {
		if !c.passes(u) {
			canon, err := c.decode()
			if err != nil {
				return nil, requestError(err)
			}
			c.canon, c.tools = canon, translate.NewClientTools(canon)
			return rt, nil
		}
	}
	return rt, nil
}

// decode decodes the client's request into canonical form.
func (c *call) decode() (*translate.Request, error) {
	return c.client.DecodeRequest(c.body, translate.DecodeOptions{
		Model: c.ep.Model, Stream: c.ep.Stream, Count: c.ep.Kind == clientapi.Count,
	})
}

// requestError turns a decoder's error into a 400. The decoders' messages
// name the parameter themselves where they know it, so it is not repeated.
func requestError(err error) *clientapi.Error {
	msg := err.Error()
	if re, ok := errors.AsType[*translate.RequestError](err); ok && re.Param != "" && !strings.Contains(msg, re.Param) {
		msg = re.Param + ": " + re.Message
	}
	return &clientapi.Error{Status: http.StatusBadRequest, Message: msg}
}

// isUpstream reports whether name is a configured upstream's.
func (g *Gateway) isUpstream(name string) bool { return g.router.byName[name] != nil }
