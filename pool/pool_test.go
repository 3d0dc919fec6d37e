package pool

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata" // the day-boundary test needs zones on any machine

	"github.com/alicebob/miniredis/v2"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
	// onSet hears each change (a miniredis server that follows the clock).
	onSet func(time.Time)
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	t, on := f.t, f.onSet
	f.mu.Unlock()
	if on != nil {
		on(t)
	}
}

var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// key makes a KeySpec on upstream up.
func key(up, secret string, l limits.Set) KeySpec {
	if l.Weight == 0 {
		l.Weight = 1
	}
	return KeySpec{ID: KeyID(up, secret), Upstream: up, Secret: secret, Limits: l, Source: "config"}
}

// newMemPool builds a memory-backed pool on a fake clock; the instance name
// is the test's, so tests do not share state.
func newMemPool(t *testing.T, clk *fakeClock, keys ...KeySpec) *Pool {
	t.Helper()
	return newMemPoolIn(t, clk, nil, keys...)
}

// newMemPoolIn is newMemPool whose days end in loc.
func newMemPoolIn(t *testing.T, clk *fakeClock, loc *time.Location, keys ...KeySpec) *Pool {
	t.Helper()
	opts := Options{Instance: t.Name(), Storage: "memory", Location: loc, Keys: keys}
	if onRedis {
		// The same test on Redis storage (see TestOnRedis): a miniredis
		// server of its own, whose clock follows the test's.
		m := miniredis.RunT(t)
		opts.Storage, opts.Redis = "redis", RedisOptions{URL: "redis://" + m.Addr(), Prefix: "t:"}
		if clk != nil {
			m.SetTime(clk.Now())
			clk.onSet = m.SetTime
		}
	}
	if clk != nil {
		opts.Now = clk.Now
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

var oai = []Target{{Upstream: "oai"}}

// mustAcquire acquires or fails the test.
func mustAcquire(t *testing.T, p *Pool, targets []Target, est int64, tried map[string]bool) *Lease {
	t.Helper()
	l, err := p.Acquire(targets, est, tried)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return l
}

// mustUnavailable expects Acquire to refuse and returns the reason.
func mustUnavailable(t *testing.T, p *Pool, targets []Target, est int64, tried map[string]bool) *Unavailable {
	t.Helper()
	l, err := p.Acquire(targets, est, tried)
	if err == nil {
		t.Fatalf("Acquire admitted %s, want Unavailable", l.Key.ID)
	}
	var u *Unavailable
	if !errors.As(err, &u) {
		t.Fatalf("Acquire error %T %v, want *Unavailable", err, err)
	}
	return u
}

// burst has n goroutines call Acquire at once and returns the leases
// admitted.
func burst(p *Pool, n int, targets []Target, est int64) []*Lease {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		leases []*Lease
		start  = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if l, err := p.Acquire(targets, est, nil); err == nil {
				mu.Lock()
				leases = append(leases, l)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	return leases
}

func status(t *testing.T, p *Pool, id string) KeyStatus {
	t.Helper()
	for _, k := range p.Keys() {
		if k.Spec.ID == id {
			return k
		}
	}
	t.Fatalf("no key %s", id)
	return KeyStatus{}
}

func TestKeyID(t *testing.T) {
	a := KeyID("oai", "sk-secret")
	if a != KeyID("oai", "sk-secret") {
		t.Fatal("KeyID is not stable")
	}
	if !regexp.MustCompile(`^oai-[0-9a-f]{16}$`).MatchString(a) {
		t.Fatalf("KeyID = %q, want oai-<16 hex>", a)
	}
	if b := KeyID("ant", "sk-secret"); b[len(b)-16:] == a[len(a)-16:] {
		t.Fatalf("same secret on two upstreams got the same hash: %s %s", a, b)
	}
	if KeyID("oai", "sk-other") == a {
		t.Fatal("two secrets share an ID")
	}
	// The IDs of versions before were the first 8 hex digits of these.
	if legacyID(a) != "oai-623e1eec" || !isLegacyID(legacyID(a)) || isLegacyID(a) || legacyID("oai-623e1eec") != "" {
		t.Fatalf("legacy ID of %s: %q", a, legacyID(a))
	}
}

// shortIDs makes IDs one byte long for the test, so that they collide.
func shortIDs(t *testing.T) {
	old := idBytes
	idBytes = 1
	t.Cleanup(func() { idBytes = old })
}

// Two secrets whose IDs collide are two keys: neither is refused, neither
// takes the other's ID, and each keeps its ID across a restart. The same
// secret twice is still one key.
func TestIDCollisions(t *testing.T) {
	shortIDs(t)
	dir := t.TempDir()
	var keys []KeySpec
	for i := range 40 { // 40 secrets over 256 IDs: collisions are certain
		keys = append(keys, key("oai", fmt.Sprintf("sk-%d", i), limits.Set{}))
	}
	p := newBadgerPool(t, dir, newFakeClock(t0), keys...)
	ids := map[string]string{}
	for _, k := range p.Keys() {
		if other, dup := ids[k.Spec.ID]; dup {
			t.Fatalf("%s and %s share id %s", other, k.Spec.Secret, k.Spec.ID)
		}
		ids[k.Spec.ID] = k.Spec.Secret
	}
	if len(ids) != 40 {
		t.Fatalf("%d keys served, want 40", len(ids))
	}
	bumped := 0
	for id, secret := range ids {
		if id != KeyID("oai", secret) {
			bumped++
		}
	}
	if bumped == 0 {
		t.Fatal("no collision happened; the test proves nothing")
	}
	// Runtime keys: IDFor says which ID AddKeys gives, and the same
	// secret is a duplicate whatever its ID.
	var more []KeySpec
	batch := map[string]*KeySpec{}
	for i := range 40 {
		secret := fmt.Sprintf("sk-added-%d", i)
		id, exists := p.IDFor("oai", secret, "", batch)
		if exists {
			t.Fatalf("%s exists", secret)
		}
		k := KeySpec{ID: id, Upstream: "oai", Secret: secret}
		batch[id] = &k
		more = append(more, k)
	}
	if err := p.AddKeys(more); err != nil {
		t.Fatal(err)
	}
	for _, k := range more {
		if s, ok := p.Spec(k.ID); !ok || s.Secret != k.Secret {
			t.Fatalf("%s: %+v %v", k.ID, s, ok)
		}
	}
	if id, exists := p.IDFor("oai", "sk-7", "", nil); !exists || ids[id] != "sk-7" {
		t.Fatalf("IDFor of a served secret: %s %v", id, exists)
	}
	err := p.AddKeys([]KeySpec{{Upstream: "oai", Secret: "sk-added-3"}})
	if _, ok := errors.AsType[*DuplicateKeyError](err); !ok {
		t.Fatalf("the same secret again: %v", err)
	}
	if _, err := New(Options{Instance: t.Name(), Storage: "memory", Keys: []KeySpec{keys[0], keys[0]}}); err == nil ||
		!strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("a secret listed twice: %v", err)
	}
	p.Close()

	// A key keeps an ID that it got by a collision, also once the key it
	// collided with is gone.
	var first, second string
	for id, secret := range ids {
		if id != KeyID("oai", secret) {
			second, first = secret, ids[KeyID("oai", secret)]
			break
		}
	}
	q := newMemPool(t, nil)
	if id, exists := q.IDFor("oai", second, keyID("oai", second, 1), nil); exists || id != keyID("oai", second, 1) {
		t.Fatalf("preferred id not kept: %s", id)
	}
	if err := q.AddKeys([]KeySpec{key("oai", first, limits.Set{})}); err != nil {
		t.Fatal(err)
	}
	if id, _ := q.IDFor("oai", second, KeyID("oai", first), nil); id == KeyID("oai", first) {
		t.Fatal("a preferred id another secret holds was given out")
	}

	// The same configuration again: the same IDs.
	p = newBadgerPool(t, dir, newFakeClock(t0), keys...)
	defer p.Close()
	for _, k := range p.Keys() {
		if ids[k.Spec.ID] != k.Spec.Secret {
			t.Fatalf("after a restart %s is %s's id, was %s's", k.Spec.ID, k.Spec.Secret, ids[k.Spec.ID])
		}
	}
}

func TestWeights(t *testing.T) {
	p := newMemPool(t, nil,
		KeySpec{Upstream: "oai", Secret: "a", Limits: limits.Set{Weight: 1}},
		KeySpec{Upstream: "oai", Secret: "b", Limits: limits.Set{Weight: 2}},
		KeySpec{Upstream: "oai", Secret: "c", Limits: limits.Set{Weight: 7}},
	)
	n, tolerance := 20000, 1.5
	if onRedis {
		n, tolerance = 4000, 3.5 // a miniredis round trip is slow
	}
	counts := map[string]int{}
	for range n {
		l := mustAcquire(t, p, oai, 0, nil)
		counts[l.Key.Secret]++
		l.Done(Outcome{Status: 200})
	}
	for secret, want := range map[string]float64{"a": 10, "b": 20, "c": 70} {
		got := 100 * float64(counts[secret]) / float64(n)
		if math.Abs(got-want) > tolerance {
			t.Errorf("key %s got %.2f%% of requests, want %.0f±%.1f%%", secret, got, want, tolerance)
		}
	}
}

func TestRPM(t *testing.T) {
	clk := newFakeClock(t0)
	p := newMemPool(t, clk, key("oai", "a", limits.Set{RPM: 20}))

	if got := len(burst(p, 200, oai, 0)); got != 20 {
		t.Fatalf("admitted %d of 200 concurrent requests, want exactly 20", got)
	}
	u := mustUnavailable(t, p, oai, 0, nil)
	if u.AllDisabled || u.RetryAfter <= 0 || u.RetryAfter > time.Minute {
		t.Fatalf("Unavailable = %+v, want RetryAfter in (0, 60s]", u)
	}

	// The window rolls: 20 starts at t0 leave at t0+60s, not at a bucket
	// boundary. Spread the next starts to see each leave on its own.
	clk.Add(59 * time.Second)
	if u := mustUnavailable(t, p, oai, 0, nil); u.RetryAfter != time.Second {
		t.Fatalf("1 s before the window frees: RetryAfter = %v, want 1s", u.RetryAfter)
	}
	clk.Add(time.Second)
	for i := range 10 {
		mustAcquire(t, p, oai, 0, nil)
		if i < 9 {
			clk.Add(time.Second)
		}
	}
	// Now at t0+69s: 10 starts between t0+60s and t0+69s, so 10 more fit.
	if got := len(burst(p, 50, oai, 0)); got != 10 {
		t.Fatalf("admitted %d, want 10", got)
	}
	// The oldest in the window started at t0+60s: free at t0+120s.
	if u := mustUnavailable(t, p, oai, 0, nil); u.RetryAfter != 51*time.Second {
		t.Fatalf("RetryAfter = %v, want 51s", u.RetryAfter)
	}
	clk.Add(51 * time.Second) // t0+120s: the start at t0+60s has left
	mustAcquire(t, p, oai, 0, nil)
	mustUnavailable(t, p, oai, 0, nil)
	if got := status(t, p, KeyID("oai", "a")).Usage.Minute; got != 20 {
		t.Fatalf("Usage.Minute = %d, want 20", got)
	}
}

func TestRPD(t *testing.T) {
	clk := newFakeClock(t0) // noon UTC
	p := newMemPool(t, clk, key("oai", "a", limits.Set{RPD: 50}))
	if got := len(burst(p, 200, oai, 0)); got != 50 {
		t.Fatalf("admitted %d, want exactly 50", got)
	}
	if u := mustUnavailable(t, p, oai, 0, nil); u.RetryAfter != 12*time.Hour {
		t.Fatalf("RetryAfter = %v, want 12h (until midnight)", u.RetryAfter)
	}
	clk.Add(12*time.Hour - time.Nanosecond)
	mustUnavailable(t, p, oai, 0, nil)
	clk.Add(time.Nanosecond)
	mustAcquire(t, p, oai, 0, nil)
	if st := status(t, p, KeyID("oai", "a")); st.Usage.Day != 1 || st.Usage.Total != 51 {
		t.Fatalf("usage after midnight = %+v, want day 1, total 51", st.Usage)
	}
}

func TestTPM(t *testing.T) {
	clk := newFakeClock(t0)
	p := newMemPool(t, clk, key("oai", "a", limits.Set{TPM: 100}))

	leases := burst(p, 50, oai, 30)
	if len(leases) != 3 {
		t.Fatalf("admitted %d requests of 30 tokens under TPM 100, want 3", len(leases))
	}
	mustUnavailable(t, p, oai, 30, nil)
	mustAcquire(t, p, oai, 10, nil).Done(Outcome{Status: 200, InputTokens: 10}) // 90+10 fits

	// Settling below the estimate frees room: 30 → 5 leaves 75.
	leases[0].Done(Outcome{Status: 200, InputTokens: 3, OutputTokens: 2})
	if got := status(t, p, KeyID("oai", "a")).Usage.TokensDay; got != 75 {
		t.Fatalf("TokensDay = %d, want 75", got)
	}
	mustAcquire(t, p, oai, 25, nil)
	mustUnavailable(t, p, oai, 1, nil)

	// Settling above the estimate takes room: 30 → 60 puts the window at 130.
	leases[1].Done(Outcome{Status: 200, InputTokens: 50, OutputTokens: 10})
	clk.Add(30 * time.Second)
	u := mustUnavailable(t, p, oai, 1, nil)
	if u.RetryAfter != 30*time.Second {
		t.Fatalf("RetryAfter = %v, want 30s (everything started at t0)", u.RetryAfter)
	}

	// A request bigger than TPM is admitted when the window is empty,
	// and only then.
	clk.Add(30 * time.Second)
	big := mustAcquire(t, p, oai, 500, nil)
	mustUnavailable(t, p, oai, 1, nil)
	big.Done(Outcome{Status: 200, InputTokens: 400})
	clk.Add(time.Minute)
	mustAcquire(t, p, oai, 500, nil)
}

func TestTPD(t *testing.T) {
	clk := newFakeClock(t0)
	p := newMemPool(t, clk, key("oai", "a", limits.Set{TPD: 1000}))
	leases := burst(p, 50, oai, 300)
	if len(leases) != 3 {
		t.Fatalf("admitted %d requests of 300 tokens under TPD 1000, want 3", len(leases))
	}
	clk.Add(time.Hour) // far past the minute: only the day limit applies
	if u := mustUnavailable(t, p, oai, 300, nil); u.RetryAfter != 11*time.Hour {
		t.Fatalf("RetryAfter = %v, want 11h", u.RetryAfter)
	}
	leases[0].Done(Outcome{Status: 200, OutputTokens: 100}) // day at 700
	mustAcquire(t, p, oai, 300, nil)
	mustUnavailable(t, p, oai, 1, nil)
	clk.Add(11 * time.Hour)
	mustAcquire(t, p, oai, 5000, nil) // a new day at 0 admits even an oversized request
	mustUnavailable(t, p, oai, 1, nil)
}

func TestInterval(t *testing.T) {
	clk := newFakeClock(t0)
	p := newMemPool(t, clk, key("oai", "a", limits.Set{Interval: caddy.Duration(10 * time.Second)}))
	if got := len(burst(p, 50, oai, 0)); got != 1 {
		t.Fatalf("admitted %d at one instant, want 1", got)
	}
	if u := mustUnavailable(t, p, oai, 0, nil); u.RetryAfter != 10*time.Second {
		t.Fatalf("RetryAfter = %v, want 10s", u.RetryAfter)
	}
	clk.Add(9500 * time.Millisecond)
	if u := mustUnavailable(t, p, oai, 0, nil); u.RetryAfter != time.Second {
		t.Fatalf("RetryAfter = %v, want 1s (0.5 s rounded up)", u.RetryAfter)
	}
	clk.Add(500 * time.Millisecond)
	mustAcquire(t, p, oai, 0, nil)
}

func TestConcurrency(t *testing.T) {
	p := newMemPool(t, nil, key("oai", "a", limits.Set{Concurrency: 3}))
	leases := burst(p, 100, oai, 0)
	if len(leases) != 3 {
		t.Fatalf("admitted %d, want 3", len(leases))
	}
	if u := mustUnavailable(t, p, oai, 0, nil); u.RetryAfter != time.Second {
		t.Fatalf("RetryAfter = %v, want 1s", u.RetryAfter)
	}
	leases[0].Done(Outcome{Status: 200})
	leases[0].Done(Outcome{Status: 200}) // a second Done must not free a second slot
	if got := len(burst(p, 100, oai, 0)); got != 1 {
		t.Fatalf("after one Done admitted %d, want 1", got)
	}
	if got := status(t, p, KeyID("oai", "a")).Usage.InFlight; got != 3 {
		t.Fatalf("InFlight = %d, want 3", got)
	}
}

// TestAllLimitsConcurrent hammers two keys with mixed limits from many
// goroutines that also finish their requests, and checks nothing is
// over-admitted (run with -race).
func TestAllLimitsConcurrent(t *testing.T) {
	p := newMemPool(t, nil,
		key("oai", "a", limits.Set{RPM: 40, Concurrency: 4}),
		key("oai", "b", limits.Set{RPM: 25, TPM: 1000}),
	)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if l, err := p.Acquire(oai, 10, nil); err == nil {
					admitted.Add(1)
					l.Done(Outcome{Status: 200, InputTokens: 7})
				}
			}
		}()
	}
	wg.Wait()
	if got := admitted.Load(); got != 65 {
		t.Fatalf("admitted %d, want 65 (40 + 25 within the minute)", got)
	}
}

