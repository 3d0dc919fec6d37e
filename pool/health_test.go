package pool

import (
	"testing"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

// fail acquires on the only key of oai and reports o.
func fail(t *testing.T, p *Pool, o Outcome) {
	t.Helper()
	mustAcquire(t, p, oai, 0, nil).Done(o)
}

func TestHealth429RetryAfter(t *testing.T) {
	clk := newFakeClock(t0)
	k := key("oai", "a", limits.Set{})
	p := newMemPool(t, clk, k)

	fail(t, p, Outcome{Status: 429, RetryAfter: 30 * time.Second})
	st := status(t, p, k.ID)
	if st.State != StateCooling || st.Reason != "429 from upstream" || !st.Until.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("after 429: %+v", st)
	}
	if u := mustUnavailable(t, p, oai, 0, nil); u.AllDisabled || u.RetryAfter != 30*time.Second {
		t.Fatalf("while cooling: %+v, want RetryAfter 30s", u)
	}
	clk.Add(30 * time.Second)
	l := mustAcquire(t, p, oai, 0, nil)
	if st := status(t, p, k.ID); st.State != StateActive || st.Reason != "" || !st.Until.IsZero() {
		t.Fatalf("after the cooldown: %+v, want active", st)
	}

	// Retry-After is capped at an hour.
	l.Done(Outcome{Status: 429, RetryAfter: 5 * time.Hour})
	if st := status(t, p, k.ID); !st.Until.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("until = %v, want now+1h", st.Until)
	}
}

func TestHealth429Backoff(t *testing.T) {
	clk := newFakeClock(t0)
	k := key("oai", "a", limits.Set{})
	p := newMemPool(t, clk, k)
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second,
		80 * time.Second, 160 * time.Second, 320 * time.Second, 10 * time.Minute, 10 * time.Minute}
	for i, d := range want {
		fail(t, p, Outcome{Status: 429})
		if u := mustUnavailable(t, p, oai, 0, nil); u.RetryAfter != d {
			t.Fatalf("429 #%d: RetryAfter %v, want %v", i+1, u.RetryAfter, d)
		}
		clk.Add(d)
	}
	// A success ends the streak.
	fail(t, p, Outcome{Status: 200})
	fail(t, p, Outcome{Status: 429})
	if u := mustUnavailable(t, p, oai, 0, nil); u.RetryAfter != 5*time.Second {
		t.Fatalf("after a success: RetryAfter %v, want 5s", u.RetryAfter)
	}
}

func TestHealth401(t *testing.T) {
	k := key("oai", "a", limits.Set{})
	p := newMemPool(t, nil, k)
	fail(t, p, Outcome{Status: 401, Reason: "invalid api key"})
	st := status(t, p, k.ID)
	if st.State != StateDisabled || st.Reason != "invalid api key" {
		t.Fatalf("after 401: %+v", st)
	}
	if d := p.Disabled(); len(d) != 1 || d[0].ID != k.ID {
		t.Fatalf("Disabled() = %v, want [%s]", d, k.ID)
	}
	if u := mustUnavailable(t, p, oai, 0, nil); !u.AllDisabled {
		t.Fatalf("%+v, want AllDisabled", u)
	}
	p.Enable(k.ID)
	if st := status(t, p, k.ID); st.State != StateActive || st.Reason != "" {
		t.Fatalf("after Enable: %+v", st)
	}
	if len(p.Disabled()) != 0 {
		t.Fatal("Disabled() still lists the key")
	}

	fail(t, p, Outcome{Status: 403})
	if st := status(t, p, k.ID); st.State != StateDisabled || st.Reason != "403 from upstream" {
		t.Fatalf("after 403: %+v", st)
	}
	// A late success does not lift it; only Enable or Reset does.
	p.Reset(k.ID)
	l := mustAcquire(t, p, oai, 0, nil)
	fail(t, p, Outcome{Status: 401})
	l.Done(Outcome{Status: 200})
	if st := status(t, p, k.ID); st.State != StateDisabled || st.Reason != "401 from upstream" {
		t.Fatalf("late success changed a disabled key: %+v", st)
	}
}

func TestHealthDisabledWithOthersWaiting(t *testing.T) {
	clk := newFakeClock(t0)
	a, b := key("oai", "a", limits.Set{}), key("oai", "b", limits.Set{RPM: 1})
	p := newMemPool(t, clk, a, b)
	mustAcquire(t, p, oai, 0, map[string]bool{b.ID: true}).Done(Outcome{Status: 401})
	mustAcquire(t, p, oai, 0, map[string]bool{a.ID: true}).Done(Outcome{Status: 200})
	u := mustUnavailable(t, p, oai, 0, nil)
	if u.AllDisabled || u.RetryAfter != time.Minute {
		t.Fatalf("%+v, want RetryAfter 60s from the rate-limited key, not AllDisabled", u)
	}
}

