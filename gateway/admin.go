package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmproxy/caddy-llm-proxy/admin"
	"github.com/llmproxy/caddy-llm-proxy/limits"
	"github.com/llmproxy/caddy-llm-proxy/pool"
	"github.com/llmproxy/caddy-llm-proxy/providers"
	"github.com/llmproxy/caddy-llm-proxy/stats"
)

// The handler's side of the admin API (package admin serves the routes):
// the admin.Instance implementation over a running Gateway, and the runtime
// key handling it needs at provision time.
//
// Keys added through the API are saved in the pool's Store (secret
// included: the storage directory is as sensitive as the Caddyfile) and
// added to the pool at every provision, after the Caddyfile's keys, with
// the upstream's current defaults for the settings they leave unset. PATCH
// saves an override of the changed settings, for Caddyfile keys and added
// keys alike, which is applied on top of the key's own settings at every
// provision: so a Caddyfile key disabled through the API stays disabled
// across reloads and restarts until PATCHed back (a field sent as null
// reverts to the configured value).

func init() {
	admin.SetRegistry(adminRegistry{})
}

// adminMu serializes the admin API's changes to keys, so that a change and
// its persistence are not interleaved with another's.
var adminMu sync.Mutex

// operator is the operator-facing state of a running Gateway: the request
// log, the usage statistics and the bookkeeping of runtime key changes.
type operator struct {
	ring  *stats.Log
	stats *stats.Usage

	// overrides are the PATCHed settings by key ID, and base the spec of
	// each of those keys before its override: from the Caddyfile, or from
	// the saved key with the upstream's defaults. A key without an
	// override has its base in the pool (a copy of every key's spec here
	// would be one more object per key for the collector to mark, with
	// 100,000 keys). Guarded by adminMu.
	overrides map[string]pool.KeySettings
	base      map[string]pool.KeySpec
}

// baseOf is key id's spec before its override, and whether the pool has
// the key; the caller holds adminMu.
func (op *operator) baseOf(p *pool.Pool, id string) (pool.KeySpec, bool) {
	spec, ok := p.Spec(id)
	if b, over := op.base[id]; ok && over {
		return b, true
	}
	return spec, ok
}

// setOverride records that key id now serves ov applied to base (ov zero:
// base itself); the caller holds adminMu.
func (op *operator) setOverride(id string, base pool.KeySpec, ov pool.KeySettings) {
	if ov.IsZero() {
		op.forget(id)
		return
	}
	op.overrides[id], op.base[id] = ov, base
}

// forget drops what op holds of key id; the caller holds adminMu.
func (op *operator) forget(id string) {
	delete(op.overrides, id)
	delete(op.base, id)
}

// provisionOps sets up the operator side once the pool exists: metrics,
// the request log, the usage statistics, and the keys and overrides saved
// through the admin API. It runs at the end of Provision.
func (g *Gateway) provisionOps(ctx caddy.Context) error {
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		// Metrics are not worth failing a config load over.
		g.logger.Warn("registering metrics failed", zap.Error(err))
	}
	usage, err := g.pool.Stats(g.name)
	if err != nil {
		return fmt.Errorf("llm_proxy %q: loading usage statistics: %w", g.name, err)
	}
	op := &operator{stats: usage, base: map[string]pool.KeySpec{}, overrides: map[string]pool.KeySettings{}}

	adminMu.Lock()
	err = g.loadRuntimeKeys(op)
	if err == nil {
		err = g.loadClients()
	}
	adminMu.Unlock()
	if err != nil {
		return err
	}

	size := g.cfg.LogSize
	if size <= 0 {
		size = 1000
	}
	op.ring, err = stats.AcquireLog(g.name, size)
	if err != nil {
		return err
	}
	g.op.Store(op)
	return nil
}

// cleanupOps releases what provisionOps acquired.
func (g *Gateway) cleanupOps() {
	if op := g.op.Load(); op != nil && op.ring != nil {
		stats.ReleaseLog(g.name)
	}
}

