package pool

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"
)

// Lease is one admitted request on one key. Its holder sends the request with
// Key and reports the outcome with Done, exactly once.
type Lease struct {
	// Key is the chosen key, as the Pool's spec was when the lease began
	// (the Pool replaces a spec it changes, never changes one, so a lease
	// shares it rather than hold a copy for as long as a stream lasts).
	Key *KeySpec
	// Upstream is the upstream the key belongs to (Key.Upstream).
	Upstream string

	pool     *Pool
	ks       *keyState
	seq      uint64 // the start's sequence number in the rolling minute
	day      int32  // the day the start was counted in
	estimate int64
	done     atomic.Bool

	// On Redis storage: the lease's id, its bin's sequence number and day
	// there; unlimited when Redis was unreachable and on_error is open.
	rid       string
	rseq      int64
	rday      int64
	unlimited bool
}

// Unavailable is Acquire's error when no key can take the request now.
type Unavailable struct {
	// RetryAfter is when the first key frees up: whole seconds, at least 1.
	// Zero when AllDisabled.
	RetryAfter time.Duration
	// AllDisabled is true when every key that could serve is disabled (by
	// configuration or by health), so waiting will not help.
	//
	// StoreDown is true when the shared storage (Redis) is unreachable and
	// the Pool refuses to serve without it (on_error closed).
	StoreDown   bool
	AllDisabled bool
	// Client is true when the client's own limits refused the request
	// (see AcquireFor): no key was looked at, and RetryAfter is when the
	// client may send again.
	Client bool
}

func (u *Unavailable) Error() string {
	if u.Client {
		return fmt.Sprintf("the client is at one of its own limits; retry after %s", u.RetryAfter)
	}
	if u.StoreDown {
		return "the shared storage (Redis) is unreachable"
	}
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
	return p.AcquireFor(nil, targets, estimate, tried, nil)
}

// AcquireFor is Acquire for a request of a client and a conversation.
//
// A client with limits of its own: while h holds no place yet (its first
// admitted attempt), the client is checked against its limits and counted
// in the same step as the key, so that neither is counted for a request
// the other refused. A client at one of its limits is an *Unavailable with
// Client set. A nil h, or one without a Client, admits keys alone.
//
// A conversation cv (nil: none): in the tier a key is chosen from, the key
// the conversation had is taken when it is untried and would be a
// candidate (enabled, healthy, under every limit for this request: the
// same admission, decided under the same lock, or in the same Redis
// script); otherwise the pick is by weight as always, and the conversation
// moves to the key picked.
func (p *Pool) AcquireFor(h *ClientHold, targets []Target, estimate int64, tried map[string]bool, cv *Conversation) (*Lease, error) {
	estimate = max(estimate, 0)
	p.lookup(cv)
	if p.sh.remote != nil {
		return p.acquireRemote(h, targets, estimate, tried, cv)
	}
	var prefer string
	if cv != nil {
		prefer = cv.key
	}
	sh := p.sh
	sh.mu.Lock()
	// Read the clock under the lock so starts are recorded in order.
	c := p.clock()
	var cks *keyState // the client's state, when it is to be admitted too
	if h.needs() {
		cks = h.Client.ks
		cks.sync(&c)
		if until, full := cks.block(&h.Client.Limits, &c, estimate); until != 0 || full {
			sh.mu.Unlock()
			return nil, clientBlocked(waitOf(until, full, &c))
		}
	}
	var (
		minWait int64 = -1 // soonest wait of a key set aside; -1: none
		tier    int
		started bool
		gs      [4]*group
	)
	for {
		next, ok := nextTier(targets, tier, started)
		if !ok {
			break
		}
		tier, started = next, true
		groups := p.tierGroups(targets, tier, gs[:0], &c)
		s := p.preferred(prefer, groups, &c, estimate, tried)
		if s == nil {
			s = p.choose(groups, &c, estimate, tried, &minWait)
		}
		if s != nil {
			ks := s.ks
			l := &Lease{
				Key:      s.spec,
				Upstream: s.spec.Upstream,
				pool:     p,
				ks:       ks,
				seq:      ks.admit(&c, estimate),
				day:      c.day,
				estimate: estimate,
			}
			ks.touch(&c)
			if cks != nil {
				h.seq, h.day, h.est, h.held = cks.admit(&c, estimate), c.day, estimate, true
			}
			sh.mu.Unlock()
			if cv != nil {
				p.remember(cv, s.spec.ID, c.now)
			}
			return l, nil
		}
	}
	err := p.unavailable(targets, tried, estimate, minWait, &c)
	sh.mu.Unlock()
	return nil, err
}

