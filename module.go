// Package llmproxy is a Caddy HTTP handler that serves the OpenAI, Anthropic
// and Gemini client APIs from a pool of upstream keys with limits and health.
package llmproxy

import (
	"cmp"
	"fmt"
	"net/http"
	"path/filepath"
	"time"
	_ "time/tzdata" // `timezone` must work on hosts without a zoneinfo database

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmproxy/caddy-llm-proxy/gateway"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

func init() {
	caddy.RegisterModule(Proxy{})
}

// Proxy is the llm_proxy handler. It answers LLM API requests itself (it never
// calls the next handler), picking an upstream key by weight among those
// under every limit and healthy.
type Proxy struct {
	// Name identifies this instance in the admin API, metrics and the default
	// storage directory. Default: "default". Unique within one config.
	Name string `json:"name,omitempty"`

	// ClientKeys are the secrets clients must present. With none, the proxy
	// is open to anyone who can reach it (a warning is logged at start).
	ClientKeys []string `json:"client_keys,omitempty"`

	// Clients are named clients, each with its own secrets, allowed models
	// and limits. Clients can also be made through the admin API. With no
	// client_keys and no clients, the proxy is open.
	Clients []*Client `json:"clients,omitempty"`

	// Storage is where counters and key states live. Default: Badger in
	// <caddy data dir>/llm_proxy/<name>; Redis to share them between Caddy
	// instances.
	Storage *Storage `json:"storage,omitempty"`

	// Retries is how many further attempts are made after a retryable
	// upstream failure, before the first byte reaches the client: on other
	// keys, or on the same key after a short pause when no other is left
	// and the upstream failed (5xx, no answer at all). Default: 2.
	Retries *int `json:"retries,omitempty"`

	// Timeout is the upstream response-header timeout. Default: 2m.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// IdleTimeout is the longest silence allowed from an upstream after its
	// response headers, for a JSON answer and for a stream alike. Before
	// the first byte reaches the client, a silent upstream is a retryable
	// failure; after it, the stream ends with an error event. Default: 5m.
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`

	// Keepalive is how long a streaming client may go without a byte
	// while the upstream is silent (a reasoning model thinking) before the
	// proxy sends it an SSE comment, so that idle timeouts in front of it
	// do not cut the stream. 0 turns it off. Default: 15s.
	Keepalive *caddy.Duration `json:"keepalive,omitempty"`

	// MaxBody is the largest accepted request body in bytes. Default: 32 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// MaxAnswer is the largest upstream JSON answer, and the largest single
	// event of an upstream stream, in bytes; past it the attempt is an
	// upstream failure. Default: 64 MiB.
	MaxAnswer int64 `json:"max_answer,omitempty"`

	// Timezone is the IANA zone in which a "day" ends for daily counters.
	// Default: UTC.
	Timezone string `json:"timezone,omitempty"`

	// LogSize is how many recent requests are kept for the admin API.
	// Default: 1000.
	LogSize int `json:"log_size,omitempty"`

	// ProbeInterval is how often disabled keys are re-probed against their
	// upstream. Default: 5m.
	ProbeInterval caddy.Duration `json:"probe_interval,omitempty"`

	// Affinity keeps a conversation on one key (for the provider's prompt
	// cache) while that key is healthy and under its limits; a conversation
	// unused this long is forgotten. Default: 0, off.
	Affinity caddy.Duration `json:"affinity,omitempty"`

	// Upstreams are the providers and their keys.
	Upstreams []*Upstream `json:"upstreams,omitempty"`

	// Fallbacks maps a model name, as clients ask for it, to the models
	// tried in order when no key of its own can serve a request (all at
	// a limit, cooling, disabled or exhausted, or failing retryably),
	// before anything reaches the client. A fallback model's own
	// fallbacks are followed too; cycles are refused.
	Fallbacks map[string][]string `json:"fallbacks,omitempty"`

	gw *gateway.Gateway
}

// CaddyModule returns the Caddy module information.
func (Proxy) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.llm_proxy",
		New: func() caddy.Module { return new(Proxy) },
	}
}

// Provision resolves the configuration (defaults applied, placeholders
// expanded) and starts the engine with it.
func (p *Proxy) Provision(ctx caddy.Context) error {
	logger := ctx.Logger()
	// Cheap checks first, so that a bad config never opens storage.
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Name == "" {
		p.Name = "default"
	}
	cfg := gateway.Config{
		Name:          p.Name,
		Storage:       "badger",
		Retries:       2,
		Timeout:       orDefault(p.Timeout, 2*time.Minute),
		IdleTimeout:   orDefault(p.IdleTimeout, 5*time.Minute),
		Keepalive:     15 * time.Second,
		MaxBody:       cmp.Or(p.MaxBody, 32<<20),
		MaxAnswer:     cmp.Or(p.MaxAnswer, 64<<20),
		Location:      time.UTC,
		LogSize:       cmp.Or(p.LogSize, 1000),
		ProbeInterval: orDefault(p.ProbeInterval, 5*time.Minute),
		Affinity:      time.Duration(p.Affinity),
	}
	if p.Retries != nil {
		cfg.Retries = *p.Retries
	}
	if p.Keepalive != nil {
		cfg.Keepalive = time.Duration(*p.Keepalive)
	}
	if p.Timezone != "" {
		loc, err := time.LoadLocation(p.Timezone)
		if err != nil {
			return fmt.Errorf("timezone: %w", err)
		}
		cfg.Location = loc
	}

	repl := caddy.NewReplacer()
	expand := func(s string) string { return repl.ReplaceKnown(s, "") }
	for i, k := range p.ClientKeys {
		secret := expand(k)
		if secret == "" {
			return fmt.Errorf("client_key %d is empty after placeholder expansion", i+1)
		}
		cfg.ClientKeys = append(cfg.ClientKeys, secret)
	}
	for _, c := range p.Clients {
		gc := gateway.Client{Name: c.Name, Models: c.Models, Limits: c.limits(), Note: c.Note, Disabled: c.Disabled}
		for i, k := range c.Keys {
			secret := expand(k)
			if secret == "" {
				return fmt.Errorf("client %q: key %d is empty after placeholder expansion (is its environment variable set?)", c.Name, i+1)
			}
			gc.Keys = append(gc.Keys, secret)
		}
		cfg.Clients = append(cfg.Clients, gc)
	}
	for _, u := range p.Upstreams {
		gu := &gateway.Upstream{
			Name: u.Name, Provider: u.Provider, BaseURL: expand(u.BaseURL), Proxy: expand(u.Proxy),
			Priority: u.Priority, Models: u.Models,
			Reasoning: u.Reasoning, SystemPrompt: u.SystemPrompt, MaxOutputTokens: u.MaxOutputTokens,
			Defaults: u.Defaults,
		}
		if len(u.Aliases) > 0 {
			gu.Aliases = make(map[string]gateway.Alias, len(u.Aliases))
			for name, a := range u.Aliases {
				gu.Aliases[name] = gateway.Alias(a)
			}
		}
		gu.Headers = expandAll(u.Headers, expand)
		for i, k := range u.Keys {
			secret := expand(k.Key)
			if secret == "" {
				return fmt.Errorf("upstream %q: key %d is empty after placeholder expansion (is its environment variable set?)", u.Name, i+1)
			}
			gu.Keys = append(gu.Keys, gateway.Key{Secret: secret, Limits: k.Limits, Note: k.Note, Disabled: k.Disabled,
				Egress: pool.Egress{BaseURL: expand(k.BaseURL), Proxy: expand(k.Proxy), Headers: expandAll(k.Headers, expand)}})
		}
		cfg.Upstreams = append(cfg.Upstreams, gu)
	}
	cfg.Fallbacks = p.Fallbacks
	if p.Storage != nil && p.Storage.Type != "" {
		cfg.Storage = p.Storage.Type
	}
	if cfg.Storage == storageRedis {
		s := p.Storage
		url := expand(s.URL)
		if url == "" {
			return fmt.Errorf("storage redis: the url %q is empty after placeholder expansion", s.URL)
		}
		if err := checkRedisURL(url); err != nil {
			return fmt.Errorf("storage redis: %w", err)
		}
		prefix := expand(s.Prefix)
		if prefix == "" {
			prefix = "llm_proxy:" + p.Name + ":"
		}
		cfg.Redis = pool.RedisOptions{URL: url, Prefix: prefix, FailOpen: s.OnError == "open"}
	}
	if cfg.Storage == "badger" {
		dir := filepath.Join(caddy.AppDataDir(), "llm_proxy", p.Name)
		if p.Storage != nil && p.Storage.Dir != "" {
			dir = expand(p.Storage.Dir)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("storage dir: %w", err)
		}
		cfg.Dir = abs
	}
	gw, err := gateway.New(ctx, cfg, logger)
	p.gw = gw // Cleanup releases what New acquired, even when it failed
	return err
}

// expandAll is h with every value expanded; nil when h is empty.
func expandAll(h map[string]string, expand func(string) string) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = expand(v)
	}
	return out
}

// orDefault is a configured duration, or def when unset.
func orDefault(d caddy.Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

// ServeHTTP answers the client endpoints; the handler is terminal and
// never calls next.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	p.gw.ServeHTTP(w, r)
	return nil
}

// Cleanup releases what Provision acquired; it also runs after a failed
// Provision.
func (p *Proxy) Cleanup() error { return p.gw.Close() }

// Interface guards
var (
	_ caddy.Provisioner           = (*Proxy)(nil)
	_ caddy.CleanerUpper          = (*Proxy)(nil)
	_ caddyhttp.MiddlewareHandler = (*Proxy)(nil)
)