// loadRuntimeKeys adds the keys saved through the admin API to the pool and
// applies the saved overrides. Saved keys of an upstream the configuration
// no longer has stay saved but are not served (they come back with the
// upstream); so do saved keys that the Caddyfile now lists itself.
func (g *Gateway) loadRuntimeKeys(op *operator) error {
	saved, err := g.pool.SavedKeys(g.name)
	if errors.Is(err, pool.ErrStoreDown) {
		// Shared storage that is unreachable: read when it answers again.
		g.logger.Warn("the shared storage is unreachable: keys added through the admin API and overrides are read once it answers")
		return nil
	}
	if err != nil {
		if saved == nil {
			return fmt.Errorf("llm_proxy %q: loading keys added through the admin API: %w", g.name, err)
		}
		g.logger.Warn("ignoring unreadable saved keys", zap.Error(err))
	}
	var specs []pool.KeySpec
	batch := map[string]*pool.KeySpec{}
	for _, sk := range saved {
		id, exists := g.pool.IDFor(sk.Upstream, sk.Secret, sk.ID(), batch)
		if exists {
			if spec, ok := g.pool.Spec(id); ok && spec.Source != "admin" {
				g.logger.Info("a key added through the admin API is now in the Caddyfile; the Caddyfile's settings apply",
					zap.String("key_id", id))
			}
			continue
		}
		if id != sk.ID() {
			// Another secret took its ID meanwhile (a hash collision).
			_ = g.pool.DeleteSavedKey(g.name, sk.ID())
			sk.KeyID = id
			if err := g.pool.SaveKeys(g.name, []pool.SavedKey{sk}); err != nil {
				g.logger.Warn("saving a key added through the admin API under its new id failed", zap.String("key_id", id), zap.Error(err))
			}
		}
		spec, err := g.runtimeSpec(sk)
		if err != nil {
			g.logger.Warn("not serving a key added through the admin API", zap.String("key_id", id), zap.Error(err))
			continue
		}
		specs = append(specs, spec)
		batch[id] = &specs[len(specs)-1]
	}
	if err := g.pool.AddKeys(specs); err != nil {
		return fmt.Errorf("llm_proxy %q: adding saved keys: %w", g.name, err)
	}

	ovs, err := g.pool.Overrides(g.name)
	if err != nil {
		if ovs == nil {
			return fmt.Errorf("llm_proxy %q: loading key overrides: %w", g.name, err)
		}
		g.logger.Warn("ignoring unreadable key overrides", zap.Error(err))
	}
	for id, ov := range ovs {
		base, ok := op.baseOf(g.pool, id)
		if !ok || ov.IsZero() {
			continue // the key may come back with a later config
		}
		if _, err := g.pool.UpdateKey(ov.Apply(base)); err != nil {
			g.logger.Warn("ignoring a key override", zap.String("key_id", id), zap.Error(err))
			continue
		}
		op.setOverride(id, base, ov)
	}
	return nil
}

// upstreamConfig returns the configured upstream of that name.
func (g *Gateway) upstreamConfig(name string) *Upstream {
	for _, u := range g.cfg.Upstreams {
		if u.Name == name {
			return u
		}
	}
	return nil
}

// runtimeSpec builds the spec of a saved key: the upstream's defaults,
// then the key's own settings.
func (g *Gateway) runtimeSpec(sk pool.SavedKey) (pool.KeySpec, error) {
	u := g.upstreamConfig(sk.Upstream)
	if u == nil {
		return pool.KeySpec{}, fmt.Errorf("upstream %q is not configured", sk.Upstream)
	}
	spec := u.keySpec(sk.Secret, limits.Set{}, "admin")
	spec.ID, spec.Egress = sk.ID(), sk.Egress.Own()
	if up := g.router.byName[u.Name]; up != nil {
		// A key with its own proxy gets its transport now, not on its
		// first request.
		if _, err := up.clientFor(&spec); err != nil {
			return pool.KeySpec{}, err
		}
	}
	return sk.Settings.Apply(spec), nil
}

