package pool

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/limits"
	"github.com/llmproxy/caddy-llm-proxy/store"
)

// Keys added or changed at runtime (through the admin API).
//
// A Pool starts from the keys of its configuration (Options.Keys). The
// handler then adds the keys an operator added at runtime (AddKeys) and
// applies the operator's changes to keys (UpdateKey); both are persisted in
// the Store (SaveKey, SaveOverride) so that the next Pool, after a reload or
// a restart, starts the same way. Every change takes effect on the next
// Acquire: specs are read under the same lock as admission.

// Store prefixes of runtime key data. Each is followed by the handler
// instance's name and a slash, so that two instances sharing a directory
// do not see each other's keys.
const (
	savedKeyPrefix = "admin/key/"
	overridePrefix = "admin/override/"
)

// KeySettings are optional per-key settings: an unset one (a limit not
// set in Limits, a nil pointer) is not set, so that whatever lies
// underneath (the upstream's defaults, the Caddyfile) shows through. A cap
// set to 0 means "no limit".
//
// Stored as JSON, flat: the set limits (see limits.Partial) beside "note"
// and "disabled".
type KeySettings struct {
	Limits   limits.Partial
	Note     *string
	Disabled *bool
}

// keyExtras are the settings of KeySettings that are not limits, in their
// JSON form.
type keyExtras struct {
	Note     *string `json:"note,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// MarshalJSON writes the limits, then note and disabled, in one object.
func (s KeySettings) MarshalJSON() ([]byte, error) {
	l, err := json.Marshal(s.Limits)
	if err != nil {
		return nil, err
	}
	x, err := json.Marshal(keyExtras{Note: s.Note, Disabled: s.Disabled})
	if err != nil {
		return nil, err
	}
	switch {
	case len(l) == 2: // {}
		return x, nil
	case len(x) == 2:
		return l, nil
	}
	return append(append(l[:len(l)-1], ','), x[1:]...), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *KeySettings) UnmarshalJSON(b []byte) error {
	var out KeySettings
	if err := json.Unmarshal(b, &out.Limits); err != nil {
		return err
	}
	var x keyExtras
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	out.Note, out.Disabled = x.Note, x.Disabled
	*s = out
	return nil
}

// IsZero reports whether no setting is set.
func (s KeySettings) IsZero() bool { return s == KeySettings{} }

// Apply returns spec with every set field of s in place of spec's.
func (s KeySettings) Apply(spec KeySpec) KeySpec {
	spec.Limits = s.Limits.Apply(spec.Limits)
	if s.Note != nil {
		spec.Note = *s.Note
	}
	if s.Disabled != nil {
		spec.Disabled = *s.Disabled
	}
	return spec
}

// Merge returns s with every set field of o in place of s's.
func (s KeySettings) Merge(o KeySettings) KeySettings {
	s.Limits = s.Limits.Merge(o.Limits)
	if o.Note != nil {
		s.Note = o.Note
	}
	if o.Disabled != nil {
		s.Disabled = o.Disabled
	}
	return s
}

// Clear unsets the named settings (JSON names: "disabled", a limit's
// name, "note"). Unknown names are ignored.
func (s *KeySettings) Clear(names ...string) {
	for _, n := range names {
		switch n {
		case "note":
			s.Note = nil
		case "disabled":
			s.Disabled = nil
		default:
			if d := limits.Lookup(n); d != nil {
				s.Limits.Clear(d)
			}
		}
	}
}

// Names lists the set settings by their JSON names: "disabled", the set
// limits in table order, "note".
func (s KeySettings) Names() []string {
	var out []string
	if s.Disabled != nil {
		out = append(out, "disabled")
	}
	out = append(out, s.Limits.Names()...)
	if s.Note != nil {
		out = append(out, "note")
	}
	return out
}

// SavedKey is a key added at runtime, as persisted. Its settings keep
// unset fields unset, so the upstream's defaults of the configuration in
// force apply when it is loaded.
type SavedKey struct {
	// KeyID is the key's ID as it was added. Records of versions before
	// have none; their ID is KeyID(Upstream, Secret).
	KeyID    string      `json:"id,omitempty"`
	Upstream string      `json:"upstream"`
	Secret   string      `json:"secret"`
	Settings KeySettings `json:"settings"`
	Egress   Egress      `json:"egress,omitzero"`
	Added    time.Time   `json:"added"`
}

// ID is the key's ID (see KeyID).
func (k SavedKey) ID() string {
	if k.KeyID != "" {
		return k.KeyID
	}
	return KeyID(k.Upstream, k.Secret)
}

// validateSpec checks a spec as New does and fills in its defaults.
func validateSpec(k KeySpec) (KeySpec, error) {
	if k.Upstream == "" {
		return k, fmt.Errorf("key: no upstream")
	}
	if k.ID == "" {
		k.ID = KeyID(k.Upstream, k.Secret)
	}
	if err := k.Limits.Check(); err != nil {
		return k, fmt.Errorf("key %s: %w", k.ID, err)
	}
	k.Limits = limits.Merge(k.Limits, limits.Set{}) // a zero weight is 1
	return k, nil
}

// DuplicateKeyError is AddKeys' error for a key the Pool already has (or
// that the batch holds twice).
type DuplicateKeyError struct{ ID string }

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("key %s already exists (the same secret on the same upstream)", e.ID)
}

// Has reports whether the Pool serves key id.
func (p *Pool) Has(id string) bool {
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	_, ok := p.byID[id]
	return ok
}

// Spec returns the spec of key id.
func (p *Pool) Spec(id string) (KeySpec, bool) {
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	s, ok := p.byID[id]
	if !ok {
		return KeySpec{}, false
	}
	return *s.spec, true
}

// IDs returns the IDs of the keys whose spec came from source ("config"
// or "admin"), in spec order.
func (p *Pool) IDs(source string) []string {
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	var ids []string
	for _, s := range p.slots {
		if s.spec.Source == source {
			ids = append(ids, s.spec.ID)
		}
	}
	return ids
}

// Key returns the snapshot of key id, as Keys does.
func (p *Pool) Key(id string) (KeyStatus, bool) {
	if p.sh.remote != nil {
		p.sh.mu.Lock()
		s := p.byID[id]
		p.sh.mu.Unlock()
		if s == nil {
			return KeyStatus{}, false
		}
		if out, ok := p.readRemote([]*slot{s}); ok && len(out) == 1 {
			return out[0], true
		}
	}
	c := p.clock()
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	s, ok := p.byID[id]
	if !ok {
		return KeyStatus{}, false
	}
	return s.status(&c), true
}

// AddKeys adds keys to the Pool, all or none: each is validated as New
// does, and a key whose secret the Pool already has on its upstream (or
// that the batch repeats) fails the whole batch with *DuplicateKeyError.
// A key whose ID another secret holds gets its next ID (see KeyID), so
// settle the IDs with IDFor first when they matter. A key's
// runtime state (counters, health) is the one its ID already has on this
// storage, if any: a key removed and added again keeps its counters, as
// limits are the upstream's and do not forget.
func (p *Pool) AddKeys(keys []KeySpec) error {
	checked := make([]KeySpec, 0, len(keys))
	batch := make(map[secretRef]string, len(keys)) // secret -> ID
	taken := make(map[string]bool, len(keys))
	for _, k := range keys {
		k, err := validateSpec(k)
		if err != nil {
			return err
		}
		checked = append(checked, k)
	}
	c := p.clock()
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	for i := range checked {
		k := &checked[i]
		err := placeID(k, func(up, secret string) (string, bool) {
			if s := p.bySecret[secretKey(up, secret)]; s != nil {
				return s.spec.ID, true
			}
			id, ok := batch[secretKey(up, secret)]
			return id, ok
		}, func(id string) bool { return p.byID[id] != nil || taken[id] })
		if err != nil {
			return err
		}
		batch[secretKey(k.Upstream, k.Secret)] = k.ID
		taken[k.ID] = true
	}
	for _, k := range checked {
		p.place(k, &c)
	}
	return nil
}

// UpdateKey replaces the spec of the key with spec.ID (validated as New
// does); its upstream and secret cannot change. It reports false for an
// unknown ID. The change applies from the next Acquire; leases already out
// keep the spec they were given.
func (p *Pool) UpdateKey(spec KeySpec) (bool, error) {
	if spec.ID == "" {
		return false, fmt.Errorf("key: no id")
	}
	spec, err := validateSpec(spec)
	if err != nil {
		return false, err
	}
	c := p.clock()
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	s, ok := p.byID[spec.ID]
	if !ok {
		return false, nil
	}
	if spec.Upstream != s.spec.Upstream {
		return false, fmt.Errorf("key %s: its upstream cannot change", spec.ID)
	}
	if spec.Secret != s.spec.Secret {
		return false, fmt.Errorf("key %s: its secret cannot change", spec.ID)
	}
	s.spec = &spec
	s.ks.hint = 0 // on Redis, what it said was under other limits
	s.refresh(&c)
	return true, nil
}

// RemoveKey takes key id out of the Pool; it reports false for an unknown
// ID. Requests in flight on it end normally. Its runtime state stays on the
// storage (see AddKeys).
func (p *Pool) RemoveKey(id string) bool {
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	s, ok := p.byID[id]
	if !ok {
		return false
	}
	p.unplace(s)
	p.slots = slices.DeleteFunc(p.slots, func(o *slot) bool { return o == s })
	return true
}

// Report applies an outcome that was not a leased request, such as a probe
// of the key, to the key's health as Lease.Done would (without touching its
// counters). It reports false for an unknown ID.
func (p *Pool) Report(id string, o Outcome) bool {
	if p.sh.remote != nil {
		spec, ok := p.Spec(id)
		if !ok {
			return false
		}
		res, err := p.runDone(spec, "", -1, 0, 0, 0, o)
		p.sh.mu.Lock()
		defer p.sh.mu.Unlock()
		c := p.clock()
		s := p.byID[id]
		if err != nil || s == nil {
			if s != nil {
				s.ks.observe(o, &c)
				s.ks.touch(&c)
			}
			return s != nil
		}
		p.mirrorDone(s, res, &c)
		return true
	}
	c := p.clock()
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	s, ok := p.byID[id]
	if !ok {
		return false
	}
	ks := s.ks
	ks.sync(&c)
	ks.observe(o, &c)
	ks.touch(&c)
	return true
}

// SavedKeys returns the keys saved for instance, oldest first. Records
// that versions before saved under an 8-hex-digit ID, or without their ID,
// are saved again under their ID (see KeyID).
func (p *Pool) SavedKeys(instance string) ([]SavedKey, error) {
	prefix := savedKeyPrefix + instance + "/"
	recs, err := p.sh.store.Load(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]SavedKey, 0, len(recs))
	var bad []string
	migrate := map[string][]byte{}
	for k, v := range recs {
		var sk SavedKey
		if err := json.Unmarshal(v, &sk); err != nil || sk.Upstream == "" || sk.Secret == "" {
			bad = append(bad, strings.TrimPrefix(k, savedKeyPrefix))
			continue
		}
		if sk.KeyID == "" || strings.TrimPrefix(k, prefix) != sk.KeyID {
			sk.KeyID = sk.ID()
			if b, err := json.Marshal(sk); err == nil {
				migrate[k] = nil
				migrate[prefix+sk.KeyID] = b
			}
		}
		out = append(out, sk)
	}
	if len(migrate) > 0 {
		if err := p.sh.store.Save(migrate); err != nil {
			p.sh.logger.Warn("saving keys of an older version under their new ids failed; will try again at the next start", zap.Error(err))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Added.Equal(out[j].Added) {
			return out[i].Added.Before(out[j].Added)
		}
		return out[i].ID() < out[j].ID()
	})
	if len(bad) > 0 {
		sort.Strings(bad)
		return out, fmt.Errorf("unreadable saved keys: %s", strings.Join(bad, ", "))
	}
	return out, nil
}

// SaveKeys persists keys for instance, all in one batch.
func (p *Pool) SaveKeys(instance string, keys []SavedKey) error {
	batch := make(map[string][]byte, len(keys))
	for _, k := range keys {
		b, err := json.Marshal(k)
		if err != nil {
			return err
		}
		batch[savedKeyPrefix+instance+"/"+k.ID()] = b
	}
	if err := p.sh.store.Save(batch); err != nil {
		return err
	}
	publishIDs(p, "keys", keys, func(k SavedKey) string { return k.ID() })
	return nil
}

// publishIDs publishes a change of kind to the keys of list.
func publishIDs[T any](p *Pool, kind string, list []T, id func(T) string) {
	if p.sh.remote == nil {
		return
	}
	ids := make([]string, len(list))
	for i, x := range list {
		ids[i] = id(x)
	}
	p.publish(kind, ids)
}

// DeleteSavedKey forgets a saved key of instance, and its override.
func (p *Pool) DeleteSavedKey(instance, id string) error {
	err := p.sh.store.Save(map[string][]byte{
		savedKeyPrefix + instance + "/" + id: nil,
		overridePrefix + instance + "/" + id: nil,
	})
	if err == nil {
		p.publish("keys", []string{id})
	}
	return err
}

// Overrides returns the saved per-key overrides of instance by key ID.
// An override that versions before saved under an 8-hex-digit ID is given
// to the key of this Pool whose ID extends it (see KeyID), and saved again
// under that ID; so call it once the Pool has all its keys.
func (p *Pool) Overrides(instance string) (map[string]KeySettings, error) {
	prefix := overridePrefix + instance + "/"
	recs, err := p.sh.store.Load(prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]KeySettings, len(recs))
	var bad []string
	migrate := map[string][]byte{}
	for k, v := range recs {
		var s KeySettings
		id := strings.TrimPrefix(k, prefix)
		if err := json.Unmarshal(v, &s); err != nil {
			bad = append(bad, id)
			continue
		}
		if !p.Has(id) && isLegacyID(id) {
			if nid := p.Resolve(id); nid != id {
				if _, set := recs[prefix+nid]; !set {
					migrate[k], migrate[prefix+nid] = nil, v
					id = nid
				}
			}
		}
		out[id] = s
	}
	if len(migrate) > 0 {
		if err := p.sh.store.Save(migrate); err != nil {
			p.sh.logger.Warn("saving key overrides of an older version under their new ids failed; will try again at the next start", zap.Error(err))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return out, fmt.Errorf("unreadable key overrides: %s", strings.Join(bad, ", "))
	}
	return out, nil
}

// ClearOverrides deletes the overrides of keys ids of instance, in one
// batch.
func (p *Pool) ClearOverrides(instance string, ids []string) error {
	batch := make(map[string][]byte, len(ids))
	for _, id := range ids {
		batch[overridePrefix+instance+"/"+id] = nil
	}
	err := p.sh.store.Save(batch)
	if err == nil {
		p.publish("overrides", ids)
	}
	return err
}

// SaveOverride persists the override of key id of instance; an empty one
// is deleted.
func (p *Pool) SaveOverride(instance, id string, s KeySettings) error {
	key := overridePrefix + instance + "/" + id
	var b []byte
	if !s.IsZero() {
		var err error
		if b, err = json.Marshal(s); err != nil {
			return err
		}
	}
	err := p.sh.store.Save(map[string][]byte{key: b})
	if err == nil {
		p.publish("overrides", []string{id})
	}
	return err
}

// SavedKeysByID returns the saved keys of instance among ids, by ID, as
// the store holds them now (for changes heard from other instances).
func (p *Pool) SavedKeysByID(instance string, ids []string) (map[string]SavedKey, error) {
	recs, err := p.records(savedKeyPrefix+instance+"/", ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]SavedKey, len(recs))
	for id, v := range recs {
		var sk SavedKey
		if json.Unmarshal(v, &sk) == nil && sk.Upstream != "" && sk.Secret != "" {
			sk.KeyID = id
			out[id] = sk
		}
	}
	return out, nil
}

// OverridesByID returns the overrides of instance among ids, by ID, as the
// store holds them now.
func (p *Pool) OverridesByID(instance string, ids []string) (map[string]KeySettings, error) {
	recs, err := p.records(overridePrefix+instance+"/", ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]KeySettings, len(recs))
	for id, v := range recs {
		var s KeySettings
		if json.Unmarshal(v, &s) == nil {
			out[id] = s
		}
	}
	return out, nil
}

// records reads the records prefix+id of ids, by ID.
func (p *Pool) records(prefix string, ids []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(ids))
	if r, ok := p.sh.store.(*store.Redis); ok {
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = prefix + id
		}
		recs, err := r.Get(keys)
		for k, v := range recs {
			out[strings.TrimPrefix(k, prefix)] = v
		}
		return out, err
	}
	recs, err := p.sh.store.Load(prefix)
	for _, id := range ids {
		if v, ok := recs[prefix+id]; ok {
			out[id] = v
		}
	}
	return out, err
}
