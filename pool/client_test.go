package pool

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

// acquireAs acquires for a client hold; the error is nil or *Unavailable.
func acquireAs(t *testing.T, p *Pool, h *ClientHold, est int64) (*Lease, *Unavailable) {
	t.Helper()
	l, err := p.AcquireFor(h, oai, est, nil, nil)
	if err == nil {
		return l, nil
	}
	var u *Unavailable
	if !errors.As(err, &u) {
		t.Fatalf("AcquireFor: %T %v", err, err)
	}
	return nil, u
}

// A client's rpm is exact under concurrency, and counted only with a key:
// a request the keys refused does not count for the client, one the
// client refused does not count for the key.
func TestClientLimits(t *testing.T) {
	clk := newFakeClock(t0)
	k := key("oai", "a", limits.Set{RPM: 10})
	p := newMemPool(t, clk, k)
	cl := p.Client("ci", limits.Set{RPM: 4, Weight: 3})
	if p.Client("free", limits.Set{Weight: 2, Interval: 5}) != nil {
		t.Fatal("a client without caps got a limiter")
	}

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ok, out int
		holds   []*ClientHold
		start   = make(chan struct{})
	)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := &ClientHold{Client: cl}
			<-start
			l, err := p.AcquireFor(h, oai, 0, nil, nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if u, isU := errors.AsType[*Unavailable](err); !isU || !u.Client || u.RetryAfter != time.Minute {
					t.Errorf("refusal %v", err)
				}
				out++
				return
			}
			l.Done(Outcome{Status: 200})
			holds = append(holds, h)
			ok++
		}()
	}
	close(start)
	wg.Wait()
	if ok != 4 || out != 46 {
		t.Fatalf("admitted %d refused %d, want 4 and 46", ok, out)
	}
	for _, h := range holds {
		p.Release(h, 10)
	}
	if st := status(t, p, k.ID); st.Usage.Minute != 4 {
		t.Fatalf("key counted %d requests, want 4 (the client's refusals are not the key's)", st.Usage.Minute)
	}
	u, _ := p.ClientUsage(cl)
	if u.Minute != 4 || u.TokensTotal != 40 || u.InFlight != 0 {
		t.Fatalf("client usage %+v", u)
	}

	// The key at its limit: the client is not counted for the refusal.
	clk.Add(time.Minute)
	cl2 := p.Client("other", limits.Set{RPD: 100})
	for range 10 {
		l, _ := acquireAs(t, p, &ClientHold{Client: p.Client("bulk", limits.Set{})}, 0)
		if l == nil {
			t.Fatal("the key refused below its limit")
		}
		l.Done(Outcome{Status: 200})
	}
	h := &ClientHold{Client: cl2}
	if _, un := acquireAs(t, p, h, 0); un == nil || un.Client {
		t.Fatalf("want the keys' refusal, got %+v", un)
	}
	if h.Held() {
		t.Fatal("a refused request holds a client place")
	}
	if u, _ := p.ClientUsage(cl2); u.Day != 0 {
		t.Fatalf("the client counted a request the keys refused: %+v", u)
	}
}

// A client's concurrency frees at Release, not at the end of an attempt:
// a retry on another key is the same client request.
func TestClientConcurrencyAcrossAttempts(t *testing.T) {
	clk := newFakeClock(t0)
	p := newMemPool(t, clk, key("oai", "a", limits.Set{}), key("oai", "b", limits.Set{}))
	cl := p.Client("ci", limits.Set{Concurrency: 1})
	h := &ClientHold{Client: cl}
	l, un := acquireAs(t, p, h, 5)
	if un != nil {
		t.Fatal(un)
	}
	l.Done(Outcome{Status: 500})
	// The retry, with the place already held.
	l2, err := p.AcquireFor(h, oai, 5, map[string]bool{l.Key.ID: true}, nil)
	if err != nil {
		t.Fatalf("retry refused: %v", err)
	}
	if _, un := acquireAs(t, p, &ClientHold{Client: cl}, 0); un == nil || !un.Client || un.RetryAfter != time.Second {
		t.Fatalf("a second request of the client got past concurrency 1: %+v", un)
	}
	l2.Done(Outcome{Status: 200, InputTokens: 3, OutputTokens: 4})
	p.Release(h, 7)
	p.Release(h, 7) // once only
	u, _ := p.ClientUsage(cl)
	if u.InFlight != 0 || u.Day != 1 || u.TokensDay != 7 {
		t.Fatalf("client usage %+v, want one request of 7 tokens and none in flight", u)
	}
	if l3, un := acquireAs(t, p, &ClientHold{Client: cl}, 0); un != nil {
		t.Fatalf("refused after release: %+v", un)
	} else {
		l3.Done(Outcome{Status: 200})
	}
}