// adminRegistry finds running instances for package admin.
type adminRegistry struct{}

// Lookup returns the newest handler of that name that finished
// provisioning (during a reload, the new one once it is ready).
func (adminRegistry) Lookup(name string) admin.Instance {
	if g := readyInstance(name); g != nil {
		return adminInstance{g}
	}
	return nil
}

func (adminRegistry) Names() []string {
	instances.Lock()
	names := make([]string, 0, len(instances.byName))
	for name := range instances.byName {
		names = append(names, name)
	}
	instances.Unlock()
	sort.Strings(names)
	out := names[:0]
	for _, n := range names {
		if readyInstance(n) != nil {
			out = append(out, n)
		}
	}
	return out
}

// readyInstances lists the newest provisioned handler of every name.
func readyInstances() []*Gateway {
	var out []*Gateway
	for _, n := range (adminRegistry{}).Names() {
		if g := readyInstance(n); g != nil {
			out = append(out, g)
		}
	}
	return out
}

// adminInstance is a Gateway as package admin sees it.
type adminInstance struct{ g *Gateway }

func (a adminInstance) Summary() admin.InstanceSummary {
	s := admin.InstanceSummary{Name: a.g.name, Upstreams: len(a.g.cfg.Upstreams)}
	for _, k := range a.g.pool.Keys() {
		s.Keys.Add(string(k.State))
	}
	return s
}

func (a adminInstance) Keys() []admin.Key {
	keys := a.g.pool.Keys()
	adminMu.Lock()
	ovs := a.g.op.Load().overrides
	out := make([]admin.Key, len(keys))
	for i, k := range keys {
		out[i] = keyView(k, ovs[k.Spec.ID])
	}
	adminMu.Unlock()
	return out
}

func (a adminInstance) Key(id string) (admin.Key, error) {
	id = a.g.pool.Resolve(id)
	k, ok := a.g.pool.Key(id)
	if !ok {
		return admin.Key{}, admin.NotFound(id)
	}
	adminMu.Lock()
	defer adminMu.Unlock()
	return keyView(k, a.g.op.Load().overrides[id]), nil
}

// keyView is a key as the admin API shows it: secret masked.
func keyView(k pool.KeyStatus, ov pool.KeySettings) admin.Key {
	v := admin.Key{
		ID:       k.Spec.ID,
		Upstream: k.Spec.Upstream,
		Key:      maskSecret(k.Spec.Secret),
		Weight:   k.Spec.Limits.Weight,
		Limits:   k.Spec.Limits.Caps(),
		State:    string(k.State),
		Reason:   k.Reason,
		Source:   k.Spec.Source,
		Note:     k.Spec.Note,
		Usage: admin.KeyUsage{
			Minute:      k.Usage.Minute,
			Day:         k.Usage.Day,
			Total:       k.Usage.Total,
			TokensDay:   k.Usage.TokensDay,
			TokensTotal: k.Usage.TokensTotal,
			InFlight:    k.Usage.InFlight,
		},
	}
	if !k.Until.IsZero() {
		t := k.Until
		v.Until = &t
	}
	if k.Spec.Disabled && k.Reason == "disabled in configuration" &&
		(ov.Disabled != nil || k.Spec.Source == "admin") {
		v.Reason = "disabled through the admin API"
	}
	v.Overrides = ov.Names()
	if e := k.Spec.Egress; e != nil {
		if e.BaseURL != "" {
			v.BaseURL = admin.MaskURL(e.BaseURL)
		}
		if e.Proxy != "" {
			v.Proxy = admin.MaskURL(e.Proxy)
		}
		for name := range e.Headers {
			v.Headers = append(v.Headers, name)
		}
		sort.Strings(v.Headers)
	}
	return v
}