func TestDayBoundaryInLocation(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo") // UTC+9, no DST
	if err != nil {
		t.Fatal(err)
	}
	// 23:59:30 in Tokyo is 14:59:30 UTC.
	clk := newFakeClock(time.Date(2026, 3, 10, 23, 59, 30, 0, tokyo))
	// newMemPoolIn, so that TestOnRedis runs this on Redis storage too.
	p := newMemPoolIn(t, clk, tokyo, key("oai", "a", limits.Set{RPD: 2}))
	mustAcquire(t, p, oai, 0, nil)
	mustAcquire(t, p, oai, 0, nil)
	if u := mustUnavailable(t, p, oai, 0, nil); u.RetryAfter != 30*time.Second {
		t.Fatalf("RetryAfter = %v, want 30s (Tokyo midnight)", u.RetryAfter)
	}
	clk.Add(30 * time.Second) // Tokyo midnight, 15:00 UTC
	mustAcquire(t, p, oai, 0, nil)
	mustAcquire(t, p, oai, 0, nil)
	mustUnavailable(t, p, oai, 0, nil)
	// UTC midnight (09:00 in Tokyo) is not a day boundary here.
	clk.Add(9 * time.Hour)
	if u := mustUnavailable(t, p, oai, 0, nil); u.RetryAfter != 15*time.Hour {
		t.Fatalf("at UTC midnight RetryAfter = %v, want 15h", u.RetryAfter)
	}
	if st := status(t, p, KeyID("oai", "a")); st.Usage.Day != 2 || st.Usage.Total != 4 {
		t.Fatalf("usage = %+v, want day 2, total 4", st.Usage)
	}
}

