package gateway

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
	cfg     context.Context // identifies the config load the handler belongs to
	gateway *Gateway
}

func registerInstance(ctx caddy.Context, g *Gateway) error {
	instances.Lock()
	defer instances.Unlock()
	for _, r := range instances.byName[g.name] {
		if r.cfg == ctx.Context {
			return fmt.Errorf("llm_proxy: instance name %q is used twice in this config; give each llm_proxy its own `name`", g.name)
		}
	}
	instances.byName[g.name] = append(instances.byName[g.name], registered{cfg: ctx.Context, gateway: g})
	return nil
}

func unregisterInstance(g *Gateway) {
	instances.Lock()
	defer instances.Unlock()
	list := instances.byName[g.name]
	for i, r := range list {
		if r.gateway == g {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(instances.byName, g.name)
	} else {
		instances.byName[g.name] = list
	}
}

// readyInstance is the newest provisioned handler of that name, or nil.
func readyInstance(name string) *Gateway {
	instances.Lock()
	defer instances.Unlock()
	list := instances.byName[name]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].gateway.op.Load() != nil {
			return list[i].gateway
		}
	}
	return nil
}

// Running returns the newest gateway of that instance name that finished
// starting, or nil.
func Running(name string) *Gateway { return readyInstance(name) }