func (a adminInstance) AddKeys(keys []admin.NewKey) ([]string, error) {
	g := a.g
	adminMu.Lock()
	defer adminMu.Unlock()
	op := g.op.Load()
	now := time.Now().UTC()
	saved := make([]pool.SavedKey, 0, len(keys))
	ids := make([]string, 0, len(keys))
	batch := map[string]*pool.KeySpec{}
	for i, k := range keys {
		where := ""
		if len(keys) > 1 {
			where = fmt.Sprintf("key %d: ", i+1)
		}
		if g.upstreamConfig(k.Upstream) == nil {
			names := make([]string, len(g.cfg.Upstreams))
			for j, u := range g.cfg.Upstreams {
				names[j] = u.Name
			}
			return nil, admin.Errorf(http.StatusBadRequest, "%sunknown upstream %q (configured: %s)", where, k.Upstream, strings.Join(names, ", "))
		}
		s := pool.KeySettings{Limits: k.Limits}
		if k.Note != "" {
			s.Note = &k.Note
		}
		if k.Disabled {
			s.Disabled = &k.Disabled
		}
		id, exists := g.pool.IDFor(k.Upstream, k.Key, "", batch)
		if exists {
			if batch[id] != nil {
				return nil, admin.Errorf(http.StatusConflict, "%sthe batch lists that key twice (id %s)", where, id)
			}
			return nil, admin.Errorf(http.StatusConflict, "%sthat key already exists on upstream %q (id %s)", where, k.Upstream, id)
		}
		sk := pool.SavedKey{KeyID: id, Upstream: k.Upstream, Secret: k.Key, Settings: s, Added: now,
			Egress: pool.Egress{BaseURL: k.BaseURL, Proxy: k.Proxy, Headers: k.Headers}}
		spec, err := g.runtimeSpec(sk)
		if err != nil {
			return nil, admin.Errorf(http.StatusBadRequest, "%s%v", where, err)
		}
		saved = append(saved, sk)
		batch[id] = &spec
		ids = append(ids, id)
	}
	specs := make([]pool.KeySpec, len(ids))
	for i, id := range ids {
		specs[i] = *batch[id]
	}
	if err := g.pool.SaveKeys(g.name, saved); err != nil {
		return nil, fmt.Errorf("saving keys: %w", err)
	}
	if err := g.pool.AddKeys(specs); err != nil {
		for _, id := range ids {
			_ = g.pool.DeleteSavedKey(g.name, id)
		}
		if dup, ok := errors.AsType[*pool.DuplicateKeyError](err); ok {
			return nil, admin.Errorf(http.StatusConflict, "%v", dup)
		}
		return nil, admin.Errorf(http.StatusBadRequest, "%v", err)
	}
	for _, id := range ids {
		op.forget(id)
	}
	// A stale override of an earlier key with these ids must not apply.
	_ = g.pool.ClearOverrides(g.name, ids)
	g.logger.Info("keys added through the admin API", zap.Strings("key_ids", ids))
	return ids, nil
}

func (a adminInstance) UpdateKey(id string, patch admin.KeyPatch) (admin.Key, error) {
	g := a.g
	id = g.pool.Resolve(id)
	adminMu.Lock()
	op := g.op.Load()
	base, ok := op.baseOf(g.pool, id)
	if !ok {
		adminMu.Unlock()
		return admin.Key{}, admin.NotFound(id)
	}
	ov := op.overrides[id]
	ov.Clear(patch.Revert...)
	ov = ov.Merge(pool.KeySettings{Limits: patch.Limits, Note: patch.Note, Disabled: patch.Disabled})
	spec := ov.Apply(base)
	if err := spec.Limits.Check(); err != nil {
		adminMu.Unlock()
		return admin.Key{}, admin.Errorf(http.StatusBadRequest, "%v", err)
	}
	if err := g.pool.SaveOverride(g.name, id, ov); err != nil {
		adminMu.Unlock()
		return admin.Key{}, fmt.Errorf("saving the change: %w", err)
	}
	if _, err := g.pool.UpdateKey(spec); err != nil {
		adminMu.Unlock()
		return admin.Key{}, admin.Errorf(http.StatusBadRequest, "%v", err)
	}
	op.setOverride(id, base, ov)
	adminMu.Unlock()
	if patch.Disabled != nil && !*patch.Disabled {
		// Enabling a key also lifts a disabling by health (401/403): the
		// operator says the key works; the next 401 disables it again.
		g.pool.Enable(id)
	}
	g.logger.Info("key changed through the admin API", zap.String("key_id", id), zap.Strings("overrides", ov.Names()))
	return a.Key(id)
}

