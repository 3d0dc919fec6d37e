package pool

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

func conv(id string) *Conversation { return &Conversation{ID: id, TTL: time.Hour} }

// acquireFor acquires for a new request of conversation id or fails the test.
func acquireFor(t *testing.T, p *Pool, targets []Target, est int64, tried map[string]bool, id string) *Lease {
	t.Helper()
	l, err := p.AcquireFor(nil, targets, est, tried, conv(id))
	if err != nil {
		t.Fatalf("AcquireFor %s: %v", id, err)
	}
	return l
}

func fiveKeys(l limits.Set) []KeySpec {
	var keys []KeySpec
	for i := range 5 {
		keys = append(keys, key("oai", fmt.Sprintf("k%d", i), l))
	}
	return keys
}

// A conversation stays on its key; different conversations spread by
// weight as requests without one do.
func TestAffinityStays(t *testing.T) {
	p := newMemPool(t, nil, fiveKeys(limits.Set{})...)
	first := acquireFor(t, p, oai, 0, nil, "c1")
	first.Done(Outcome{Status: 200})
	for range 30 {
		l := acquireFor(t, p, oai, 0, nil, "c1")
		if l.Key.ID != first.Key.ID {
			t.Fatalf("conversation moved from %s to %s while its key was free", first.Key.ID, l.Key.ID)
		}
		l.Done(Outcome{Status: 200})
	}
	used := map[string]bool{}
	for i := range 40 {
		l := acquireFor(t, p, oai, 0, nil, fmt.Sprintf("other-%d", i))
		used[l.Key.ID] = true
		l.Done(Outcome{Status: 200})
	}
	if len(used) < 3 {
		t.Fatalf("40 conversations used %d keys of 5, want them spread", len(used))
	}
}

// The preferred key is taken only as a candidate: a limit it is at moves
// the conversation, which then stays on its new key.
func TestAffinityNeverBypassesALimit(t *testing.T) {
	clk := newFakeClock(t0)
	p := newMemPool(t, clk, fiveKeys(limits.Set{RPM: 3})...)
	home := acquireFor(t, p, oai, 0, nil, "c")
	home.Done(Outcome{Status: 200})
	for range 2 {
		l := acquireFor(t, p, oai, 0, nil, "c")
		if l.Key.ID != home.Key.ID {
			t.Fatalf("moved to %s before its key's limit", l.Key.ID)
		}
		l.Done(Outcome{Status: 200})
	}
	moved := acquireFor(t, p, oai, 0, nil, "c")
	if moved.Key.ID == home.Key.ID {
		t.Fatalf("key %s admitted a 4th request under rpm 3", home.Key.ID)
	}
	moved.Done(Outcome{Status: 200})
	// A minute later the first key is free again, yet the conversation
	// stays where it moved.
	clk.Add(time.Minute)
	for range 2 {
		l := acquireFor(t, p, oai, 0, nil, "c")
		if l.Key.ID != moved.Key.ID {
			t.Fatalf("went to %s, want to stay on %s", l.Key.ID, moved.Key.ID)
		}
		l.Done(Outcome{Status: 200})
	}
	// Every key at its limit: 15 requests a minute in all, whatever the
	// conversations ask for.
	clk.Add(time.Minute)
	admitted := 0
	for i := range 40 {
		if l, err := p.AcquireFor(nil, oai, 0, nil, conv(fmt.Sprintf("c%d", i%3))); err == nil {
			admitted++
			l.Done(Outcome{Status: 200})
		}
	}
	if admitted != 15 {
		t.Fatalf("admitted %d requests, want 15 (5 keys at rpm 3)", admitted)
	}
}