func TestHealthQuota(t *testing.T) {
	clk := newFakeClock(t0) // noon UTC
	k := key("oai", "a", limits.Set{})
	p := newMemPool(t, clk, k)
	fail(t, p, Outcome{Status: 402})
	st := status(t, p, k.ID)
	midnight := time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)
	if st.State != StateExhausted || st.Reason != "quota exhausted" || !st.Until.Equal(midnight) {
		t.Fatalf("after 402: %+v", st)
	}
	if u := mustUnavailable(t, p, oai, 0, nil); u.AllDisabled || u.RetryAfter != 12*time.Hour {
		t.Fatalf("%+v, want RetryAfter 12h", u)
	}
	clk.Add(12 * time.Hour)
	// An insufficient-quota 429 exhausts too, rather than cooling.
	fail(t, p, Outcome{Status: 429, QuotaExhausted: true})
	if st := status(t, p, k.ID); st.State != StateExhausted || !st.Until.Equal(midnight.Add(24*time.Hour)) {
		t.Fatalf("after quota 429: %+v", st)
	}
}

func TestHealthFailures(t *testing.T) {
	clk := newFakeClock(t0)
	k := key("oai", "a", limits.Set{})
	p := newMemPool(t, clk, k)
	fail(t, p, Outcome{Status: 500})
	fail(t, p, Outcome{Status: 0})
	if st := status(t, p, k.ID); st.State != StateActive {
		t.Fatalf("after 2 failures: %+v, want still active", st)
	}
	fail(t, p, Outcome{Status: 503, Reason: "upstream overloaded"})
	st := status(t, p, k.ID)
	if st.State != StateCooling || st.Reason != "upstream overloaded" || !st.Until.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("after 3 failures: %+v, want cooling 10s", st)
	}
	clk.Add(10 * time.Second)
	fail(t, p, Outcome{Status: 0})
	if st := status(t, p, k.ID); st.Reason != "network error" || !st.Until.Equal(clk.Now().Add(20*time.Second)) {
		t.Fatalf("after 4 failures: %+v, want cooling 20s", st)
	}
	for range 10 {
		clk.Add(10 * time.Minute)
		fail(t, p, Outcome{Status: 502})
	}
	if st := status(t, p, k.ID); !st.Until.Equal(clk.Now().Add(5 * time.Minute)) {
		t.Fatalf("cooldown not capped at 5 min: until %v", st.Until)
	}
	// A success ends the streak: the next failure does not cool.
	clk.Add(5 * time.Minute)
	fail(t, p, Outcome{Status: 200})
	fail(t, p, Outcome{Status: 500})
	if st := status(t, p, k.ID); st.State != StateActive {
		t.Fatalf("after success then 1 failure: %+v", st)
	}
	// A client error is the client's fault, not the key's.
	fail(t, p, Outcome{Status: 500})
	fail(t, p, Outcome{Status: 400})
	fail(t, p, Outcome{Status: 500})
	if st := status(t, p, k.ID); st.State != StateActive {
		t.Fatalf("400 did not end the failure streak: %+v", st)
	}
}

func TestHealthCanceled(t *testing.T) {
	clk := newFakeClock(t0)
	k := key("oai", "a", limits.Set{TPM: 1000})
	p := newMemPool(t, clk, k)
	for _, s := range []int{500, 500, 500, 429, 401, 402} {
		mustAcquire(t, p, oai, 100, nil).Done(Outcome{Status: s, Canceled: true, InputTokens: 40})
	}
	st := status(t, p, k.ID)
	if st.State != StateActive {
		t.Fatalf("canceled requests changed health: %+v", st)
	}
	if st.Usage.TokensDay != 240 || st.Usage.TokensTotal != 240 || st.Usage.InFlight != 0 {
		t.Fatalf("canceled requests did not settle tokens: %+v", st.Usage)
	}
}

func TestReset(t *testing.T) {
	clk := newFakeClock(t0)
	k := key("oai", "a", limits.Set{RPM: 2, TPM: 100})
	p := newMemPool(t, clk, k)
	inflight := mustAcquire(t, p, oai, 60, nil)
	fail(t, p, Outcome{Status: 429, InputTokens: 10})
	p.Reset(k.ID)
	st := status(t, p, k.ID)
	if st.State != StateActive || st.Usage != (Usage{InFlight: 1}) {
		t.Fatalf("after Reset: %+v, want active, zero counters, 1 in flight", st)
	}
	mustAcquire(t, p, oai, 100, nil)
	// The lease from before the reset must not subtract its wiped
	// reservation from the new counters.
	inflight.Done(Outcome{Status: 200, InputTokens: 20})
	st = status(t, p, k.ID)
	if st.Usage.TokensDay != 120 || st.Usage.TokensTotal != 20 || st.Usage.Minute != 1 || st.Usage.InFlight != 1 {
		t.Fatalf("after the old lease ended: %+v", st.Usage)
	}
	p.Reset("no-such-key") // ignored
	p.Enable("no-such-key")
}