func TestTiers(t *testing.T) {
	clk := newFakeClock(t0)
	a := key("primary", "a", limits.Set{RPM: 5})
	b := key("fallback", "b", limits.Set{})
	p := newMemPool(t, clk, b, a)
	targets := []Target{{Upstream: "fallback", Priority: 1}, {Upstream: "primary", Priority: 0}}

	for range 5 {
		if l := mustAcquire(t, p, targets, 0, nil); l.Key.ID != a.ID {
			t.Fatalf("got %s while the priority 0 key is free", l.Key.ID)
		}
	}
	l := mustAcquire(t, p, targets, 0, nil)
	if l.Key.ID != b.ID || l.Upstream != "fallback" {
		t.Fatalf("got %s/%s, want the fallback once priority 0 is at its limit", l.Upstream, l.Key.ID)
	}
	clk.Add(time.Minute)
	if l := mustAcquire(t, p, targets, 0, nil); l.Key.ID != a.ID {
		t.Fatalf("got %s, want priority 0 back once it frees up", l.Key.ID)
	}
	// tried excludes a key even when it is free.
	if l := mustAcquire(t, p, targets, 0, map[string]bool{a.ID: true}); l.Key.ID != b.ID {
		t.Fatalf("got %s, want %s with %s tried", l.Key.ID, b.ID, a.ID)
	}
	// Both tried: unavailable, and RetryAfter still says something.
	u := mustUnavailable(t, p, targets, 0, map[string]bool{a.ID: true, b.ID: true})
	if u.AllDisabled || u.RetryAfter != time.Second {
		t.Fatalf("all tried: %+v, want RetryAfter 1s", u)
	}
	// An upstream not in targets is never used.
	if l := mustAcquire(t, p, []Target{{Upstream: "fallback"}}, 0, nil); l.Key.ID != b.ID {
		t.Fatalf("got %s", l.Key.ID)
	}
}