// Concurrency, token limits, health and tried keys move a conversation
// too; priorities come first.
func TestAffinityOtherBlockers(t *testing.T) {
	clk := newFakeClock(t0)
	keys := []KeySpec{
		key("oai", "a", limits.Set{Concurrency: 1, TPM: 100}),
		key("oai", "b", limits.Set{Concurrency: 1, TPM: 100}),
		key("oai", "c", limits.Set{Concurrency: 1, TPM: 100}),
		key("spare", "s", limits.Set{}),
	}
	p := newMemPool(t, clk, keys...)
	targets := []Target{{Upstream: "oai"}, {Upstream: "spare", Priority: 1}}
	home := acquireFor(t, p, targets, 10, nil, "c")
	if home.Upstream != "oai" {
		t.Fatalf("went to %s with the first tier free", home.Upstream)
	}
	// In flight at its concurrency limit: another request of the
	// conversation goes elsewhere.
	other := acquireFor(t, p, targets, 10, nil, "c")
	if other.Key.ID == home.Key.ID {
		t.Fatalf("key %s admitted a 2nd request at concurrency 1", home.Key.ID)
	}
	other.Done(Outcome{Status: 200, InputTokens: 10})
	home.Done(Outcome{Status: 200, InputTokens: 10})
	// The conversation is on other's key now. Too many tokens for it: moves.
	cur := other.Key.ID
	l := acquireFor(t, p, targets, 95, nil, "c")
	if l.Key.ID == cur {
		t.Fatalf("key %s admitted 95 tokens over 10 of tpm 100", cur)
	}
	l.Done(Outcome{Status: 200, InputTokens: 95})
	cur = l.Key.ID
	// Tried: never again in the same request.
	if l := acquireFor(t, p, targets, 0, map[string]bool{cur: true}, "c"); l.Key.ID == cur {
		t.Fatalf("tried key %s chosen again", cur)
	} else {
		l.Done(Outcome{Status: 200})
		cur = l.Key.ID
	}
	// Its key cools down on a 429: the conversation moves, and stays.
	l = acquireFor(t, p, targets, 0, nil, "c")
	if l.Key.ID != cur {
		t.Fatalf("went to %s, want %s", l.Key.ID, cur)
	}
	l.Done(Outcome{Status: 429, RetryAfter: time.Minute})
	l = acquireFor(t, p, targets, 0, nil, "c")
	if l.Key.ID == cur {
		t.Fatalf("cooling key %s chosen", cur)
	}
	l.Done(Outcome{Status: 200})
	moved := l.Key.ID
	clk.Add(2 * time.Minute)
	if l := acquireFor(t, p, targets, 0, nil, "c"); l.Key.ID != moved {
		t.Fatalf("went back to %s, want to stay on %s", l.Key.ID, moved)
	} else {
		l.Done(Outcome{Status: 200})
	}
	// A conversation on the fallback tier comes back to the first tier
	// once that can serve: priority is the operator's order.
	busy := map[string]bool{}
	var held []*Lease
	for _, k := range keys[:3] {
		busy[k.ID] = true
	}
	for range 3 {
		held = append(held, acquireFor(t, p, []Target{{Upstream: "oai"}}, 0, nil, "filler"))
	}
	l = acquireFor(t, p, targets, 0, nil, "d")
	if l.Upstream != "spare" {
		t.Fatalf("got %s with every first-tier key busy", l.Key.ID)
	}
	l.Done(Outcome{Status: 200})
	for _, h := range held {
		h.Done(Outcome{Status: 200})
	}
	if l := acquireFor(t, p, targets, 0, nil, "d"); l.Upstream != "oai" {
		t.Fatalf("stayed on the fallback tier (%s) with the first tier free", l.Key.ID)
	} else {
		l.Done(Outcome{Status: 200})
	}
}

// A conversation's key is forgotten once it has gone unused for its TTL.
// Memory storage only: Redis expires the entry by its own clock.
func TestAffinityTTL(t *testing.T) {
	clk := newFakeClock(t0)
	p := newMemPool(t, clk, fiveKeys(limits.Set{})...)
	cv := &Conversation{ID: "c", TTL: time.Minute}
	l, err := p.AcquireFor(nil, oai, 0, nil, cv)
	if err != nil {
		t.Fatal(err)
	}
	l.Done(Outcome{Status: 200})
	if got := p.sh.convs.get("c", clk.Now().UnixNano()); got != l.Key.ID || cv.Key() != l.Key.ID {
		t.Fatalf("remembered %q (request says %q), want %s", got, cv.Key(), l.Key.ID)
	}
	clk.Add(59 * time.Second)
	if got := p.sh.convs.get("c", clk.Now().UnixNano()); got != l.Key.ID {
		t.Fatalf("forgotten before its TTL")
	}
	clk.Add(time.Second)
	if got := p.sh.convs.get("c", clk.Now().UnixNano()); got != "" {
		t.Fatalf("still remembered after its TTL: %q", got)
	}
}

// The table stays within its cap however many conversations come.
func TestConvTableCap(t *testing.T) {
	var tab convTable
	now := t0.UnixNano()
	for i := range 3 * convCap {
		tab.put(fmt.Sprintf("c%d", i), "k", now+int64(time.Hour), now)
	}
	n := 0
	for i := range tab.shards {
		n += len(tab.shards[i].m)
	}
	if n > convCap {
		t.Fatalf("%d entries, cap %d", n, convCap)
	}
	if tab.get(fmt.Sprintf("c%d", 3*convCap-1), now) != "k" {
		t.Fatal("the newest entry was dropped")
	}
}

// Conversations under concurrency never take more than the limits allow.
func TestAffinityConcurrent(t *testing.T) {
	p := newMemPool(t, nil, fiveKeys(limits.Set{RPM: 4, Concurrency: 2})...)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		admitted int
		held     []*Lease
	)
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l, err := p.AcquireFor(nil, oai, 0, nil, conv(fmt.Sprintf("c%d", i%4))); err == nil {
				mu.Lock()
				admitted++
				held = append(held, l)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if admitted != 10 {
		t.Fatalf("admitted %d at once, want 10 (5 keys at concurrency 2)", admitted)
	}
	for _, l := range held {
		l.Done(Outcome{Status: 200})
	}
}
