package pool

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/stats"
	"github.com/llmproxy/caddy-llm-proxy/store"
)

// Options configure a Pool.
type Options struct {
	// Instance is the handler instance name; it identifies memory storage
	// across reloads.
	Instance string
	// Storage is "badger" (the default when empty), "memory" or "redis".
	Storage string
	// Dir is the Badger directory; required for badger storage. A relative
	// path is made absolute, so it names the same storage across reloads.
	Dir string
	// Location is where calendar days end for daily limits and quota
	// exhaustion. Nil means UTC.
	Location *time.Location
	// Keys are the keys to serve from, in the order Keys reports them.
	// An empty ID is filled in with KeyID; a zero Limits.Weight means 1.
	Keys []KeySpec
	// Redis configures storage "redis".
	Redis RedisOptions
	// Changed hears, on shared storage (Redis), that another instance
	// added or removed keys through its admin API, or changed overrides,
	// for this Options.Instance: ids are the keys concerned, nil when any
	// may have changed (after a reconnection). Calls come one at a time,
	// from a goroutine of the Pool's.
	Changed func(ids []string)
	// ClientsChanged hears, on shared storage, that another instance made,
	// changed or deleted clients through its admin API for this
	// Options.Instance (or that some such change may have been missed).
	ClientsChanged func()
	// Logger receives store and flush errors. Nil discards them.
	Logger *zap.Logger
	// Now is the clock, for tests. Nil means time.Now.
	Now func() time.Time
}

// RedisOptions configure storage "redis".
type RedisOptions struct {
	// URL is redis:// or rediss://, with user and password if needed.
	URL string
	// Prefix goes in front of every Redis key; instances that share it
	// share their keys' state.
	Prefix string
	// FailOpen serves requests without limits while Redis is unreachable,
	// instead of refusing them (*Unavailable with StoreDown).
	FailOpen bool
}

// Pool admits requests onto keys of one configuration. Per-key limits,
// weights and specs are the Pool's own (the current config); per-key runtime
// state (counters, in-flight requests, health) is shared by key ID with every
// other Pool on the same storage, so a config reload keeps it.
type Pool struct {
	identity string
	instance string
	sh       *shared
	failOpen bool
	changed  func(ids []string)
	// clientsChanged: see Options.ClientsChanged.
	clientsChanged func()
	days           dayCache // Redis storage: see dayArgs; guarded by sh.mu
	loc            *time.Location
	now            func() time.Time

	// Guarded by sh.mu:
	slots    []*slot          // in spec order
	byID     map[string]*slot // key ID -> slot
	bySecret map[secretRef]*slot
	groups   map[string]*group // upstream -> its keys, for selection
	scratch  []*slot           // keys set aside during one Acquire
	closed   atomic.Bool
}

// KeyID derives a key's stable ID from its upstream and secret: the upstream
// name, a dash, and the first 16 hex digits (64 bits) of
// sha256(upstream NUL secret). Hashing with the upstream makes the same
// secret on two upstreams two keys; 64 bits of a hash identify a key without
// revealing it, and do not collide in practice (about 1 in 10^9 for a pool
// of 100,000 keys). Should two secrets of one upstream still share an ID,
// the one placed second gets the next ID of its own sequence (see keyID),
// never the first one's: two secrets are never one key.
//
// Versions before kept 8 hex digits, the first 8 of these: state, keys and
// overrides stored under such an ID are taken over by the key whose ID
// starts with it (see legacyID), and the admin API still finds a key by it
// (see Pool.Resolve).
func KeyID(upstream, secret string) string { return keyID(upstream, secret, 0) }

// keyID is the n-th ID of a secret: n = 0 is KeyID; a later one hashes n in
// too, for a secret whose earlier IDs other secrets of its upstream hold.
func keyID(upstream, secret string, n int) string {
	h := sha256.New()
	h.Write([]byte(upstream))
	h.Write([]byte{0})
	h.Write([]byte(secret))
	if n > 0 {
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(n)))
	}
	var sum [sha256.Size]byte
	return upstream + "-" + hex.EncodeToString(h.Sum(sum[:0])[:idBytes])
}