func TestTriedWithinTier(t *testing.T) {
	p := newMemPool(t, nil, key("oai", "a", limits.Set{}), key("oai", "b", limits.Set{}))
	tried := map[string]bool{}
	for range 2 {
		l := mustAcquire(t, p, oai, 0, tried)
		if tried[l.Key.ID] {
			t.Fatalf("got tried key %s", l.Key.ID)
		}
		tried[l.Key.ID] = true
	}
	mustUnavailable(t, p, oai, 0, tried)
}

func TestNoKeys(t *testing.T) {
	p := newMemPool(t, nil, key("oai", "a", limits.Set{}))
	if u := mustUnavailable(t, p, []Target{{Upstream: "nope"}}, 0, nil); !u.AllDisabled {
		t.Fatalf("%+v, want AllDisabled for targets without keys", u)
	}
	if u := mustUnavailable(t, p, nil, 0, nil); !u.AllDisabled {
		t.Fatalf("%+v, want AllDisabled for no targets", u)
	}
}

func TestConfigDisabled(t *testing.T) {
	off := key("oai", "off", limits.Set{})
	off.Disabled = true
	p := newMemPool(t, nil, off)
	if u := mustUnavailable(t, p, oai, 0, nil); !u.AllDisabled {
		t.Fatalf("%+v, want AllDisabled", u)
	}
	if d := p.Disabled(); len(d) != 0 {
		t.Fatalf("Disabled() = %v, want no config-disabled keys", d)
	}
	if st := status(t, p, off.ID); st.State != StateDisabled || st.Reason == "" {
		t.Fatalf("status = %+v, want disabled with a reason", st)
	}
}

