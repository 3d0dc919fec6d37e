package gateway

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/llmproxy/caddy-llm-proxy/clientapi"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

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