// idBytes is how many bytes of the hash an ID carries: 8 (tests shorten it
// to make collisions common).
var idBytes = 8

// legacyID is the 8-hex-digit ID that versions before gave the key whose
// ID is id, or "" when id is not of the 16-digit form.
func legacyID(id string) string {
	i := strings.LastIndexByte(id, '-')
	if i < 0 || len(id)-i-1 != 16 {
		return ""
	}
	return id[:len(id)-8]
}

// isLegacyID reports whether id has the 8-hex-digit form of old IDs.
func isLegacyID(id string) bool {
	i := strings.LastIndexByte(id, '-')
	if i < 0 || len(id)-i-1 != 8 {
		return false
	}
	for _, c := range id[i+1:] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// New builds a Pool over opts.Keys and attaches it to the shared state of
// its storage, opening the store if no other Pool has it open. Every Pool
// from New must be closed with Close.
func New(opts Options) (*Pool, error) {
	p := &Pool{
		instance:       opts.Instance,
		failOpen:       opts.Redis.FailOpen,
		changed:        opts.Changed,
		clientsChanged: opts.ClientsChanged,
		loc:            opts.Location,
		now:            opts.Now,
		byID:           make(map[string]*slot, len(opts.Keys)),
		bySecret:       make(map[secretRef]*slot, len(opts.Keys)),
		groups:         make(map[string]*group),
		slots:          make([]*slot, 0, len(opts.Keys)),
	}
	if p.loc == nil {
		p.loc = time.UTC
	}
	if p.now == nil {
		p.now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = zap.NewNop()
	}

	// Validate everything before taking a reference on the shared state:
	// after LoadOrNew succeeds, the only way out is Close.
	specs := make([]KeySpec, 0, len(opts.Keys))
	ids := make(map[string]bool, len(opts.Keys))
	secrets := make(map[secretRef]string, len(opts.Keys))
	for _, k := range opts.Keys {
		k, err := validateSpec(k)
		if err != nil {
			return nil, err
		}
		err = placeID(&k, func(up, secret string) (string, bool) {
			id, ok := secrets[secretKey(up, secret)]
			return id, ok
		}, func(id string) bool { return ids[id] })
		if dup, ok := errors.AsType[*DuplicateKeyError](err); ok {
			return nil, fmt.Errorf("key %s is listed twice (the same secret twice on upstream %q)", dup.ID, k.Upstream)
		}
		if err != nil {
			return nil, err
		}
		specs = append(specs, k)
		ids[k.ID] = true
		secrets[secretKey(k.Upstream, k.Secret)] = k.ID
	}

	var open func() (store.Store, error)
	switch opts.Storage {
	case "", "badger":
		if opts.Dir == "" {
			return nil, errors.New("badger storage needs a directory")
		}
		dir, err := filepath.Abs(opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("storage directory: %w", err)
		}
		p.identity = "badger:" + dir
		open = func() (store.Store, error) {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("making storage directory: %w", err)
			}
			return store.OpenBadger(dir, logger)
		}
	case "memory":
		p.identity = "memory:" + opts.Instance
		open = func() (store.Store, error) { return store.NewMemory(), nil }
	case "redis":
		if _, err := store.RedisOptions(opts.Redis.URL); err != nil {
			return nil, err
		}
		p.identity = "redis:" + opts.Redis.URL + " " + opts.Redis.Prefix
		open = func() (store.Store, error) { return store.OpenRedis(opts.Redis.URL, opts.Redis.Prefix, logger) }
	default:
		return nil, fmt.Errorf("unknown storage %q (want badger, memory or redis)", opts.Storage)
	}

	v, _, err := sharedStates.LoadOrNew(p.identity, func() (caddy.Destructor, error) {
		if opts.Storage == "redis" {
			st, err := open()
			if err != nil {
				return nil, err
			}
			return newSharedRemote(st.(*store.Redis), logger), nil
		}
		s, err := newShared(open, opts.Storage == "memory", logger, p.now())
		if err != nil {
			return nil, err
		}
		return s, nil
	})
	if err != nil {
		// LoadOrNew already dropped the failed entry; deleting here
		// would release somebody else's reference.
		return nil, err
	}
	p.sh = v.(*shared)

	p.sh.mu.Lock()
	c := p.clock()
	for _, k := range specs {
		p.place(k, &c)
	}
	p.sh.pools = append(p.sh.pools, p)
	p.sh.mu.Unlock()
	return p, nil
}

