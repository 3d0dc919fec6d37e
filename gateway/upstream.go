package gateway

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/llmproxy/caddy-llm-proxy/egress"
	"github.com/llmproxy/caddy-llm-proxy/pool"
	"github.com/llmproxy/caddy-llm-proxy/providers"
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// upstream is an Upstream made ready to serve: its provider and that
// provider's wire format resolved, its transport built, its key specs known
// to the pool.
type upstream struct {
	cfg      *Upstream
	name     string
	provider providers.Provider
	codec    translate.ProviderCodec
	base     string
	client   *http.Client
	headers  http.Header
	priority int

	// own are the upstream's configured request settings; an alias with
	// settings of its own has its own (see aliasSettings).
	own settings

	models modelCache

	// timeout is the response-header timeout of the transports built for
	// keys with a proxy of their own, kept by proxy URL in proxied.
	timeout time.Duration
	mu      sync.Mutex
	proxied map[string]*http.Client

	// embeds is the provider's embeddings endpoint and embedder the format
	// it speaks; both nil for a provider without one (Anthropic).
	embeds   providers.Embedding
	embedder translate.Embedder
}

// settings are what the proxy changes in every request through one route
// target: the upstream's system_prompt, reasoning and max_output_tokens,
// or an alias's in their place.
type settings struct {
	// overrides are the system prompt and reasoning; a same-format body
	// is patched only when there are any.
	overrides    translate.Overrides
	hasOverrides bool
	// maxOutput is the configured max_output_tokens (0: the model
	// family's known limit).
	maxOutput int
}

func newSettings(systemPrompt, reasoning string, maxOutput int) settings {
	o := translate.Overrides{SystemPrompt: systemPrompt, Reasoning: reasoning}
	return settings{overrides: o, hasOverrides: o.SystemPrompt != "" || o.ReasoningOverride() != nil, maxOutput: maxOutput}
}

// aliasSettings are the settings of requests through alias a: each one
// the alias sets replaces the upstream's, the others are the upstream's.
// An alias that sets none shares the upstream's own.
func (u *upstream) aliasSettings(a Alias) *settings {
	if a.Reasoning == "" && a.SystemPrompt == "" && a.MaxOutputTokens == 0 {
		return &u.own
	}
	c := u.cfg
	s := newSettings(cmp.Or(a.SystemPrompt, c.SystemPrompt), cmp.Or(a.Reasoning, c.Reasoning), cmp.Or(a.MaxOutputTokens, c.MaxOutputTokens))
	return &s
}

func newUpstream(u *Upstream, timeout time.Duration) (*upstream, error) {
	prov := providers.Lookup(u.Provider)
	if prov == nil {
		return nil, fmt.Errorf("upstream %q: unknown provider %q", u.Name, u.Provider)
	}
	codec := translate.Provider(prov.Format())
	if codec == nil {
		return nil, fmt.Errorf("upstream %q: provider %q speaks %q, which has no provider codec", u.Name, u.Provider, prov.Format())
	}
	base := u.BaseURL
	if base == "" {
		base = prov.DefaultBaseURL()
	}
	proxy := envProxy()
	if u.Proxy != "" {
		pu, err := parseProxy(u.Proxy)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", u.Name, err)
		}
		proxy = http.ProxyURL(pu)
	}
	h := make(http.Header, len(u.Headers))
	for k, v := range u.Headers {
		h.Set(k, v)
	}
	embeds, _ := prov.(providers.Embedding)
	var embedder translate.Embedder
	if embeds != nil {
		if embedder = translate.AsEmbedder(embeds.EmbedFormat()); embedder == nil {
			embeds = nil
		}
	}
	return &upstream{
		cfg:      u,
		name:     u.Name,
		provider: prov,
		codec:    codec,
		base:     base,
		client:   &http.Client{Transport: egress.New(egress.Options{HeaderTimeout: timeout, Proxy: proxy})},
		headers:  h,
		priority: u.Priority,
		own:      newSettings(u.SystemPrompt, u.Reasoning, u.MaxOutputTokens),
		timeout:  timeout,
		embeds:   embeds,
		embedder: embedder,
	}, nil
}