// tierGroups appends the groups of targets' upstreams in tier to gs, each
// once, with their due keys re-examined. The caller holds the lock.
func (p *Pool) tierGroups(targets []Target, tier int, gs []*group, c *clock) []*group {
	for j, t := range targets {
		if t.Priority != tier || listedBefore(targets, j) {
			continue
		}
		if g := p.groups[t.Upstream]; g != nil {
			g.due(c)
			gs = append(gs, g)
		}
	}
	return gs
}

// choose picks, by weight, a key of groups that can admit a request of est
// tokens now and is not in tried; nil when none can. It lowers *minWait to
// the wait of each key it finds blocked. The caller holds the lock.
func (p *Pool) choose(groups []*group, c *clock, est int64, tried map[string]bool, minWait *int64) *slot {
	aside := p.scratch[:0]
	defer func() {
		// Put back what was set aside for this request only.
		for _, s := range aside {
			if s.cond == condIn {
				s.g.tree.add(s.pos, s.w)
			}
		}
		clear(aside)
		p.scratch = aside[:0]
	}()
	setAside := func(s *slot) {
		s.g.tree.add(s.pos, -s.w)
		aside = append(aside, s)
	}
	for id := range tried {
		if s := p.byID[id]; s != nil && s.cond == condIn && slices.Contains(groups, s.g) {
			setAside(s)
		}
	}
	for rejects := 0; ; {
		s := draw(groups)
		if s == nil {
			return nil
		}
		s.ks.sync(c)
		if !s.spec.Disabled && s.ks.health != StateDisabled {
			until, full := p.block(s, c, est)
			if until == 0 && !full {
				return s
			}
			lowerWait(minWait, waitOf(until, full, c))
		}
		// Rejected. A key blocked even for no tokens leaves the tree (its
		// state changed through another Pool); one too full for this
		// estimate only is set aside for this request.
		if s.refresh(c); s.cond == condIn {
			setAside(s)
		}
		if rejects++; rejects >= maxRejects {
			return p.scan(groups, c, est, tried, minWait)
		}
	}
}

// scan is choose the slow way: every key of groups checked, and one picked
// by weight with one pass of weighted reservoir sampling (the i-th candidate
// replaces the pick with probability weight/total-so-far). Each key is
// re-examined for selection on the way. The caller holds the lock.
func (p *Pool) scan(groups []*group, c *clock, est int64, tried map[string]bool, minWait *int64) *slot {
	var r reservoir
	for _, g := range groups {
		for _, s := range g.slots {
			if s.dead || tried[s.spec.ID] {
				continue
			}
			if s.refresh(c); s.cond == condOff {
				continue
			}
			if until, full := p.block(s, c, est); until != 0 || full {
				lowerWait(minWait, waitOf(until, full, c))
				continue
			}
			r.offer(s)
		}
	}
	return r.pick
}

// reservoir is weighted reservoir sampling in one pass: the i-th key
// offered replaces the pick with probability weight/total-so-far.
type reservoir struct {
	pick  *slot
	total int64
}

func (r *reservoir) offer(s *slot) {
	w := int64(s.spec.Limits.Weight)
	r.total += w
	if rand.Int64N(r.total) < w {
		r.pick = s
	}
}