// place adds spec as a new key of the Pool, with the runtime state its ID
// has on the storage; the caller holds the lock and has checked the ID.
func (p *Pool) place(spec KeySpec, c *clock) *slot {
	s := &slot{first: spec, pool: p, ks: p.sh.state(spec)}
	s.spec = &s.first
	g := p.groups[spec.Upstream]
	if g == nil {
		g = &group{}
		p.groups[spec.Upstream] = g
	}
	g.add(s)
	if s.ks.slots == nil {
		s.ks.slots = s.ks.slot0[:0]
	}
	s.ks.slots = append(s.ks.slots, s)
	p.slots = append(p.slots, s)
	p.byID[spec.ID] = s
	p.bySecret[secretKey(spec.Upstream, spec.Secret)] = s
	s.refresh(c)
	return s
}

// unplace takes s out of the Pool's selection and its key's slots; the
// caller holds the lock and drops it from slots.
func (p *Pool) unplace(s *slot) {
	s.g.remove(s)
	s.ks.detach(s)
	delete(p.byID, s.spec.ID)
	delete(p.bySecret, secretKey(s.spec.Upstream, s.spec.Secret))
}

// placeID settles the ID of a key about to be added. has finds the ID of
// a secret among the keys it joins ("", false: none), taken whether an ID
// is held there. The same secret on the same upstream is a
// *DuplicateKeyError, whatever its ID. An ID held by another secret (a hash
// collision, however unlikely, or an ID the secret had before) moves on to
// the secret's next ID (see keyID); an ID that is none of the secret's is
// an error when taken.
func placeID(k *KeySpec, has func(upstream, secret string) (string, bool), taken func(id string) bool) error {
	if id, dup := has(k.Upstream, k.Secret); dup {
		return &DuplicateKeyError{ID: id}
	}
	if !taken(k.ID) {
		return nil
	}
	n := -1
	for i := range maxDerivedIDs {
		if keyID(k.Upstream, k.Secret, i) == k.ID {
			n = i
			break
		}
	}
	if n < 0 {
		return fmt.Errorf("key id %s is already taken by another key", k.ID)
	}
	for n++; ; n++ {
		if id := keyID(k.Upstream, k.Secret, n); !taken(id) {
			k.ID = id
			return nil
		}
	}
}

// maxDerivedIDs bounds the search for which of its secret's IDs an ID is.
const maxDerivedIDs = 64

// secretRef is a key's entry in Pool.bySecret: its upstream and secret,
// the very strings of its spec (a key costs no string of its own here).
type secretRef struct{ upstream, secret string }

func secretKey(upstream, secret string) secretRef { return secretRef{upstream, secret} }

// IDFor is the ID that the secret has on upstream in this Pool or in batch
// (IDs given out so far to other keys of one batch, with their specs), and
// true; or the one AddKeys would give it, and false. A new key gets
// preferred when that is free or names nothing, else KeyID or its next
// free one.
func (p *Pool) IDFor(upstream, secret, preferred string, batch map[string]*KeySpec) (id string, exists bool) {
	k := KeySpec{ID: preferred, Upstream: upstream, Secret: secret}
	if k.ID == "" {
		k.ID = KeyID(upstream, secret)
	}
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	err := placeID(&k, func(up, secret string) (string, bool) {
		if s := p.bySecret[secretKey(up, secret)]; s != nil {
			return s.spec.ID, true
		}
		for id, o := range batch {
			if o.Upstream == up && o.Secret == secret {
				return id, true
			}
		}
		return "", false
	}, func(id string) bool { return p.byID[id] != nil || batch[id] != nil })
	if dup, ok := errors.AsType[*DuplicateKeyError](err); ok {
		return dup.ID, true
	}
	if err != nil {
		// preferred is some other key's: start over from the secret's own.
		return p.idForLocked(upstream, secret, batch), false
	}
	return k.ID, false
}

