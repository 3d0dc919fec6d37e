package pool

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

// checkSelection verifies, once due keys are re-examined, that every group
// of p holds exactly the eligible keys in its tree, the right counts, and a
// valid wake for each key blocked by time.
func checkSelection(t *testing.T, p *Pool) {
	t.Helper()
	c := p.clock()
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	for up, g := range p.groups {
		g.due(&c)
		var sum int64
		var count [4]int
		for i, s := range g.slots {
			if s.pos != i {
				t.Fatalf("%s: slot %d thinks it is at %d", up, i, s.pos)
			}
			if s.dead {
				continue
			}
			count[s.cond]++
			s.ks.sync(&c)
			want := condIn
			until, full := s.ks.block(&s.spec.Limits, &c, 0)
			switch {
			case s.spec.Disabled || s.ks.health == StateDisabled:
				want = condOff
			case until > 0:
				want = condTimed
			case full:
				want = condEvent
			}
			if s.cond != want {
				t.Fatalf("%s: key %s is %d, want %d (until %d, full %v, health %s)", up, s.spec.ID, s.cond, want, until, full, s.ks.health)
			}
			if want == condIn {
				sum += s.w
				if s.w != int64(s.spec.Limits.Weight) {
					t.Fatalf("%s: key %s weighs %d in the tree, want %d", up, s.spec.ID, s.w, s.spec.Limits.Weight)
				}
			}
			if want == condTimed {
				if s.wake != until {
					t.Fatalf("%s: key %s wakes at %d, want %d", up, s.spec.ID, s.wake, until)
				}
				found := false
				for _, e := range g.heap {
					found = found || (e.s == s && e.at == s.wake)
				}
				if !found {
					t.Fatalf("%s: key %s has no heap entry", up, s.spec.ID)
				}
			}
		}
		if sum != g.tree.sum || count != g.count {
			t.Fatalf("%s: tree sum %d counts %v, want %d %v", up, g.tree.sum, g.count, sum, count)
		}
		// The tree's prefix sums agree with the weights.
		var prefix int64
		for i, s := range g.slots {
			w := int64(0)
			if !s.dead && s.cond == condIn {
				w = s.w
			}
			if w > 0 && g.tree.find(prefix) != i {
				t.Fatalf("%s: find(%d) = %d, want %d", up, prefix, g.tree.find(prefix), i)
			}
			prefix += w
		}
	}
}

// exactCandidates lists the keys of targets' lowest tier that has any
// which can admit est tokens now, the slow way.
func exactCandidates(p *Pool, targets []Target, est int64, tried map[string]bool) []string {
	c := p.clock()
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	best, found := 0, false
	var out []string
	for _, t := range targets {
		for _, s := range p.slots {
			if s.spec.Upstream != t.Upstream || tried[s.spec.ID] || s.spec.Disabled {
				continue
			}
			s.ks.sync(&c)
			if s.ks.health == StateDisabled || s.ks.wait(&s.spec.Limits, &c, est) > 0 {
				continue
			}
			switch {
			case !found || t.Priority < best:
				best, found, out = t.Priority, true, []string{s.spec.ID}
			case t.Priority == best:
				out = append(out, s.spec.ID)
			}
		}
	}
	return out
}

// exactUnavailable is Acquire's refusal the slow way: the soonest wait of
// the enabled keys not in tried, or of all enabled keys if every key was
// tried.
func exactUnavailable(p *Pool, targets []Target, est int64, tried map[string]bool) *Unavailable {
	c := p.clock()
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	soonest := func(skipTried bool) (int64, bool) {
		w, keys := int64(-1), false
		for _, s := range p.slots {
			if skipTried && tried[s.spec.ID] {
				continue
			}
			keys = true
			s.ks.sync(&c)
			if s.spec.Disabled || s.ks.health == StateDisabled {
				continue
			}
			lowerWait(&w, s.ks.wait(&s.spec.Limits, &c, est))
		}
		return w, keys
	}
	w, keys := soonest(true)
	if !keys {
		w, _ = soonest(false)
	}
	if w < 0 {
		return &Unavailable{AllDisabled: true}
	}
	return &Unavailable{RetryAfter: time.Duration(max((w+second-1)/second, 1)) * time.Second}
}