func (a adminInstance) DeleteKey(id string) error {
	g := a.g
	id = g.pool.Resolve(id)
	adminMu.Lock()
	defer adminMu.Unlock()
	spec, ok := g.pool.Spec(id)
	if !ok {
		return admin.NotFound(id)
	}
	if spec.Source != "admin" {
		return admin.Errorf(http.StatusConflict,
			`key %s comes from the Caddyfile: remove it there, or disable it with PATCH {"disabled":true}`, id)
	}
	if err := g.pool.DeleteSavedKey(g.name, id); err != nil {
		return fmt.Errorf("deleting the saved key: %w", err)
	}
	g.pool.RemoveKey(id)
	g.op.Load().forget(id)
	g.logger.Info("key removed through the admin API", zap.String("key_id", id))
	return nil
}

func (a adminInstance) ResetKey(id string) (admin.Key, error) {
	id = a.g.pool.Resolve(id)
	if !a.g.pool.Has(id) {
		return admin.Key{}, admin.NotFound(id)
	}
	a.g.pool.Reset(id)
	a.g.logger.Info("key reset through the admin API", zap.String("key_id", id))
	return a.Key(id)
}

// checkConcurrency and checkTimeout bound POST .../keys/check.
const (
	checkConcurrency = 8
	checkTimeout     = 15 * time.Second
)

// CheckKeys probes every key with a cheap authorized call (the upstream's
// model list) and updates its state: 200 enables a key health had
// disabled; 401/403 disable it; 429 cools it down; 402 or an
// insufficient-quota answer exhausts it until the day ends. Other answers
// leave the state alone.
func (a adminInstance) CheckKeys(ctx context.Context) []admin.CheckResult {
	g := a.g
	keys := g.pool.Keys()
	out := make([]admin.CheckResult, len(keys))
	sem := make(chan struct{}, checkConcurrency)
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = g.checkKey(ctx, k.Spec)
		}()
	}
	wg.Wait()
	return out
}

func (g *Gateway) checkKey(ctx context.Context, spec pool.KeySpec) (res admin.CheckResult) {
	res = admin.CheckResult{ID: spec.ID, Upstream: spec.Upstream}
	defer func() {
		if k, ok := g.pool.Key(spec.ID); ok {
			res.State = string(k.State)
		}
	}()
	u := g.router.byName[spec.Upstream]
	if u == nil {
		res.Error = "upstream not configured"
		return res
	}
	pctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	status, body, err := u.probe(pctx, &spec)
	res.Status = status
	if err != nil {
		res.Error = "could not reach the upstream: " + scrub(err.Error(), spec.Secret)
		return res
	}
	if status == http.StatusOK {
		res.OK = true
		g.pool.Enable(spec.ID)
		return res
	}
	msg := scrub(upstreamMessage(body), spec.Secret)
	res.Error = fmt.Sprintf("%d from upstream: %s", status, truncate(msg, 300))
	switch v := u.provider.Classify(status, body); v {
	case providers.KeyRefused, providers.QuotaSpent, providers.RateLimited:
		o := outcome(v, status)
		o.Reason = truncate(res.Error, 200)
		g.pool.Report(spec.ID, o)
	}
	return res
}