// idForLocked is IDFor without a preferred ID, for a secret known to be
// new; the caller holds the lock.
func (p *Pool) idForLocked(upstream, secret string, batch map[string]*KeySpec) string {
	for n := 0; ; n++ {
		if id := keyID(upstream, secret, n); p.byID[id] == nil && batch[id] == nil {
			return id
		}
	}
}

// Resolve returns the ID of the key that id names: id itself, or for an
// 8-hex-digit ID of versions before, the one key whose ID extends it. An
// unknown id comes back unchanged.
func (p *Pool) Resolve(id string) string {
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	if _, ok := p.byID[id]; ok || !isLegacyID(id) {
		return id
	}
	found := ""
	for _, s := range p.slots {
		if legacyID(s.spec.ID) == id && s.spec.ID == KeyID(s.spec.Upstream, s.spec.Secret) {
			if found != "" {
				return id // two keys share it: it names neither
			}
			found = s.spec.ID
		}
	}
	if found == "" {
		return id
	}
	return found
}

// Close releases the Pool's reference on the shared state; the last Close on
// a storage flushes it and closes the store. Close is nil-safe and
// idempotent. Leases still out stay valid: their Done updates the state in
// memory (and, if another Pool still holds the storage, the store).
func (p *Pool) Close() error {
	if p == nil || p.sh == nil || !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	p.sh.mu.Lock()
	for _, s := range p.slots {
		p.unplace(s)
	}
	p.slots, p.groups = nil, map[string]*group{}
	p.sh.pools = slices.DeleteFunc(p.sh.pools, func(o *Pool) bool { return o == p })
	p.sh.mu.Unlock()
	_, err := sharedStates.Delete(p.identity)
	return err
}

// clock reads the time once for one operation.
func (p *Pool) clock() clock { return newClock(p.now(), p.loc) }

// Usage counts a key's use. Minute is requests started in the last 60 s, Day
// in the current calendar day, Total since the key was first seen (or last
// reset); TokensDay and TokensTotal likewise. In-flight requests count their
// token estimate until they end.
type Usage struct {
	Minute, Day, Total     int64
	TokensDay, TokensTotal int64
	InFlight               int
}

// KeyStatus is a snapshot of one key for the admin API and metrics.
type KeyStatus struct {
	Spec KeySpec
	// State is the key's health; a key disabled by configuration is
	// StateDisabled too, with Reason "disabled in configuration".
	State  State
	Reason string
	// Until is when a cooling or exhausted key becomes active again
	// (zero otherwise).
	Until time.Time
	Usage Usage
}

// Keys returns a snapshot of every key, in spec order. On Redis storage it
// is read from Redis (every instance's use), or from this instance's
// mirror while Redis is unreachable.
func (p *Pool) Keys() []KeyStatus {
	if p.sh.remote != nil {
		p.sh.mu.Lock()
		slots := slices.Clone(p.slots)
		p.sh.mu.Unlock()
		if out, ok := p.readRemote(slots); ok {
			return out
		}
	}
	c := p.clock()
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	out := make([]KeyStatus, len(p.slots))
	for i, s := range p.slots {
		out[i] = s.status(&c)
	}
	return out
}

// usage is the key's (or client's) usage; the caller holds the lock and
// has synced ks.
func (ks *keyState) usage() Usage {
	return Usage{Minute: ks.minuteRequests, Day: ks.dayRequests, Total: ks.requests,
		TokensDay: ks.dayTokens, TokensTotal: ks.tokens, InFlight: ks.inFlight}
}

