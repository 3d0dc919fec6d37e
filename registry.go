package llmproxy

import (
	"context"
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
)

// instances maps instance names to their running handlers. During a reload
// the old and the new config both hold an entry for a name; the newest one
// wins lookups, and a name may appear only once within one config.
var instances = struct {
	sync.Mutex
	byName map[string][]registered
}{byName: map[string][]registered{}}

type registered struct {
	cfg   context.Context // identifies the config load the handler belongs to
	proxy *Proxy
}

func registerInstance(ctx caddy.Context, p *Proxy) error {
	instances.Lock()
	defer instances.Unlock()
	for _, r := range instances.byName[p.Name] {
		if r.cfg == ctx.Context {
			return fmt.Errorf("llm_proxy: instance name %q is used twice in this config; give each llm_proxy its own `name`", p.Name)
		}
	}
	instances.byName[p.Name] = append(instances.byName[p.Name], registered{cfg: ctx.Context, proxy: p})
	return nil
}

func unregisterInstance(p *Proxy) {
	instances.Lock()
	defer instances.Unlock()
	list := instances.byName[p.Name]
	for i, r := range list {
		if r.proxy == p {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(instances.byName, p.Name)
	} else {
		instances.byName[p.Name] = list
	}
}

// readyInstance is the newest provisioned handler of that name, or nil.
func readyInstance(name string) *Proxy {
	instances.Lock()
	defer instances.Unlock()
	list := instances.byName[name]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].proxy.op.Load() != nil {
			return list[i].proxy
		}
	}
	return nil
}
