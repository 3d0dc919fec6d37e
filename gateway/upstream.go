package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/clientapi"
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

	// overrides are the configured system_prompt and reasoning; a
	// same-format body is patched only when there are any.
	overrides    translate.Overrides
	hasOverrides bool

	models modelCache
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
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: timeout,
	}
	if u.Proxy != "" {
		pu, err := url.Parse(u.Proxy)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: proxy: %w", u.Name, err)
		}
		// net/http speaks http, https and socks5 proxies alike.
		tr.Proxy = http.ProxyURL(pu)
	}
	h := make(http.Header, len(u.Headers))
	for k, v := range u.Headers {
		h.Set(k, v)
	}
	o := translate.Overrides{SystemPrompt: u.SystemPrompt, Reasoning: u.Reasoning}
	return &upstream{
		cfg:          u,
		name:         u.Name,
		provider:     prov,
		codec:        codec,
		base:         base,
		client:       &http.Client{Transport: tr},
		headers:      h,
		priority:     u.Priority,
		overrides:    o,
		hasOverrides: o.SystemPrompt != "" || o.ReasoningOverride() != nil,
	}, nil
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
// pass, the upstream's fixed headers, and the key by the provider's rule,
// on the whole request.
func (u *upstream) send(ctx context.Context, o outbound, secret string) (*http.Response, error) {
	var body io.Reader
	if o.body != nil {
		body = bytes.NewReader(o.body)
	}
	req, err := http.NewRequestWithContext(ctx, o.method, o.url, body)
	if err != nil {
		return nil, err
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
	for k, v := range u.headers {
		h[k] = v
	}
	u.provider.Authorize(req, secret)
	return u.client.Do(req)
}

// fetch sends o and reads the whole answer, up to limit bytes.
func (u *upstream) fetch(ctx context.Context, o outbound, secret string, limit int64) (int, []byte, error) {
	resp, err := u.send(ctx, o, secret)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return resp.StatusCode, body, err
}

// probe asks for the upstream's model list with a key: the cheap call
// that tells whether the key works, and the list itself.
func (u *upstream) probe(ctx context.Context, secret string) (int, []byte, error) {
	return u.fetch(ctx, outbound{method: http.MethodGet, url: u.provider.ModelsURL(u.base)}, secret, 8<<20)
}

// admits reports whether the upstream's `models` patterns let model through.
func (u *upstream) admits(model string) bool {
	_, ok := u.admittedBy(model)
	return ok
}

// admittedBy returns the pattern that admits model ("*" for an upstream
// without `models`): a label from configuration, never from the client.
func (u *upstream) admittedBy(model string) (string, bool) {
	if len(u.cfg.Models) == 0 {
		return "*", true
	}
	for _, p := range u.cfg.Models {
		if p == model || (isGlob(p) && matchGlob(p, model)) {
			return p, true
		}
	}
	return "", false
}

func (u *upstream) close() {
	u.client.CloseIdleConnections()
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
		status, body, err := u.probe(ctx, k.Secret)
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

// route is where a client's model name leads: one target per upstream that
// may serve it, with the model name that upstream gets.
type route struct {
	ups     []*upstream
	models  []string
	targets []pool.Target
	// label names the route in metrics: the alias or configured model name,
	// or the pattern that admitted the model.
	label string
}

func (rt *route) add(u *upstream, model string) {
	rt.ups = append(rt.ups, u)
	rt.models = append(rt.models, model)
	rt.targets = append(rt.targets, pool.Target{Upstream: u.name, Priority: u.priority})
}

// pick returns the upstream a lease landed on and the model it gets.
func (rt *route) pick(upstreamName string) (*upstream, string) {
	for i, u := range rt.ups {
		if u.name == upstreamName {
			return u, rt.models[i]
		}
	}
	return nil, ""
}

// router resolves model names. Aliases, `<upstream>/<model>` forms of them
// and literal model names are resolved once at provision time; names that
// only a glob (or an upstream with no `models`) admits are resolved per
// request.
type router struct {
	ups    []*upstream
	byName map[string]*upstream
	static map[string]*route
}

func newRouter(ups []*upstream) *router {
	r := &router{ups: ups, byName: make(map[string]*upstream, len(ups)), static: map[string]*route{}}
	for _, u := range ups {
		r.byName[u.name] = u
	}
	for _, u := range ups {
		for alias, target := range u.cfg.Aliases {
			r.static[alias] = oneRoute(u, target, alias)
			r.static[u.name+"/"+alias] = oneRoute(u, target, u.name+"/"+alias)
		}
	}
	for _, u := range ups {
		for _, m := range u.cfg.Models {
			if isGlob(m) {
				continue
			}
			if _, ok := r.static[m]; !ok {
				r.static[m] = r.resolveDynamic(m)
				r.static[m].label = m
			}
			if _, ok := r.static[u.name+"/"+m]; !ok {
				r.static[u.name+"/"+m] = oneRoute(u, m, u.name+"/"+m)
			}
		}
	}
	return r
}

func oneRoute(u *upstream, model, label string) *route {
	rt := &route{label: label}
	rt.add(u, model)
	return rt
}

// resolve returns the route for a client's model name, or nil if no
// upstream serves it.
func (r *router) resolve(model string) *route {
	if rt, ok := r.static[model]; ok {
		return rt
	}
	// An explicit `<upstream>/<model>` wins over a model name that happens to
	// contain a slash (as OpenRouter's do).
	if i := strings.IndexByte(model, '/'); i > 0 {
		if u, ok := r.byName[model[:i]]; ok {
			if pattern, ok := u.admittedBy(model[i+1:]); ok && i+1 < len(model) {
				return oneRoute(u, model[i+1:], u.name+"/"+pattern)
			}
			return nil
		}
	}
	return r.resolveDynamic(model)
}

func (r *router) resolveDynamic(model string) *route {
	var rt *route
	for _, u := range r.ups {
		if pattern, ok := u.admittedBy(model); ok {
			if rt == nil {
				rt = &route{label: pattern}
			}
			rt.add(u, model)
		}
	}
	return rt
}

// listModels is every model a client may ask for: aliases, literal models,
// and globs (or an empty `models`) expanded from the upstream's own list.
func (r *router) listModels(ctx context.Context, pick func([]pool.Target) *pool.KeySpec) []clientapi.ModelEntry {
	// The upstreams' own lists (for globs) are asked all at once.
	ctx, cancel := context.WithTimeout(ctx, modelListBound)
	defer cancel()
	own := make([][]string, len(r.ups))
	var wg sync.WaitGroup
	for i, u := range r.ups {
		if u.hasGlobs() {
			wg.Go(func() { own[i] = u.list(ctx, pick) })
		}
	}
	wg.Wait()

	var out []clientapi.ModelEntry
	seen := map[string]bool{}
	add := func(id, up string) {
		if !seen[id] {
			seen[id] = true
			out = append(out, clientapi.ModelEntry{ID: id, Upstream: up})
		}
	}
	for i, u := range r.ups {
		aliases := make([]string, 0, len(u.cfg.Aliases))
		for a := range u.cfg.Aliases {
			aliases = append(aliases, a)
		}
		sort.Strings(aliases)
		for _, a := range aliases {
			add(a, u.name)
		}
		for _, m := range u.cfg.Models {
			if !isGlob(m) {
				add(m, u.name)
			}
		}
		for _, m := range own[i] {
			if u.admits(m) {
				add(m, u.name)
			}
		}
	}
	return out
}

// hasGlobs reports whether the upstream's `models` need its own list to
// be expanded (a glob, or no `models` at all).
func (u *upstream) hasGlobs() bool {
	if len(u.cfg.Models) == 0 {
		return true
	}
	for _, m := range u.cfg.Models {
		if isGlob(m) {
			return true
		}
	}
	return false
}

func isGlob(pattern string) bool { return strings.IndexByte(pattern, '*') >= 0 }

// matchGlob matches name against a pattern whose `*` stands for any run of
// characters, slashes included (OpenRouter's model names have them).
func matchGlob(pattern, name string) bool {
	star, next := -1, 0
	p, n := 0, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, next = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			next++
			p, n = star+1, next
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
