// Package llmproxy is a Caddy HTTP handler that serves the OpenAI, Anthropic
// and Gemini client APIs from a pool of upstream keys with limits and health.
package llmproxy

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"path/filepath"
	"time"
	_ "time/tzdata" // `timezone` must work on hosts without a zoneinfo database

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmproxy/caddy-llm-proxy/limits"
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

	// Storage is where counters and key states live. Default: Badger in
	// <caddy data dir>/llm_proxy/<name>.
	Storage *Storage `json:"storage,omitempty"`

	// Retries is how many further attempts are made on other keys after a
	// retryable upstream failure, before the first byte reaches the client.
	// Default: 2.
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

	// Upstreams are the providers and their keys.
	Upstreams []*Upstream `json:"upstreams,omitempty"`

	logger     *zap.Logger
	pool       *pool.Pool
	op         opRef // set once provisioned; see adminapi.go
	ups        []*upstream
	router     *router
	clientKeys [][sha256.Size]byte
	retries    int
	maxBody    int64
	maxAnswer  int64
	// idleTimeout and keepalive: see IdleTimeout and Keepalive.
	idleTimeout time.Duration
	keepalive   time.Duration
	loc         *time.Location
}

// CaddyModule returns the Caddy module information.
func (Proxy) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.llm_proxy",
		New: func() caddy.Module { return new(Proxy) },
	}
}

// Provision expands placeholders, builds each upstream's transport and key
// specs, and acquires the shared, reload-safe pool state.
func (p *Proxy) Provision(ctx caddy.Context) error {
	p.logger = ctx.Logger()
	// Cheap checks first, so that a bad config never opens storage.
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Name == "" {
		p.Name = "default"
	}
	retries := 2
	if p.Retries != nil {
		retries = *p.Retries
	}
	p.retries = retries
	timeout := time.Duration(p.Timeout)
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	p.maxBody = p.MaxBody
	if p.maxBody == 0 {
		p.maxBody = 32 << 20
	}
	p.maxAnswer = p.MaxAnswer
	if p.maxAnswer == 0 {
		p.maxAnswer = 64 << 20
	}
	p.idleTimeout = time.Duration(p.IdleTimeout)
	if p.idleTimeout == 0 {
		p.idleTimeout = 5 * time.Minute
	}
	p.keepalive = 15 * time.Second
	if p.Keepalive != nil {
		p.keepalive = time.Duration(*p.Keepalive)
	}
	p.loc = time.UTC
	if p.Timezone != "" {
		loc, err := time.LoadLocation(p.Timezone)
		if err != nil {
			return fmt.Errorf("timezone: %w", err)
		}
		p.loc = loc
	}

	repl := caddy.NewReplacer()
	expand := func(s string) string { return repl.ReplaceKnown(s, "") }

	for i, k := range p.ClientKeys {
		secret := expand(k)
		if secret == "" {
			return fmt.Errorf("client_key %d is empty after placeholder expansion", i+1)
		}
		p.clientKeys = append(p.clientKeys, sha256.Sum256([]byte(secret)))
	}
	if len(p.clientKeys) == 0 {
		p.logger.Warn("no client_key configured: the proxy is open to anyone who can reach it", zap.String("instance", p.Name))
	}

	var specs []pool.KeySpec
	for _, cfg := range p.Upstreams {
		u := *cfg
		u.BaseURL, u.Proxy = expand(u.BaseURL), expand(u.Proxy)
		if len(u.Headers) > 0 {
			u.Headers = make(map[string]string, len(cfg.Headers))
			for k, v := range cfg.Headers {
				u.Headers[k] = expand(v)
			}
		}
		up, err := newUpstream(&u, timeout)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for i, k := range u.Keys {
			secret := expand(k.Key)
			if secret == "" {
				return fmt.Errorf("upstream %q: key %d is empty after placeholder expansion (is its environment variable set?)", u.Name, i+1)
			}
			spec := u.keySpec(secret, k.Limits, "config")
			spec.Disabled, spec.Note = k.Disabled, k.Note
			if seen[spec.ID] {
				return fmt.Errorf("upstream %q: key %d repeats an earlier key of the same upstream", u.Name, i+1)
			}
			seen[spec.ID] = true
			specs = append(specs, spec)
		}
		p.ups = append(p.ups, up)
	}
	p.router = newRouter(p.ups)

	opts := pool.Options{Instance: p.Name, Storage: "badger", Location: p.loc, Keys: specs, Logger: p.logger.Named("pool")}
	if p.Storage != nil && p.Storage.Type != "" {
		opts.Storage = p.Storage.Type
	}
	if opts.Storage == "badger" {
		dir := filepath.Join(caddy.AppDataDir(), "llm_proxy", p.Name)
		if p.Storage != nil && p.Storage.Dir != "" {
			dir = expand(p.Storage.Dir)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("storage dir: %w", err)
		}
		opts.Dir = abs
	}
	if err := registerInstance(ctx, p); err != nil {
		return err
	}
	pl, err := pool.New(opts)
	if err != nil {
		return fmt.Errorf("llm_proxy %q: %w", p.Name, err)
	}
	p.pool = pl
	if err := p.provisionOps(ctx); err != nil {
		return err
	}

	probe := time.Duration(p.ProbeInterval)
	if probe == 0 {
		probe = 5 * time.Minute
	}
	go p.probeLoop(ctx, probe)
	return nil
}

// keySpec is a key of this upstream with its own limits, each unset one
// falling back to the upstream's default (the weight to 1).
func (u *Upstream) keySpec(secret string, own Limits, source string) pool.KeySpec {
	return pool.KeySpec{
		ID:       pool.KeyID(u.Name, secret),
		Upstream: u.Name,
		Secret:   secret,
		Limits:   limits.Merge(own, u.Defaults),
		Source:   source,
	}
}

// Cleanup releases what Provision acquired; it also runs after a failed
// Provision, so every step is nil-safe.
func (p *Proxy) Cleanup() error {
	unregisterInstance(p)
	p.cleanupOps()
	for _, u := range p.ups {
		u.close()
	}
	if p.pool != nil {
		return p.pool.Close()
	}
	return nil
}

// probeLoop re-probes keys the upstream refused (401/403) and puts them back
// into rotation once the upstream accepts them again.
func (p *Proxy) probeLoop(ctx caddy.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.probeDisabled(ctx)
		}
	}
}

func (p *Proxy) probeDisabled(ctx context.Context) {
	for _, k := range p.pool.Disabled() {
		u := p.router.byName[k.Upstream]
		if u == nil {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		status, _, err := u.probe(pctx, k.Secret)
		cancel()
		if err == nil && status == http.StatusOK {
			p.pool.Enable(k.ID)
			p.logger.Info("key works again", zap.String("key_id", k.ID), zap.String("upstream", k.Upstream))
		}
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Proxy)(nil)
	_ caddy.CleanerUpper          = (*Proxy)(nil)
	_ caddyhttp.MiddlewareHandler = (*Proxy)(nil)
)