// envProxy is the proxy the environment names for a request
// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY and their lowercase forms), read now,
// at provision: unlike http.ProxyFromEnvironment, which reads the
// environment once per process, a reload sees a changed environment. Nil
// when the environment names no proxy. (Loopback hosts are never proxied.)
func envProxy() func(*http.Request) (*url.URL, error) {
	cfg := httpproxy.FromEnvironment()
	if cfg.HTTPProxy == "" && cfg.HTTPSProxy == "" {
		return nil
	}
	f := cfg.ProxyFunc()
	return func(r *http.Request) (*url.URL, error) { return f(r.URL) }
}

// parseProxy parses a proxy URL; its error never holds the URL, which may
// hold a password.
func parseProxy(s string) (*url.URL, error) {
	pu, err := url.Parse(s)
	if err != nil || pu.Host == "" {
		return nil, errors.New("proxy is not a valid URL")
	}
	return pu, nil
}

// baseFor is the API root of key k's requests.
func (u *upstream) baseFor(k *pool.KeySpec) string {
	if k.Egress != nil && k.Egress.BaseURL != "" {
		return k.Egress.BaseURL
	}
	return u.base
}

// clientFor is the client of key k's requests: the upstream's, or for a
// key with a proxy of its own, one transport per proxy URL, built on first
// use (at provision, or when the key is added through the admin API).
func (u *upstream) clientFor(k *pool.KeySpec) (*http.Client, error) {
	if k.Egress == nil || k.Egress.Proxy == "" {
		return u.client, nil
	}
	p := k.Egress.Proxy
	u.mu.Lock()
	defer u.mu.Unlock()
	if c := u.proxied[p]; c != nil {
		return c, nil
	}
	pu, err := parseProxy(p)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.ID, err)
	}
	if u.proxied == nil {
		u.proxied = make(map[string]*http.Client)
	}
	c := &http.Client{Transport: egress.New(egress.Options{HeaderTimeout: u.timeout, Proxy: http.ProxyURL(pu)})}
	u.proxied[p] = c
	return c, nil
}

// outbound is one request to an upstream.
type outbound struct {
	method string
	url    string
	body   []byte // nil for a GET
	stream bool   // ask for an event stream
	// pass are client headers the upstream must see with a same-format
	// body that relies on them (Anthropic's anthropic-version and -beta).
	pass http.Header
}

// send is the one upstream round trip: generation, token counting, key
// probes and model lists all go through it. It sets the client headers to
// pass, the upstream's fixed headers, the key's own, and the key by the
// provider's rule, on the whole request, and goes out the key's way.
func (u *upstream) send(ctx context.Context, o outbound, k *pool.KeySpec) (*http.Response, error) {
	client, err := u.clientFor(k)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, o.method, o.url, nil)
	if err != nil {
		return nil, err
	}
	var body *requestBody
	switch {
	case len(o.body) > egress.BufferSize:
		body = &requestBody{b: o.body}
		req.Body, req.GetBody, req.ContentLength = &bodyReader{b: o.body}, body.open, int64(len(o.body))
	case len(o.body) > 0:
		// A body this small is not worth letting go of, and a
		// bytes.Reader is one net/http knows: it writes the headers and
		// the body in one go, where with a reader of its own it sends the
		// headers first, a write and a packet more for each request.
		b := o.body
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	h := req.Header
	if o.body != nil {
		h.Set("Content-Type", "application/json")
	}
	if o.stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	for k, v := range o.pass {
		h[k] = v
	}
	for name, v := range u.headers {
		h[name] = v
	}
	if k.Egress != nil {
		for name, v := range k.Egress.Headers {
			h.Set(name, v)
		}
	}
	u.provider.Authorize(req, k.Secret)
	// The transport itself, not Client.Do: an API call follows no
	// redirect (a 3xx is the upstream's answer), and Do copies every
	// request's headers in case it would.
	resp, err := client.Transport.RoundTrip(req)
	// Past the round trip, net/http sends the request no more (it asks
	// GetBody for the body again only to resend it, within it).
	body.release()
	return resp, err
}