func TestNewValidates(t *testing.T) {
	for name, opts := range map[string]Options{
		"duplicate":       {Storage: "memory", Keys: []KeySpec{key("oai", "a", limits.Set{}), key("oai", "a", limits.Set{})}},
		"negative limit":  {Storage: "memory", Keys: []KeySpec{key("oai", "a", limits.Set{RPM: -1})}},
		"negative weight": {Storage: "memory", Keys: []KeySpec{{Upstream: "oai", Secret: "a", Limits: limits.Set{Weight: -1}}}},
		"no upstream":     {Storage: "memory", Keys: []KeySpec{{Secret: "a"}}},
		"unknown storage": {Storage: "redis"},
		"badger no dir":   {Storage: "badger"},
	} {
		t.Run(name, func(t *testing.T) {
			opts.Instance = t.Name()
			if p, err := New(opts); err == nil {
				p.Close()
				t.Fatal("New succeeded")
			}
			if _, ok := sharedStates.References("memory:" + t.Name()); ok {
				t.Fatal("a failed New kept a reference")
			}
		})
	}
	// Defaults: an empty ID is derived, weight 0 is 1.
	p := newMemPool(t, nil, KeySpec{Upstream: "oai", Secret: "s"})
	if k := p.Keys()[0].Spec; k.ID != KeyID("oai", "s") || k.Limits.Weight != 1 {
		t.Fatalf("defaults not applied: %+v", k)
	}
}