// Two Pools on one Redis share a client's counters exactly.
func TestRedisClientShared(t *testing.T) {
	m, clk := newMini(t)
	k := key("oai", "a", limits.Set{})
	a := newRedisPool(t, m.Addr(), "t:", clk.fakeClock, k)
	b := newRedisPool(t, m.Addr(), "t:", clk.fakeClock, k)
	ca, cb := a.Client("ci", limits.Set{RPM: 3, TPM: 1000}), b.Client("ci", limits.Set{RPM: 3, TPM: 1000})
	var holds []*ClientHold
	for i := range 5 {
		p, cl := a, ca
		if i%2 == 1 {
			p, cl = b, cb
		}
		h := &ClientHold{Client: cl}
		l, un := acquireAs(t, p, h, 10)
		if i < 3 {
			if un != nil {
				t.Fatalf("request %d refused: %+v", i, un)
			}
			l.Done(Outcome{Status: 200})
			holds = append(holds, h)
		} else if un == nil || !un.Client || un.RetryAfter != time.Minute {
			t.Fatalf("request %d: %+v, want the client's refusal for a minute", i, un)
		}
	}
	for _, h := range holds {
		a.Release(h, 100)
	}
	u, ok := b.ClientUsage(cb)
	if !ok || u.Minute != 3 || u.TokensDay != 300 || u.InFlight != 0 {
		t.Fatalf("client usage %+v (%v)", u, ok)
	}
	if st := status(t, a, k.ID); st.Usage.Minute != 3 {
		t.Fatalf("key counted %d, want 3", st.Usage.Minute)
	}
	clk.Add(time.Minute)
	if l, un := acquireAs(t, a, &ClientHold{Client: ca}, 0); un != nil {
		t.Fatalf("refused a minute later: %+v", un)
	} else {
		l.Done(Outcome{Status: 200})
	}
}

// ResetClient zeroes a client's counters, on both storages.
func TestResetClient(t *testing.T) {
	p := newMemPool(t, newFakeClock(t0), key("oai", "a", limits.Set{}))
	cl := p.Client("ci", limits.Set{RPM: 1})
	h := &ClientHold{Client: cl}
	l, un := acquireAs(t, p, h, 0)
	if un != nil {
		t.Fatal(un)
	}
	l.Done(Outcome{Status: 200})
	p.Release(h, 5)
	if _, un := acquireAs(t, p, &ClientHold{Client: cl}, 0); un == nil || !un.Client {
		t.Fatalf("rpm 1 let a second request through: %+v", un)
	}
	if err := p.ResetClient(cl); err != nil {
		t.Fatal(err)
	}
	if u, _ := p.ClientUsage(cl); u.Minute != 0 || u.TokensTotal != 0 {
		t.Fatalf("after reset: %+v", u)
	}
	if _, un := acquireAs(t, p, &ClientHold{Client: cl}, 0); un != nil {
		t.Fatalf("refused after reset: %+v", un)
	}
}

// A client with limits in a conversation: the conversation's key is
// admitted together with the client (on Redis, in the one script call,
// client first, then the conversation, then the keys), and a request the
// client refuses neither counts for the key nor moves the conversation.
func TestClientInConversation(t *testing.T) {
	clk := newFakeClock(t0)
	p := newMemPool(t, clk, fiveKeys(limits.Set{})...)
	cl := p.Client("ci", limits.Set{RPM: 3})
	var first string
	for i := range 5 {
		h := &ClientHold{Client: cl}
		l, err := p.AcquireFor(h, oai, 0, nil, conv("c1"))
		if i >= 3 {
			if u, isU := errors.AsType[*Unavailable](err); !isU || !u.Client {
				t.Fatalf("request %d: want the client's refusal, got %v", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if first == "" {
			first = l.Key.ID
		} else if l.Key.ID != first {
			t.Fatalf("request %d of the conversation went to %s, not %s", i, l.Key.ID, first)
		}
		l.Done(Outcome{Status: 200})
		p.Release(h, 1)
	}
	if st := status(t, p, first); st.Usage.Minute != 3 {
		t.Fatalf("the conversation's key counted %d requests, want the client's 3", st.Usage.Minute)
	}
	// A request of another client keeps to the conversation's key.
	l, err := p.AcquireFor(&ClientHold{Client: p.Client("other", limits.Set{RPM: 10})}, oai, 0, nil, conv("c1"))
	if err != nil || l.Key.ID != first {
		t.Fatalf("after the refusals the conversation moved: %v %v", l, err)
	}
	l.Done(Outcome{Status: 200})
}