// requestBody is an upstream request's body as GetBody hands it out, to
// send the request again on another connection. It lets go of the bytes
// once the round trip is over, and its readers do as they reach the end,
// because the request lives as long as its answer: minutes for a stream,
// whose request may be hundreds of kilobytes (a whole conversation).
type requestBody struct{ b []byte }

func (r *requestBody) open() (io.ReadCloser, error) { return &bodyReader{b: r.b}, nil }

func (r *requestBody) release() {
	if r != nil {
		r.b = nil
	}
}

// bodyReader reads a request body once. Close may come from another
// goroutine while a Read runs (net/http allows it), so it touches nothing.
type bodyReader struct{ b []byte }

func (r *bodyReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	if len(r.b) == 0 {
		r.b = nil // an empty slice at the end may still point into the body
	}
	return n, nil
}

func (r *bodyReader) Close() error { return nil }

// fetch sends o and reads the whole answer, up to limit bytes.
func (u *upstream) fetch(ctx context.Context, o outbound, k *pool.KeySpec, limit int64) (int, []byte, error) {
	resp, err := u.send(ctx, o, k)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return resp.StatusCode, body, err
}

// probe asks for the upstream's model list with a key: the cheap call
// that tells whether the key works, and the list itself.
func (u *upstream) probe(ctx context.Context, k *pool.KeySpec) (int, []byte, error) {
	return u.fetch(ctx, outbound{method: http.MethodGet, url: u.provider.ModelsURL(u.baseFor(k))}, k, 8<<20)
}

// admits reports whether the upstream's `models` patterns let model through.
func (u *upstream) admits(model string) bool {
	_, ok := u.admittedBy(model)
	return ok
}

// admittedBy returns the pattern that admits model ("*" for an upstream
// without `models`): a label from configuration, never from the client.
func (u *upstream) admittedBy(model string) (string, bool) {
	return AdmittedBy(u.cfg.Models, model)
}

func (u *upstream) close() {
	u.client.CloseIdleConnections()
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.proxied {
		c.CloseIdleConnections()
	}
}

// modelCache holds an upstream's own model list, fetched lazily for the
// model-list endpoints so that `models` globs can be expanded.
type modelCache struct {
	mu      sync.Mutex
	list    []string
	fetched bool      // a fetch has ended (list may be stale, or empty)
	expires time.Time // when to fetch again
	// refreshing is closed when the fetch under way ends; nil when none is.
	refreshing chan struct{}
}

const (
	modelListTTL      = 10 * time.Minute
	modelListRetryTTL = time.Minute
	// modelListBound caps how long one upstream's list may take, so a
	// silent upstream never holds a model-list request for long.
	modelListBound = 5 * time.Second
)

// list answers the upstream's models, fetched with a healthy key of the
// pool (Caddyfile or admin-added) at most once per TTL. Once a list is
// known, a stale one is served while a fresh one is fetched behind it; a
// failed fetch leaves globs unexpanded for a minute rather than slowing
// every model-list request.
func (u *upstream) list(ctx context.Context, pick func([]pool.Target) *pool.KeySpec) []string {
	m := &u.models
	m.mu.Lock()
	if time.Now().Before(m.expires) {
		defer m.mu.Unlock()
		return m.list
	}
	done := m.refreshing
	if done == nil {
		done = make(chan struct{})
		m.refreshing = done
		go u.refresh(pick, done)
	}
	list, fetched := m.list, m.fetched
	m.mu.Unlock()
	if fetched {
		return list
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list
}

// refresh fetches the list, bounded by its own timer rather than by the
// request that asked, which may be served stale and gone.
func (u *upstream) refresh(pick func([]pool.Target) *pool.KeySpec, done chan struct{}) {
	var list []string
	ok := false
	if k := pick([]pool.Target{{Upstream: u.name}}); k != nil {
		ctx, cancel := context.WithTimeout(context.Background(), modelListBound)
		status, body, err := u.probe(ctx, k)
		cancel()
		if err == nil && status == http.StatusOK {
			list, ok = u.provider.ParseModels(body), true
		}
	}
	m := &u.models
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetched = true
	if ok {
		m.list, m.expires = list, time.Now().Add(modelListTTL)
	} else {
		m.expires = time.Now().Add(modelListRetryTTL)
	}
	m.refreshing = nil
	close(done)
}
