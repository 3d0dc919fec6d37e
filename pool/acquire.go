package pool

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Lease is one admitted request on one key. Its holder sends the request with
// Key and reports the outcome with Done, exactly once.
type Lease struct {
	// Key is the chosen key (a copy of the Pool's spec).
	Key KeySpec
	// Upstream is the upstream the key belongs to (Key.Upstream).
	Upstream string

	pool     *Pool
	ks       *keyState
	seq      uint64 // the start's sequence number in the rolling minute
	day      int32  // the day the start was counted in
	estimate int64
	done     atomic.Bool
}

// Unavailable is Acquire's error when no key can take the request now.
type Unavailable struct {
	// RetryAfter is when the first key frees up: whole seconds, at least 1.
	// Zero when AllDisabled.
	RetryAfter time.Duration
	// AllDisabled is true when every key that could serve is disabled (by
	// configuration or by health), so waiting will not help.
	AllDisabled bool
}

func (u *Unavailable) Error() string {
	if u.AllDisabled {
		return "every key that could serve this request is disabled"
	}
	return fmt.Sprintf("every key that could serve this request is at a limit or cooling down; retry after %s", u.RetryAfter)
}

// Acquire admits a request reserving estimate tokens onto a key of one of
// targets, skipping keys whose IDs are in tried (keys that already failed
// this request).
//
// Targets are tried in tiers by ascending Priority: a tier is used only when
// no key of any lower tier can serve. Within a tier, a key is a candidate
// when it is enabled, healthy, not tried and under every limit (see
// keyState.wait), and one candidate is picked at random by weight. Deciding
// and recording the start happen under one lock, so limits hold exactly
// under any concurrency, across every Pool on the same storage.
//
// When no key can serve, the error is *Unavailable. Its RetryAfter covers
// the untried keys; if every key was tried it covers all of them, so the
// caller can still say when to come back.
func (p *Pool) Acquire(targets []Target, estimate int64, tried map[string]bool) (*Lease, error) {
	estimate = max(estimate, 0)
	sh := p.sh
	sh.mu.Lock()
	// Read the clock under the lock so starts are recorded in order.
	c := p.clock()
	var (
		minWait  int64 = -1 // soonest wait of an enabled, untried key; -1: none
		eligible bool       // some untried key exists
		tier     int
		started  bool
	)
	for {
		next, ok := 0, false
		for _, t := range targets {
			if (!started || t.Priority > tier) && (!ok || t.Priority < next) {
				next, ok = t.Priority, true
			}
		}
		if !ok {
			break
		}
		tier, started = next, true

		// One pass of weighted reservoir sampling: the i-th candidate
		// replaces the pick with probability weight/total-so-far, which
		// picks each by its weight without collecting candidates.
		pick, total := -1, 0
		for j, t := range targets {
			if t.Priority != tier || listedBefore(targets, j) {
				continue
			}
			for _, i := range p.byUp[t.Upstream] {
				spec := &p.specs[i]
				if tried[spec.ID] {
					continue
				}
				eligible = true
				ks := p.states[i]
				ks.sync(&c)
				if spec.Disabled || ks.health == StateDisabled {
					continue
				}
				if w := ks.wait(&spec.Limits, &c, estimate); w > 0 {
					if minWait < 0 || w < minWait {
						minWait = w
					}
					continue
				}
				total += spec.Limits.Weight
				if rand.IntN(total) < spec.Limits.Weight {
					pick = i
				}
			}
		}
		if pick >= 0 {
			ks := p.states[pick]
			l := &Lease{
				Key:      p.specs[pick],
				Upstream: p.specs[pick].Upstream,
				pool:     p,
				ks:       ks,
				seq:      ks.admit(&c, estimate),
				day:      c.day,
				estimate: estimate,
			}
			sh.mu.Unlock()
			return l, nil
		}
	}
	if !eligible {
		minWait = p.soonest(targets, &c, estimate)
	}
	sh.mu.Unlock()

	if minWait < 0 {
		return nil, &Unavailable{AllDisabled: true}
	}
	secs := max((minWait+second-1)/second, 1)
	return nil, &Unavailable{RetryAfter: time.Duration(secs) * time.Second}
}

// listedBefore reports whether targets[j]'s upstream appears earlier in the
// same tier, so a repeated target does not double its keys' weight.
func listedBefore(targets []Target, j int) bool {
	for _, t := range targets[:j] {
		if t.Upstream == targets[j].Upstream && t.Priority == targets[j].Priority {
			return true
		}
	}
	return false
}

// soonest is the shortest wait over every enabled key of targets, tried or
// not, or -1 if there is none. The caller holds the lock.
func (p *Pool) soonest(targets []Target, c *clock, est int64) int64 {
	soonest := int64(-1)
	for _, t := range targets {
		for _, i := range p.byUp[t.Upstream] {
			ks := p.states[i]
			ks.sync(c)
			if p.specs[i].Disabled || ks.health == StateDisabled {
				continue
			}
			if w := ks.wait(&p.specs[i].Limits, c, est); soonest < 0 || w < soonest {
				soonest = w
			}
		}
	}
	return soonest
}

// Done reports the outcome of the leased request: it frees the key's
// concurrency slot, settles the token estimate with the real usage and
// updates the key's health:
//
//   - 429: cooling for Retry-After (capped at 1 h), else 5 s·2^(n-1) for the
//     n-th 429 in a row, capped at 10 min;
//   - 401, 403: disabled until Enable or Reset;
//   - 402 or QuotaExhausted: exhausted until the next midnight;
//   - 5xx or no response: from the 3rd failure in a row, cooling for
//     10 s·2^(n-3), capped at 5 min;
//   - anything else: the key works, and the 429 and failure streaks end.
//
// A Canceled outcome settles tokens but leaves health alone. Calls after the
// first are ignored.
func (l *Lease) Done(o Outcome) {
	if l == nil || !l.done.CompareAndSwap(false, true) {
		return
	}
	actual := max(o.InputTokens, 0) + max(o.OutputTokens, 0)
	sh := l.pool.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := l.pool.clock()
	ks := l.ks
	ks.sync(&c)
	ks.settle(l.seq, l.day, l.estimate, actual)
	if !o.Canceled {
		ks.observe(o, &c)
	}
}
