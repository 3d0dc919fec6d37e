package pool

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	// Storage is "badger" (the default when empty) or "memory".
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
	// Logger receives store and flush errors. Nil discards them.
	Logger *zap.Logger
	// Now is the clock, for tests. Nil means time.Now.
	Now func() time.Time
}

// Pool admits requests onto keys of one configuration. Per-key limits,
// weights and specs are the Pool's own (the current config); per-key runtime
// state (counters, in-flight requests, health) is shared by key ID with every
// other Pool on the same storage, so a config reload keeps it.
type Pool struct {
	identity string
	sh       *shared
	loc      *time.Location
	now      func() time.Time

	specs  []KeySpec
	states []*keyState      // parallel to specs
	byID   map[string]int   // key ID -> index in specs
	byUp   map[string][]int // upstream -> indexes in specs, in spec order
	closed atomic.Bool
}

// KeyID derives a key's stable ID from its upstream and secret: the upstream
// name, a dash, and the first 8 hex digits of sha256(upstream NUL secret).
// Hashing with the upstream makes the same secret on two upstreams two keys;
// 32 bits of a hash identify a key without revealing it.
func KeyID(upstream, secret string) string {
	h := sha256.Sum256([]byte(upstream + "\x00" + secret))
	return upstream + "-" + hex.EncodeToString(h[:4])
}

// New builds a Pool over opts.Keys and attaches it to the shared state of
// its storage, opening the store if no other Pool has it open. Every Pool
// from New must be closed with Close.
func New(opts Options) (*Pool, error) {
	p := &Pool{
		loc:   opts.Location,
		now:   opts.Now,
		byID:  make(map[string]int, len(opts.Keys)),
		byUp:  make(map[string][]int),
		specs: make([]KeySpec, len(opts.Keys)),
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
	for i, k := range opts.Keys {
		k, err := validateSpec(k)
		if err != nil {
			return nil, err
		}
		if _, dup := p.byID[k.ID]; dup {
			return nil, fmt.Errorf("key %s is listed twice (the same secret twice on upstream %q?)", k.ID, k.Upstream)
		}
		p.specs[i] = k
		p.byID[k.ID] = i
		p.byUp[k.Upstream] = append(p.byUp[k.Upstream], i)
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
	default:
		return nil, fmt.Errorf("unknown storage %q (want badger or memory)", opts.Storage)
	}

	v, _, err := sharedStates.LoadOrNew(p.identity, func() (caddy.Destructor, error) {
		s, err := newShared(open, logger, p.now())
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

	p.states = make([]*keyState, len(p.specs))
	p.sh.mu.Lock()
	for i := range p.specs {
		p.states[i] = p.sh.state(p.specs[i].ID)
	}
	p.sh.mu.Unlock()
	return p, nil
}

// Close releases the Pool's reference on the shared state; the last Close on
// a storage flushes it and closes the store. Close is nil-safe and
// idempotent. Leases still out stay valid: their Done updates the state in
// memory (and, if another Pool still holds the storage, the store).
func (p *Pool) Close() error {
	if p == nil || p.sh == nil || !p.closed.CompareAndSwap(false, true) {
		return nil
	}
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

// Keys returns a snapshot of every key, in spec order.
func (p *Pool) Keys() []KeyStatus {
	c := p.clock()
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	out := make([]KeyStatus, len(p.specs))
	for i := range p.states {
		out[i] = p.status(i, &c)
	}
	return out
}

// status is the snapshot of the i-th key; the caller holds the lock.
func (p *Pool) status(i int, c *clock) KeyStatus {
	ks := p.states[i]
	ks.sync(c)
	st := KeyStatus{
		Spec:   p.specs[i],
		State:  ks.health,
		Reason: ks.reason,
		Usage: Usage{
			Minute:      ks.minuteRequests,
			Day:         ks.dayRequests,
			Total:       ks.requests,
			TokensDay:   ks.dayTokens,
			TokensTotal: ks.tokens,
			InFlight:    ks.inFlight,
		},
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
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	for i, ks := range p.states {
		if ks.health == StateDisabled && !p.specs[i].Disabled {
			out = append(out, p.specs[i])
		}
	}
	return out
}

// Enable brings a key that health disabled back to active after a successful
// re-probe. It leaves a cooling or exhausted key alone: a probe that works
// says nothing about rate limits or quota. Unknown IDs are ignored.
func (p *Pool) Enable(id string) {
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	i, ok := p.byID[id]
	if !ok {
		return
	}
	if ks := p.states[i]; ks.health == StateDisabled {
		ks.failures, ks.n429 = 0, 0
		ks.setActive()
	}
}

// Reset zeroes a key's counters (rolling minute, day, totals, interval) and
// clears any cooldown, exhaustion or disabling by health. Requests in flight
// stay counted as in flight. Unknown IDs are ignored.
func (p *Pool) Reset(id string) {
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	i, ok := p.byID[id]
	if !ok {
		return
	}
	p.states[i].reset()
}

// Stats returns the usage statistics of instance on this Pool's storage,
// loading them from the store on first use. They are flushed with the key
// states (once a second, and by the last Close), in the Pool's Location.
func (p *Pool) Stats(instance string) (*stats.Usage, error) {
	return p.sh.usage.Usage(instance, p.loc)
}
