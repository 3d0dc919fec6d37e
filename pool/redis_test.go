package pool

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

// newRedisPool builds a Pool on Redis storage at addr, on the fake clock
// (which the miniredis server, if any, follows).
func newRedisPool(t *testing.T, addr, prefix string, clk *fakeClock, keys ...KeySpec) *Pool {
	t.Helper()
	opts := Options{Instance: "test", Storage: "redis", Redis: RedisOptions{URL: "redis://" + addr, Prefix: prefix}, Keys: keys}
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

// miniClock is a fake clock that a miniredis server follows.
type miniClock struct {
	*fakeClock
	m *miniredis.Miniredis
}

func (c miniClock) Add(d time.Duration) {
	c.fakeClock.Add(d)
	c.m.SetTime(c.Now())
}

func newMini(t *testing.T) (*miniredis.Miniredis, miniClock) {
	m := miniredis.RunT(t)
	clk := miniClock{newFakeClock(t0), m}
	m.SetTime(t0)
	return m, clk
}

func TestRedisRPM(t *testing.T) {
	m, clk := newMini(t)
	k := key("oai", "a", limits.Set{RPM: 3})
	p := newRedisPool(t, m.Addr(), "t:", clk.fakeClock, k)
	for range 3 {
		mustAcquire(t, p, oai, 0, nil).Done(Outcome{Status: 200})
	}
	u := mustUnavailable(t, p, oai, 0, nil)
	if u.RetryAfter != time.Minute {
		t.Fatalf("RetryAfter %v", u.RetryAfter)
	}
	clk.Add(time.Minute)
	mustAcquire(t, p, oai, 0, nil)
}

// onRedis makes newMemPool build Pools on Redis storage (a miniredis
// server): see TestOnRedis.
var onRedis bool

// TestOnRedis runs the tests of the pool's rules again on Redis storage,
// where the scripts in Redis apply them: the same limits, the same health,
// the same answers.
func TestOnRedis(t *testing.T) {
	onRedis = true
	defer func() { onRedis = false }()
	for name, f := range map[string]func(*testing.T){
		"Weights": TestWeights, "RPM": TestRPM, "RPD": TestRPD, "TPM": TestTPM, "TPD": TestTPD,
		"Interval": TestInterval, "Concurrency": TestConcurrency, "AllLimitsConcurrent": TestAllLimitsConcurrent,
		"DayBoundaryInLocation": TestDayBoundaryInLocation, "Tiers": TestTiers, "TriedWithinTier": TestTriedWithinTier,
		"NoKeys": TestNoKeys, "ConfigDisabled": TestConfigDisabled,
		"Health429RetryAfter": TestHealth429RetryAfter, "Health429Backoff": TestHealth429Backoff,
		"Health401": TestHealth401, "HealthDisabledWithOthersWaiting": TestHealthDisabledWithOthersWaiting,
		"HealthQuota": TestHealthQuota, "HealthFailures": TestHealthFailures, "HealthCanceled": TestHealthCanceled,
		"Reset": TestReset, "AddKeysServesAndValidates": TestAddKeysServesAndValidates,
		"UpdateAndRemoveKey": TestUpdateAndRemoveKey, "RuntimeChangesUnderLoad": TestRuntimeChangesUnderLoad,
		"Report": TestReport, "ClientLimits": TestClientLimits, "ClientConcurrencyAcrossAttempts": TestClientConcurrencyAcrossAttempts, "ResetClient": TestResetClient, "ClientInConversation": TestClientInConversation,
		"AffinityStays": TestAffinityStays, "AffinityNeverBypassesALimit": TestAffinityNeverBypassesALimit,
		"AffinityOtherBlockers": TestAffinityOtherBlockers, "AffinityConcurrent": TestAffinityConcurrent,
	} {
		t.Run(name, f)
	}
}

// A request in flight holds its concurrency slot through a lease: another
// instance cannot take the slot, until the lease expires because the
// instance holding it stopped renewing it (it crashed); renewed, it holds.
func TestRedisLeaseExpiry(t *testing.T) {
	m, clk := newMini(t)
	k := key("oai", "a", limits.Set{Concurrency: 1})
	a := newRedisPool(t, m.Addr(), "t:", clk.fakeClock, k)
	b, err := New(Options{Instance: "other", Storage: "redis", Now: clk.Now,
		Redis: RedisOptions{URL: "redis://" + m.Addr(), Prefix: "t:"}, Keys: []KeySpec{k}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	held := mustAcquire(t, a, oai, 0, nil)
	mustUnavailable(t, b, oai, 0, nil)
	clk.Add(leaseTTL - time.Second)
	a.sh.remote.renew() // a is alive
	clk.Add(leaseTTL - time.Second)
	if u := mustUnavailable(t, b, oai, 0, nil); u.RetryAfter != time.Second {
		t.Fatalf("a renewed lease: %+v", u)
	}
	// a stops renewing (as a crashed instance would): the slot frees
	// itself when the lease expires.
	clk.Add(2 * time.Second)
	l := mustAcquire(t, b, oai, 0, nil)
	// The late end of the expired lease frees nothing that is not its own.
	held.Done(Outcome{Status: 200})
	mustUnavailable(t, b, oai, 0, nil)
	l.Done(Outcome{Status: 200})
	mustAcquire(t, b, oai, 0, nil)
}

// Two instances on one Redis share conversations: a conversation stays on
// its key whichever instance serves it, and moves for both.
func TestRedisAffinityShared(t *testing.T) {
	m, clk := newMini(t)
	keys := fiveKeys(limits.Set{RPM: 2})
	a := newRedisPool(t, m.Addr(), "t:", clk.fakeClock, keys...)
	b, err := New(Options{Instance: "other", Storage: "redis", Now: clk.Now,
		Redis: RedisOptions{URL: "redis://" + m.Addr(), Prefix: "t:"}, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	l := acquireFor(t, a, oai, 0, nil, "c")
	l.Done(Outcome{Status: 200})
	home := l.Key.ID
	if l := acquireFor(t, b, oai, 0, nil, "c"); l.Key.ID != home {
		t.Fatalf("the other instance took %s, want %s", l.Key.ID, home)
	} else {
		l.Done(Outcome{Status: 200})
	}
	// At rpm 2 now: it moves, and the first instance follows.
	l = acquireFor(t, b, oai, 0, nil, "c")
	if l.Key.ID == home {
		t.Fatalf("key %s admitted a 3rd request under rpm 2", home)
	}
	l.Done(Outcome{Status: 200})
	if l2 := acquireFor(t, a, oai, 0, nil, "c"); l2.Key.ID != l.Key.ID {
		t.Fatalf("the first instance took %s, want the moved-to %s", l2.Key.ID, l.Key.ID)
	}
	if ttl := m.TTL("t:c:c"); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("conversation entry TTL %v, want up to 1h", ttl)
	}
}