func (a adminInstance) Usage(q admin.UsageQuery) (admin.Usage, error) {
	g := a.g
	rows := g.op.Load().stats.Rows()
	from := ""
	if q.Days > 0 {
		from = time.Now().In(g.loc).AddDate(0, 0, -(q.Days - 1)).Format(time.DateOnly)
	}
	groups := map[string]*admin.UsageGroup{}
	var order []string
	for _, r := range rows {
		if from != "" && r.Hour[:10] < from {
			continue
		}
		var group string
		switch q.By {
		case "day":
			group = r.Hour[:10]
		case "hour":
			group = r.Hour + ":00"
		case "model":
			// The model the upstream served, where it said; else the
			// configured name (failures, and statistics of versions
			// before).
			group = r.Served
			if group == "" {
				group = r.Model
			}
		case "client":
			group = r.Client
		case "key":
			group = r.Key
		case "upstream":
			group = r.Upstream
		default:
			return admin.Usage{}, admin.Errorf(http.StatusBadRequest, "unknown grouping %q", q.By)
		}
		if group == "" {
			group = "(none)"
		}
		cur := groups[group]
		if cur == nil {
			cur = &admin.UsageGroup{Group: group}
			groups[group] = cur
			order = append(order, group)
		}
		cur.Requests += r.Requests
		cur.Successes += r.Successes
		cur.Failures += r.Failures
		cur.InputTokens += r.InputTokens
		cur.OutputTokens += r.OutputTokens
	}
	out := admin.Usage{By: q.By, Groups: make([]admin.UsageGroup, 0, len(order))}
	for _, g := range order {
		out.Groups = append(out.Groups, *groups[g])
	}
	switch q.By {
	case "day", "hour":
		sort.Slice(out.Groups, func(i, j int) bool { return out.Groups[i].Group < out.Groups[j].Group })
	default:
		sort.Slice(out.Groups, func(i, j int) bool {
			a, b := out.Groups[i], out.Groups[j]
			if a.Requests != b.Requests {
				return a.Requests > b.Requests
			}
			return a.Group < b.Group
		})
	}
	return out, nil
}

func (a adminInstance) Logs(limit int) []admin.LogEntry {
	return a.g.op.Load().ring.Newest(limit)
}

// Models lists aliases (in upstream order), literal model names, and each
// upstream's patterns, with the upstreams and model names behind them.
func (a adminInstance) Models(context.Context) []admin.Model {
	g := a.g
	var out []admin.Model
	seen := map[string]bool{}
	add := func(name, kind string) {
		if seen[name] {
			return
		}
		seen[name] = true
		m := admin.Model{Model: name, Kind: kind, Targets: []admin.Target{}}
		if rt := g.router.resolve(name); rt != nil {
			for i, u := range rt.ups {
				m.Targets = append(m.Targets, admin.Target{Upstream: u.name, Model: rt.models[i], Priority: rt.targets[i].Priority})
			}
		}
		out = append(out, m)
	}
	for _, u := range g.cfg.Upstreams {
		for _, al := range slices.Sorted(maps.Keys(u.Aliases)) {
			add(al, "alias")
		}
	}
	for _, u := range g.cfg.Upstreams {
		for _, m := range u.Models {
			if !IsGlob(m) {
				add(m, "model")
			}
		}
	}
	// Patterns are not names a client sends, so they are not resolved:
	// their one target is the upstream, which gets the name as asked.
	for _, u := range g.cfg.Upstreams {
		patterns := []string{}
		for _, m := range u.Models {
			if IsGlob(m) {
				patterns = append(patterns, m)
			}
		}
		if len(u.Models) == 0 {
			patterns = append(patterns, "*")
		}
		for _, pat := range patterns {
			out = append(out, admin.Model{Model: pat, Kind: "pattern",
				Targets: []admin.Target{{Upstream: u.Name, Model: pat, Priority: u.Priority}}})
		}
	}
	return out
}

// Interface guards
var (
	_ admin.Instance = adminInstance{}
	_ admin.Registry = adminRegistry{}
)