func TestCloseNilAndTwice(t *testing.T) {
	var nilPool *Pool
	if err := nilPool.Close(); err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Instance: t.Name(), Storage: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil { // must not panic on a second Delete
		t.Fatal(err)
	}
	var nilLease *Lease
	nilLease.Done(Outcome{}) // nil-safe
}

// TestAcquireAllocs keeps the hot path allocation-light: the Lease itself,
// plus the rare growth of the rolling-minute queue.
func TestAcquireAllocs(t *testing.T) {
	p := newMemPool(t, nil,
		key("oai", "a", limits.Set{RPM: 1 << 40, TPM: 1 << 40}),
		key("oai", "b", limits.Set{RPM: 1 << 40}),
		key("ant", "c", limits.Set{}),
	)
	targets := []Target{{Upstream: "oai"}, {Upstream: "ant", Priority: 1}}
	tried := map[string]bool{"x": true}
	allocs := testing.AllocsPerRun(2000, func() {
		l, err := p.Acquire(targets, 10, tried)
		if err != nil {
			t.Fatal(err)
		}
		l.Done(Outcome{Status: 200, InputTokens: 5})
	})
	if allocs > 1.1 {
		t.Fatalf("Acquire+Done allocates %.2f times per call, want about 1 (the Lease)", allocs)
	}
}

