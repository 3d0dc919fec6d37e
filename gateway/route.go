package gateway

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/llmproxy/caddy-llm-proxy/clientapi"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// route is where a client's model name leads: one target per upstream that
// may serve it, with the model name that upstream gets and the settings of
// requests through it (the upstream's own, or its alias's).
type route struct {
	ups     []*upstream
	models  []string
	sets    []*settings
	targets []pool.Target
	// label names the route in metrics: the alias or configured model name,
	// or the pattern that admitted the model.
	label string
}

func (rt *route) add(u *upstream, model string, set *settings) {
	rt.ups = append(rt.ups, u)
	rt.models = append(rt.models, model)
	rt.sets = append(rt.sets, set)
	rt.targets = append(rt.targets, pool.Target{Upstream: u.name, Priority: u.priority})
}

// pick returns the upstream a lease landed on, the model it gets and the
// settings of the request.
func (rt *route) pick(upstreamName string) (*upstream, string, *settings) {
	for i, u := range rt.ups {
		if u.name == upstreamName {
			return u, rt.models[i], rt.sets[i]
		}
	}
	return nil, "", nil
}

// router resolves model names. Aliases, `<upstream>/<model>` forms of them
// and literal model names are resolved once at provision time; names that
// only a glob (or an upstream with no `models`) admits are resolved per
// request.
type router struct {
	ups    []*upstream
	byName map[string]*upstream
	static map[string]*route
	// chains are the fallback chains by the model name clients ask for:
	// the name itself first, then the models to try after it, with their
	// own fallbacks followed (depth first, each model once).
	chains map[string][]string
}

func newRouter(ups []*upstream, fallbacks map[string][]string) *router {
	r := &router{ups: ups, byName: make(map[string]*upstream, len(ups)), static: map[string]*route{}}
	for _, u := range ups {
		r.byName[u.name] = u
	}
	// An alias is served by every upstream that declares it (each with its
	// own target and settings) and by every upstream that lists the same
	// name literally: a name written in the configuration means one shared
	// name. A glob never joins an alias: it was not written for it.
	for _, u := range ups {
		for _, alias := range slices.Sorted(maps.Keys(u.cfg.Aliases)) {
			if _, ok := r.static[alias]; ok {
				continue
			}
			rt := &route{label: alias}
			for _, v := range ups {
				if a, ok := v.cfg.Aliases[alias]; ok {
					rt.add(v, a.Model, v.aliasSettings(a))
				} else if slices.Contains(v.cfg.Models, alias) {
					rt.add(v, alias, &v.own)
				}
			}
			r.static[alias] = rt
		}
		for alias, a := range u.cfg.Aliases {
			r.static[u.name+"/"+alias] = oneRoute(u, a.Model, u.aliasSettings(a), u.name+"/"+alias)
		}
	}
	for _, u := range ups {
		for _, m := range u.cfg.Models {
			if IsGlob(m) {
				continue
			}
			if _, ok := r.static[m]; !ok {
				r.static[m] = r.resolveDynamic(m)
				r.static[m].label = m
			}
			if _, ok := r.static[u.name+"/"+m]; !ok {
				r.static[u.name+"/"+m] = oneRoute(u, m, &u.own, u.name+"/"+m)
			}
		}
	}
	r.chains = fallbackChains(fallbacks)
	return r
}

// fallbackChains follows each model's fallbacks to the end: `fallback a b c`
// with `fallback b d` makes a's chain a, b, d, c. Validation refuses
// cycles; a model reached twice is tried once anyway.
func fallbackChains(fallbacks map[string][]string) map[string][]string {
	if len(fallbacks) == 0 {
		return nil
	}
	chains := make(map[string][]string, len(fallbacks))
	for model := range fallbacks {
		var chain []string
		seen := map[string]bool{}
		var follow func(m string)
		follow = func(m string) {
			if seen[m] {
				return
			}
			seen[m] = true
			chain = append(chain, m)
			for _, next := range fallbacks[m] {
				follow(next)
			}
		}
		follow(model)
		chains[model] = chain
	}
	return chains
}

// chain is the fallback chain of a model name as the client asked for it
// (the name first), or nil when it has none.
func (r *router) chain(model string) []string { return r.chains[model] }

func oneRoute(u *upstream, model string, set *settings, label string) *route {
	rt := &route{label: label}
	rt.add(u, model, set)
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
				return oneRoute(u, model[i+1:], &u.own, u.name+"/"+pattern)
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
			rt.add(u, model, &u.own)
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
		for _, a := range slices.Sorted(maps.Keys(u.cfg.Aliases)) {
			add(a, u.name)
		}
		for _, m := range u.cfg.Models {
			if !IsGlob(m) {
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
		if IsGlob(m) {
			return true
		}
	}
	return false
}

// IsGlob reports whether a `models` pattern has a `*` wildcard.
func IsGlob(pattern string) bool { return strings.IndexByte(pattern, '*') >= 0 }

// AdmittedBy returns the pattern of a `models` list that admits model:
// one written out, or a glob matching it; "*" for an empty list, which
// admits any model. Upstreams, clients and the configuration's checks all
// read their `models` with it.
func AdmittedBy(patterns []string, model string) (string, bool) {
	if len(patterns) == 0 {
		return "*", true
	}
	for _, p := range patterns {
		if p == model || (IsGlob(p) && MatchGlob(p, model)) {
			return p, true
		}
	}
	return "", false
}

// MatchGlob matches name against a `models` pattern whose `*` stands for
// any run of characters, slashes included (OpenRouter's model names have
// them). The configuration's checks use it too.
func MatchGlob(pattern, name string) bool {
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
