// Package gateway is the engine behind the llm_proxy handler: it routes a
// client's request to an upstream key, sends it (translated or passed
// through), relays the answer, and records what happened. It knows no
// Caddyfile and no JSON config: the Caddy module resolves its configuration
// (placeholders expanded, defaults applied) into a Config and calls New.
//
// Where things are: serve.go (a request's way in: client API, client key,
// body, route), forward.go (attempts and retries, one per key, and the
// fallback models after them), upstream.go (an upstream and the one round
// trip to it), route.go (model names to upstreams, fallback chains), relay.go and watchdog.go (streams and silent
// upstreams), count.go and models.go (token counts and model lists),
// observe.go and metrics.go (request log, usage statistics, Prometheus),
// admin.go (the admin API's view of a running gateway), registry.go
// (running gateways by instance name).
package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmproxy/caddy-llm-proxy/limits"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// Config is a gateway's resolved configuration: every default applied and
// every placeholder expanded (see the llm_proxy module's docs for what
// each setting means).
type Config struct {
	Name string
	// ClientKeys are the secrets of the client "default"; with no
	// ClientKeys and no Clients, the proxy is open.
	ClientKeys []string
	// Clients are the named clients (see clients.go).
	Clients []Client
	// Storage is "badger" (Dir holds the database), "memory" or "redis"
	// (configured by Redis).
	Storage string
	Dir     string
	Redis   pool.RedisOptions

	Retries       int
	Timeout       time.Duration // upstream response headers
	IdleTimeout   time.Duration // upstream silence after its headers
	Keepalive     time.Duration // SSE comment interval while silent; 0 = off
	MaxBody       int64
	MaxAnswer     int64
	Location      *time.Location // where a day ends
	LogSize       int
	ProbeInterval time.Duration
	// Affinity is how long a conversation keeps its key unused; 0 = off.
	Affinity time.Duration

	Upstreams []*Upstream
	// Fallbacks maps a model name, as clients ask for it, to the models
	// tried in order when no key of its own can serve a request.
	Fallbacks map[string][]string
}

// Upstream is one configured upstream.
type Upstream struct {
	Name         string
	Provider     string
	BaseURL      string // "" = the provider's default
	Proxy        string // egress proxy URL, "" = none
	Headers      map[string]string
	Priority     int
	Models       []string
	Aliases      map[string]Alias
	Reasoning    string
	SystemPrompt string
	// MaxOutputTokens caps what translated requests ask for; 0 = the
	// model family's known limit.
	MaxOutputTokens int
	// Defaults are the limits of keys that do not set their own.
	Defaults limits.Set
	Keys     []Key
}

// Alias is what an alias leads to in the upstream declaring it: the model
// the upstream gets and, where set, settings that replace the upstream's
// own for requests through the alias.
type Alias struct {
	Model           string
	Reasoning       string
	SystemPrompt    string
	MaxOutputTokens int
}

// Key is one configured upstream credential.
type Key struct {
	Secret   string
	Limits   limits.Set
	Note     string
	Disabled bool
	// Egress is the key's own endpoint, proxy and headers.
	Egress pool.Egress
}

// Gateway is one running llm_proxy instance.
type Gateway struct {
	cfg    Config
	name   string
	logger *zap.Logger
	pool   *pool.Pool
	op     atomic.Pointer[operator] // set once started; see admin.go
	ups    []*upstream
	router *router
	// clients is every client, replaced whole on a change; open is true
	// when the configuration has no client secrets, so that a request
	// without one (or with an unknown one) is served anonymously.
	clients atomic.Pointer[clientTable]
	open    bool
	loc     *time.Location

	retries     int
	maxBody     int64
	maxAnswer   int64
	idleTimeout time.Duration
	keepalive   time.Duration
	affinity    time.Duration
}