// rowUsage is the usage in a row of statusScript's answer (its first six
// fields).
func rowUsage(row []any) Usage {
	return Usage{Minute: asInt(row[0]), Day: asInt(row[1]), Total: asInt(row[2]),
		TokensDay: asInt(row[3]), TokensTotal: asInt(row[4]), InFlight: int(asInt(row[5]))}
}

// status is the snapshot of the key; the caller holds the lock.
func (s *slot) status(c *clock) KeyStatus {
	ks := s.ks
	ks.sync(c)
	st := KeyStatus{
		Spec:   *s.spec,
		State:  ks.health,
		Reason: ks.reason,
		Usage:  ks.usage(),
	}
	if ks.until != 0 {
		st.Until = time.Unix(0, ks.until).UTC()
	}
	if st.Spec.Disabled && st.State != StateDisabled {
		st.State, st.Reason, st.Until = StateDisabled, "disabled in configuration", time.Time{}
	}
	return st
}

// Disabled lists the keys that health disabled (401/403), for the periodic
// re-probe. Keys disabled by configuration are not listed: probing them is
// pointless, since success would not enable them.
func (p *Pool) Disabled() []KeySpec {
	var out []KeySpec
	if p.sh.remote != nil {
		p.Keys() // brings the mirror up to date
	}
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	for _, s := range p.slots {
		if s.ks.health == StateDisabled && !s.spec.Disabled {
			out = append(out, *s.spec)
		}
	}
	return out
}

// Enable brings a key that health disabled back to active after a successful
// re-probe. It leaves a cooling or exhausted key alone: a probe that works
// says nothing about rate limits or quota. Unknown IDs are ignored.
func (p *Pool) Enable(id string) {
	if p.sh.remote != nil {
		if err := p.keyScript(id, enableScript); err != nil {
			p.sh.logger.Warn("enabling a key in Redis failed", zap.String("key_id", id), zap.Error(err))
		}
		return
	}
	c := p.clock()
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	s, ok := p.byID[id]
	if !ok {
		return
	}
	if ks := s.ks; ks.health == StateDisabled {
		ks.failures, ks.n429 = 0, 0
		ks.setActive()
		ks.touch(&c)
	}
}

// Reset zeroes a key's counters (rolling minute, day, totals, interval) and
// clears any cooldown, exhaustion or disabling by health. Requests in flight
// stay counted as in flight. Unknown IDs are ignored.
func (p *Pool) Reset(id string) {
	if p.sh.remote != nil {
		if err := p.keyScript(id, resetScript); err != nil {
			p.sh.logger.Warn("resetting a key in Redis failed", zap.String("key_id", id), zap.Error(err))
		}
		return
	}
	c := p.clock()
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	s, ok := p.byID[id]
	if !ok {
		return
	}
	s.ks.reset()
	s.ks.touch(&c)
}

// block is what keeps key s from admitting a request of est tokens now
// (see keyState.block); the caller holds the lock and has synced the key.
func (p *Pool) block(s *slot, c *clock, est int64) (until int64, full bool) {
	if p.sh.remote == nil {
		return s.ks.block(&s.spec.Limits, c, est)
	}
	// On Redis, what Redis last said: the tokens of a request are for
	// Redis to weigh.
	ks := s.ks
	if (ks.health == StateCooling || ks.health == StateExhausted) && ks.until > c.now {
		until = ks.until
	}
	if ks.hint > c.now && ks.hint > until {
		until = ks.hint
	}
	return until, false
}

// Stats returns the usage statistics of instance on this Pool's storage,
// loading them from the store on first use. They are flushed with the key
// states (once a second, and by the last Close), in the Pool's Location.
func (p *Pool) Stats(instance string) (*stats.Usage, error) {
	return p.sh.usage.Usage(instance, p.loc)
}