func BenchmarkAcquireDone(b *testing.B) {
	p, err := New(Options{Instance: b.Name(), Storage: "memory", Keys: []KeySpec{
		key("oai", "a", limits.Set{RPM: 1 << 40, TPM: 1 << 40, Concurrency: 1 << 20}),
		key("oai", "b", limits.Set{RPD: 1 << 40}),
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l, err := p.Acquire(oai, 10, nil)
			if err != nil {
				b.Fatal(err)
			}
			l.Done(Outcome{Status: 200, InputTokens: 5})
		}
	})
}

// A busy key's rolling minute stays small (starts share 100 ms bins) while
// its counts stay exact, and an RPM limit on binned starts is never loosened:
// a bin leaves the window a minute after its latest start.
func TestRollingMinuteIsBinnedButExact(t *testing.T) {
	clk := newFakeClock(t0)
	k := key("oai", "sk-busy", limits.Set{RPM: 9000, TPM: 1 << 40})
	p := newMemPool(t, clk, k)
	for range 9000 {
		l := mustAcquire(t, p, oai, 10, nil)
		l.Done(Outcome{Status: 200, InputTokens: 3, OutputTokens: 4})
		clk.Add(6 * time.Millisecond) // 9000 starts over 54 s
	}
	ks := p.slots[0].ks
	if n := ks.inWindow(); n > int(minute/binWidth)+1 {
		t.Errorf("rolling minute holds %d events for 9000 starts; want at most %d", n, minute/binWidth+1)
	}
	if st := status(t, p, k.ID); st.Usage.Minute != 9000 || ks.minuteTokens != 9000*7 {
		t.Errorf("minute: %d requests, %d tokens; want 9000 and %d", st.Usage.Minute, ks.minuteTokens, 9000*7)
	}
	// At the limit now. The oldest bin's latest start was at t0+96ms (starts
	// 0..16 share it), so a slot frees a minute after that, not after t0.
	u := mustUnavailable(t, p, oai, 10, nil)
	if u.RetryAfter != 7*time.Second {
		t.Errorf("RetryAfter = %s, want 7s (60 s after t0+96ms, from t0+54s, rounded up)", u.RetryAfter)
	}
	clk.Set(t0.Add(time.Minute + 95*time.Millisecond))
	mustUnavailable(t, p, oai, 10, nil)
	clk.Set(t0.Add(time.Minute + 96*time.Millisecond))
	mustAcquire(t, p, oai, 10, nil)
}

func (f *fakeClock) Set(t time.Time) {
	f.mu.Lock()
	f.t = t
	on := f.onSet
	f.mu.Unlock()
	if on != nil {
		on(t)
	}
}
