package gateway

import (
	"reflect"

	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// Changes made through another instance's admin API, on storage that
// several instances share (Redis): the pool hears of them (see
// pool.Options.Changed) and the gateway applies them as its own admin API
// would, so that a key added, removed, disabled or re-limited through one
// instance is served the same way by all within a second.

// remoteChanged applies what the store now holds for keys ids (nil: every
// key) of this instance: keys added or removed through the admin API, and
// overrides.
func (g *Gateway) remoteChanged(ids []string) {
	adminMu.Lock()
	defer adminMu.Unlock()
	op := g.op.Load()
	if op == nil {
		return // still starting: it reads the store itself
	}
	var (
		saved map[string]pool.SavedKey
		ovs   map[string]pool.KeySettings
		err   error
	)
	if ids == nil {
		var list []pool.SavedKey
		list, err = g.pool.SavedKeys(g.name)
		if err != nil && list == nil {
			g.logger.Warn("reading the keys added through the admin API failed", zap.Error(err))
			return
		}
		saved = make(map[string]pool.SavedKey, len(list))
		for _, sk := range list {
			saved[sk.ID()] = sk
		}
		if ovs, err = g.pool.Overrides(g.name); err != nil && ovs == nil {
			g.logger.Warn("reading the key overrides failed", zap.Error(err))
			return
		}
		seen := map[string]bool{}
		add := func(id string) {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		for _, sk := range list {
			add(sk.ID())
		}
		for id := range ovs {
			add(id)
		}
		for _, id := range g.pool.IDs("admin") {
			add(id)
		}
		for id := range op.overrides {
			add(id)
		}
	} else {
		if saved, err = g.pool.SavedKeysByID(g.name, ids); err == nil {
			ovs, err = g.pool.OverridesByID(g.name, ids)
		}
		if err != nil {
			g.logger.Warn("reading a change made through another instance failed; it applies at the next one", zap.Error(err))
			return
		}
	}
	for _, id := range ids {
		sk, isSaved := saved[id]
		ov, hasOv := ovs[id]
		g.applyRemote(op, id, sk, isSaved, ov, hasOv)
	}
}

// applyRemote brings key id in line with the store; the caller holds
// adminMu.
func (g *Gateway) applyRemote(op *operator, id string, sk pool.SavedKey, isSaved bool, ov pool.KeySettings, hasOv bool) {
	base, known := op.baseOf(g.pool, id)
	switch {
	case isSaved && !known:
		spec, err := g.runtimeSpec(sk)
		if err != nil {
			g.logger.Warn("not serving a key added through another instance", zap.String("key_id", id), zap.Error(err))
			return
		}
		nid, exists := g.pool.IDFor(sk.Upstream, sk.Secret, id, nil)
		if exists {
			return // the same secret is already served (from the Caddyfile)
		}
		spec.ID = nid
		if err := g.pool.AddKeys([]pool.KeySpec{spec}); err != nil {
			g.logger.Warn("not serving a key added through another instance", zap.String("key_id", id), zap.Error(err))
			return
		}
		id = nid
		g.logger.Info("key added through another instance's admin API", zap.String("key_id", id))
	case !isSaved && known && base.Source == "admin":
		g.pool.RemoveKey(id)
		op.forget(id)
		g.logger.Info("key removed through another instance's admin API", zap.String("key_id", id))
		return
	}
	base, known = op.baseOf(g.pool, id)
	if !known {
		return
	}
	if !hasOv {
		ov = pool.KeySettings{}
	}
	if reflect.DeepEqual(op.overrides[id], ov) {
		return
	}
	spec := ov.Apply(base)
	if err := spec.Limits.Check(); err != nil {
		g.logger.Warn("ignoring a key override made through another instance", zap.String("key_id", id), zap.Error(err))
		return
	}
	if _, err := g.pool.UpdateKey(spec); err != nil {
		g.logger.Warn("ignoring a key override made through another instance", zap.String("key_id", id), zap.Error(err))
		return
	}
	op.setOverride(id, base, ov)
	g.logger.Info("key changed through another instance's admin API", zap.String("key_id", id), zap.Strings("overrides", ov.Names()))
}