// waitOf is a blocked key's wait (see keyState.wait).
func waitOf(until int64, full bool, c *clock) int64 {
	var w int64
	if until > 0 {
		w = until - c.now
	}
	if full {
		w = max(w, second)
	}
	return w
}

// lowerWait lowers *min (-1: none yet) to w.
func lowerWait(min *int64, w int64) {
	if *min < 0 || w < *min {
		*min = w
	}
}

// unavailable is Acquire's error when no key could take the request of est
// tokens. Its RetryAfter covers the enabled keys not in tried, or every
// enabled key when all were tried; minWait is the soonest wait of the keys
// found blocked while choosing. The caller holds the lock.
func (p *Pool) unavailable(targets []Target, tried map[string]bool, est, minWait int64, c *clock) error {
	var groups []*group
	for _, t := range targets {
		if g := p.groups[t.Upstream]; g != nil && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	// Keys and enabled keys, in all and among those tried.
	var keys, enabled, triedKeys, triedEnabled, triedEvent int
	for _, g := range groups {
		keys += len(g.slots) - g.dead
		enabled += g.count[condIn] + g.count[condTimed] + g.count[condEvent]
	}
	for id := range tried {
		s := p.byID[id]
		if s == nil || !slices.Contains(groups, s.g) {
			continue
		}
		triedKeys++
		if s.cond == condEvent {
			triedEvent++
		}
		if s.cond != condOff {
			triedEnabled++
		}
	}
	// As long as some key was not tried, only those count (they are all
	// disabled, or blocked); when every key was tried, all of them count,
	// so that the client still hears when to come back.
	if keys == triedKeys {
		if enabled == 0 {
			return &Unavailable{AllDisabled: true}
		}
		// Every key was tried: a handful, checked one by one.
		for id := range tried {
			if s := p.byID[id]; s != nil && s.cond != condOff && slices.Contains(groups, s.g) {
				until, full := p.block(s, c, est)
				lowerWait(&minWait, waitOf(until, full, c))
			}
		}
	} else {
		if enabled == triedEnabled {
			return &Unavailable{AllDisabled: true}
		}
		// Keys blocked by time, the soonest first (for a request of no
		// tokens: one of many tokens may wait longer on a token limit),
		// and keys waiting for a request to end.
		events := 0
		for _, g := range groups {
			if at := g.soonest(func(s *slot) bool { return tried[s.spec.ID] }); at > 0 {
				lowerWait(&minWait, at-c.now)
			}
			events += g.count[condEvent]
		}
		if events > triedEvent {
			lowerWait(&minWait, second)
		}
	}
	if minWait < 0 {
		minWait = second // an enabled key is blocked somehow; cannot happen
	}
	secs := max((minWait+second-1)/second, 1)
	return &Unavailable{RetryAfter: time.Duration(secs) * time.Second}
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
	if l.pool.sh.remote != nil {
		l.doneRemote(o, actual)
		return
	}
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
	ks.touch(&c)
}

// nextTier is the lowest priority among targets above tier (any priority
// before the first tier is started): tiers are tried in ascending order.
func nextTier(targets []Target, tier int, started bool) (int, bool) {
	next, ok := 0, false
	for _, t := range targets {
		if (!started || t.Priority > tier) && (!ok || t.Priority < next) {
			next, ok = t.Priority, true
		}
	}
	return next, ok
}

// draw picks one key of groups at random by weight, from the trees of
// eligible keys; nil when none is eligible. The caller holds the lock.
func draw(groups []*group) *slot {
	var total int64
	for _, g := range groups {
		total += g.tree.sum
	}
	if total == 0 {
		return nil
	}
	r := rand.Int64N(total)
	var g *group
	for _, g = range groups {
		if r < g.tree.sum {
			break
		}
		r -= g.tree.sum
	}
	return g.pick(r)
}