// New builds the gateway: each upstream's transport and key specs, the
// router, and the shared, reload-safe pool state. Close releases what it
// acquired, also after New failed.
func New(ctx caddy.Context, cfg Config, logger *zap.Logger) (*Gateway, error) {
	g := &Gateway{
		cfg: cfg, name: cfg.Name, logger: logger, loc: cfg.Location,
		retries: cfg.Retries, maxBody: cfg.MaxBody, maxAnswer: cfg.MaxAnswer,
		idleTimeout: cfg.IdleTimeout, keepalive: cfg.Keepalive, affinity: cfg.Affinity,
	}
	if g.loc == nil {
		g.loc = time.UTC
	}
	g.open = len(cfg.ClientKeys) == 0 && len(cfg.Clients) == 0
	if g.open {
		logger.Warn("no client_key or client configured: the proxy is open to anyone who can reach it", zap.String("instance", g.name))
	}

	var specs []pool.KeySpec
	for _, u := range cfg.Upstreams {
		up, err := newUpstream(u, cfg.Timeout)
		if err != nil {
			return g, err
		}
		g.ups = append(g.ups, up)
		seen := map[string]bool{}
		for i, k := range u.Keys {
			spec := u.keySpec(k.Secret, k.Limits, "config")
			spec.Disabled, spec.Note, spec.Egress = k.Disabled, k.Note, k.Egress.Own()
			if seen[k.Secret] {
				return g, fmt.Errorf("upstream %q: key %d repeats an earlier key of the same upstream", u.Name, i+1)
			}
			seen[k.Secret] = true
			if _, err := up.clientFor(&spec); err != nil {
				return g, fmt.Errorf("upstream %q: key %d: %w", u.Name, i+1, err)
			}
			specs = append(specs, spec)
		}
	}
	g.router = newRouter(g.ups, cfg.Fallbacks)

	if err := registerInstance(ctx, g); err != nil {
		return g, err
	}
	pl, err := pool.New(pool.Options{Instance: g.name, Storage: cfg.Storage, Dir: cfg.Dir, Redis: cfg.Redis,
		Changed: g.remoteChanged, ClientsChanged: g.clientsChanged, Location: g.loc, Keys: specs, Logger: logger.Named("pool")})
	if err != nil {
		return g, fmt.Errorf("llm_proxy %q: %w", g.name, err)
	}
	g.pool = pl
	if err := g.provisionOps(ctx); err != nil {
		return g, err
	}
	if cfg.ProbeInterval > 0 {
		go g.probeLoop(ctx, cfg.ProbeInterval)
	}
	return g, nil
}

// keySpec is a key of this upstream with its own limits, each unset one
// falling back to the upstream's default (the weight to 1).
func (u *Upstream) keySpec(secret string, own limits.Set, source string) pool.KeySpec {
	return pool.KeySpec{
		ID:       pool.KeyID(u.Name, secret),
		Upstream: u.Name,
		Secret:   secret,
		Limits:   limits.Merge(own, u.Defaults),
		Source:   source,
	}
}

// Close releases what New acquired; every step is nil-safe.
func (g *Gateway) Close() error {
	if g == nil {
		return nil
	}
	unregisterInstance(g)
	g.cleanupOps()
	for _, u := range g.ups {
		u.close()
	}
	if g.pool != nil {
		return g.pool.Close()
	}
	return nil
}

// Pool is the gateway's key pool (for tests and tools in this module).
func (g *Gateway) Pool() *pool.Pool { return g.pool }

// probeLoop re-probes keys the upstream refused (401/403) and puts them back
// into rotation once the upstream accepts them again.
func (g *Gateway) probeLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.probeDisabled(ctx)
		}
	}
}

func (g *Gateway) probeDisabled(ctx context.Context) {
	for _, k := range g.pool.Disabled() {
		u := g.router.byName[k.Upstream]
		if u == nil {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		status, _, err := u.probe(pctx, &k)
		cancel()
		if err == nil && status == http.StatusOK {
			g.pool.Enable(k.ID)
			g.logger.Info("key works again", zap.String("key_id", k.ID), zap.String("upstream", k.Upstream))
		}
	}
}