// A random walk of requests, outcomes, clock steps and admin changes over
// keys with small limits of every kind: after each step the selection
// structure holds exactly the eligible keys, and Acquire admits exactly when
// the slow way finds a key, in the right tier.
func TestSelectionRandomWalk(t *testing.T) {
	clk := newFakeClock(t0)
	rng := rand.New(rand.NewPCG(1, 2))
	limitsFor := func(i int) limits.Set {
		l := limits.Set{Weight: 1 + i%3}
		switch i % 7 {
		case 0:
			l.RPM = 3
		case 1:
			l.RPD = 5
		case 2:
			l.TPM = 100
		case 3:
			l.Interval = limits.Set{}.Interval + 2e9 // 2 s
		case 4:
			l.Concurrency = 1
		case 5:
			l.TPD = 300
			l.RPM = 4
		default:
			l.RPM, l.Concurrency = 2, 2
		}
		return l
	}
	var keys []KeySpec
	for i := range 12 {
		up := "oai"
		if i%3 == 2 {
			up = "ant"
		}
		keys = append(keys, key(up, fmt.Sprintf("sk-%d", i), limitsFor(i)))
	}
	p := newMemPool(t, clk, keys...)
	targets := []Target{{Upstream: "oai"}, {Upstream: "ant", Priority: 1}}
	var leases []*Lease
	added, admitted, refused := 0, 0, 0
	for step := range 6000 {
		switch op := rng.IntN(100); {
		case op < 45:
			est := int64(rng.IntN(60))
			var tried map[string]bool
			switch rng.IntN(8) {
			case 0, 1:
				tried = map[string]bool{p.slots[rng.IntN(len(p.slots))].spec.ID: true}
			case 2:
				tried = map[string]bool{}
				for _, s := range p.slots {
					tried[s.spec.ID] = true
				}
			}
			want := exactCandidates(p, targets, est, tried)
			wantUn := exactUnavailable(p, targets, est, tried)
			l, err := p.Acquire(targets, est, tried)
			switch {
			case err == nil && len(want) == 0:
				t.Fatalf("step %d: admitted %s, but no key could", step, l.Key.ID)
			case err != nil && len(want) > 0:
				t.Fatalf("step %d: refused (%v), but %v could", step, err, want)
			case err != nil:
				un := err.(*Unavailable)
				if un.AllDisabled != wantUn.AllDisabled || un.RetryAfter > wantUn.RetryAfter ||
					(len(tried) > 0 && len(tried) == len(p.slots) && *un != *wantUn) {
					t.Fatalf("step %d: %+v, want %+v", step, un, wantUn)
				}
			case err == nil:
				ok := false
				for _, id := range want {
					ok = ok || id == l.Key.ID
				}
				if !ok {
					t.Fatalf("step %d: admitted %s, not among %v", step, l.Key.ID, want)
				}
				leases = append(leases, l)
			}
			if err == nil {
				admitted++
			} else {
				refused++
			}
		case op < 75 && len(leases) > 0:
			i := rng.IntN(len(leases))
			l := leases[i]
			leases = append(leases[:i], leases[i+1:]...)
			o := Outcome{Status: 200, InputTokens: int64(rng.IntN(50)), OutputTokens: int64(rng.IntN(50))}
			switch rng.IntN(20) {
			case 0:
				o.Status = 429
			case 1:
				o.Status = 401
			case 2:
				o.Status = 402
			case 3, 4:
				o.Status = 503
			}
			l.Done(o)
		case op < 88:
			clk.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		case op < 90:
			clk.Add(time.Duration(rng.IntN(7200)) * time.Second)
		case op < 93:
			s := p.slots[rng.IntN(len(p.slots))]
			spec := *s.spec
			spec.Disabled = rng.IntN(3) == 0
			spec.Limits = limitsFor(rng.IntN(7))
			if _, err := p.UpdateKey(spec); err != nil {
				t.Fatal(err)
			}
		case op < 95:
			p.Reset(p.slots[rng.IntN(len(p.slots))].spec.ID)
		case op < 96:
			p.Enable(p.slots[rng.IntN(len(p.slots))].spec.ID)
		case op < 98:
			added++
			up := []string{"oai", "ant"}[rng.IntN(2)]
			if err := p.AddKeys([]KeySpec{{Upstream: up, Secret: fmt.Sprintf("sk-added-%d", added), Limits: limitsFor(added)}}); err != nil {
				t.Fatal(err)
			}
		default:
			if len(p.slots) > 5 {
				p.RemoveKey(p.slots[rng.IntN(len(p.slots))].spec.ID)
			}
		}
		checkSelection(t, p)
	}
	t.Logf("%d admitted, %d refused", admitted, refused)
	if admitted < 500 || refused < 100 {
		t.Fatalf("%d admitted, %d refused: the walk does not reach both", admitted, refused)
	}
}

// Removing most keys compacts the groups, and selection stays right.
func TestSelectionCompaction(t *testing.T) {
	var keys []KeySpec
	for i := range 300 {
		keys = append(keys, key("oai", fmt.Sprintf("sk-%d", i), limits.Set{Weight: 1 + i%4, RPM: 1}))
	}
	p := newMemPool(t, newFakeClock(t0), keys...)
	for i := range 290 {
		p.RemoveKey(keys[i].ID)
	}
	if g := p.groups["oai"]; len(g.slots) > 100 {
		t.Fatalf("%d slots kept for 10 keys", len(g.slots))
	}
	checkSelection(t, p)
	seen := map[string]bool{}
	for range 10 {
		l := mustAcquire(t, p, oai, 0, nil)
		seen[l.Key.ID] = true
		l.Done(Outcome{Status: 200})
	}
	mustUnavailable(t, p, oai, 0, nil)
	if len(seen) != 10 {
		t.Fatalf("%d keys served", len(seen))
	}
	checkSelection(t, p)
}

// During a reload two Pools share a key's state: an event through one
// re-examines the key in the other at once.
func TestSelectionAcrossPools(t *testing.T) {
	clk := newFakeClock(t0)
	k := key("oai", "sk-shared", limits.Set{Concurrency: 1})
	a := newMemPool(t, clk, k)
	b, err := New(Options{Instance: t.Name(), Storage: "memory", Now: clk.Now, Keys: []KeySpec{k}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	l := mustAcquire(t, a, oai, 0, nil)
	checkSelection(t, b)
	mustUnavailable(t, b, oai, 0, nil)
	l.Done(Outcome{Status: 200})
	checkSelection(t, b)
	mustAcquire(t, b, oai, 0, nil).Done(Outcome{Status: 429, RetryAfter: time.Second})
	checkSelection(t, a)
	mustUnavailable(t, a, oai, 0, nil)
	clk.Add(time.Second)
	mustAcquire(t, a, oai, 0, nil)
	a.Close()
	checkSelection(t, b)
}
