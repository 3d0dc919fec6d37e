package pool

import (
	"context"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/limits"
	"github.com/llmproxy/caddy-llm-proxy/store"
)

// Named clients' own limits.
//
// A client with limits (rpm, rpd, tpm, tpd, concurrency) has counters of
// its own, kept like a key's: a keyState under a state ID of its own on
// local storage (persisted with the keys' states), three Redis keys on
// Redis. Its request is admitted in the same step as the key that serves
// it: under the one lock locally, in the one script call on Redis. So the
// client is counted only when a key takes the request, and a key only when
// the client may send it; neither counts what the other refused.
//
// A client request is counted once, however many attempts (retries on
// other keys) it takes: the first admitted attempt takes the client's
// slot, in a ClientHold that the request keeps to its end, when Release
// frees the concurrency slot and settles the tokens with the real usage.
//
// A client without limits has no Client (nil): its requests cost nothing
// here, no lock time, no allocation, no Redis key.

// Client is one named client's limits, for AcquireFor.
type Client struct {
	Name   string
	Limits limits.Set // weight and interval do not apply to clients
	id     string     // state ID (local) or Redis key stem
	ks     *keyState  // local storage: its counters; nil on Redis
}

// clientStateID is the state ID of a client of instance: it begins with
// '@', which no key ID does (they begin with their upstream's name).
func clientStateID(instance, name string) string { return "@client/" + instance + "/" + name }

// Client returns the limiter of client name of this Pool's instance, or nil
// when l caps nothing a client can be capped by (rpm, rpd, tpm, tpd,
// concurrency). Limiters of one name share their counters, across reloads
// and (on Redis) instances; a changed limit applies to the next request.
func (p *Pool) Client(name string, l limits.Set) *Client {
	l.Weight, l.Interval = 0, 0
	if l == (limits.Set{}) {
		return nil
	}
	cl := &Client{Name: name, Limits: l, id: clientStateID(p.instance, name)}
	if p.sh.remote == nil {
		p.sh.mu.Lock()
		cl.ks = p.sh.stateOf(cl.id)
		p.sh.mu.Unlock()
	}
	return cl
}

// ClientHold is one client request's place under its client's limits. The
// request keeps it (a zero value, by value in the request's own state)
// from its first attempt to its end: AcquireFor fills it when it admits
// the client with a key, and Release empties it.
type ClientHold struct {
	Client *Client // nil: the client has no limits
	held   bool
	seq    uint64 // local: the start's sequence number and day
	day    int32
	est    int64

	// On Redis: the client's lease id, its bin's sequence number and day;
	// unlimited when admitted while Redis was unreachable (on_error open).
	rid       string
	rseq      int64
	rday      int64
	unlimited bool
}

// Held reports whether the hold took a place under the client's limits
// that Release has yet to free.
func (h *ClientHold) Held() bool { return h != nil && h.held }

// needs reports whether an Acquire for h must admit the client too.
func (h *ClientHold) needs() bool { return h != nil && h.Client != nil && !h.held }

// Release ends the client request of h: it frees the concurrency slot and
// replaces the estimate reserved at admission with actual tokens. Nothing
// happens for a hold that holds nothing; calls after the first do nothing.
func (p *Pool) Release(h *ClientHold, actual int64) {
	if !h.Held() {
		return
	}
	h.held = false
	actual = max(actual, 0)
	if h.unlimited {
		return
	}
	if p.sh.remote != nil {
		p.releaseRemote(h, actual)
		return
	}
	ks := h.Client.ks
	p.sh.mu.Lock()
	c := p.clock()
	ks.sync(&c)
	ks.settle(h.seq, h.day, h.est, actual)
	p.sh.mu.Unlock()
}

// clientBlocked is the error of an Acquire that the client's own limits
// refused; wait is how long until it could be admitted.
func clientBlocked(wait int64) *Unavailable {
	secs := max((wait+second-1)/second, 1)
	return &Unavailable{Client: true, RetryAfter: time.Duration(secs) * time.Second}
}

// ClientUsage is the client's use, counted like a key's (see Usage). On
// Redis it is read from Redis (every instance's use); ok is false when it
// could not be.
func (p *Pool) ClientUsage(cl *Client) (u Usage, ok bool) {
	if cl == nil {
		return Usage{}, false
	}
	if rm := p.sh.remote; rm != nil {
		if rm.r.Down() {
			return Usage{}, false
		}
		h, e, f := rm.keys(cl.id)
		p.sh.mu.Lock()
		c := p.clock()
		days := p.dayArgs(&c)
		p.sh.mu.Unlock()
		ctx, cancel := context.WithTimeout(rm.r.Context(), callTimeout)
		res, err := statusScript.Run(ctx, rm.r.Client(), []string{h, e, f}, days[:]...).Slice()
		cancel()
		if err != nil || len(res) != 1 {
			if err != nil {
				rm.r.Failed(err)
			}
			return Usage{}, false
		}
		row, _ := res[0].([]any)
		if len(row) < 6 {
			return Usage{}, false
		}
		return rowUsage(row), true
	}
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	c := p.clock()
	cl.ks.sync(&c)
	return cl.ks.usage(), true
}

// clientArgs are the keys and leading arguments of an acquire operation
// that admits client h too ('A', see batchScript).
func (rm *remote) clientArgs(h *ClientHold, keys []string, args []any) ([]string, []any, string) {
	ch, ce, cf := rm.keys(h.Client.id)
	keys = append(keys, ch, ce, cf)
	lid := rm.r.Origin + ":c" + strconv.FormatUint(rm.lease.Add(1), 36)
	la := limitArgs(&h.Client.Limits)
	args = append(args, "A", lid)
	args = append(args, la[:]...)
	return keys, args, lid
}

// clientAnswer reads the client's part of an 'A' operation's answer: the
// last element, {'client', until, full, seq, day}.
func clientAnswer(res []any) (until int64, full bool, seq, day int64, ok bool) {
	if len(res) < 5 {
		return 0, false, 0, 0, false
	}
	row, _ := res[len(res)-1].([]any)
	if len(row) < 3 || asStr(row[0]) != "client" {
		return 0, false, 0, 0, false
	}
	if len(row) >= 5 {
		seq, day = asInt(row[3]), asInt(row[4])
	}
	return asInt(row[1]) * 1e6, asInt(row[2]) == 1, seq, day, true
}

// releaseRemote is Release on Redis storage.
func (p *Pool) releaseRemote(h *ClientHold, actual int64) {
	rm := p.sh.remote
	rm.mu.Lock()
	delete(rm.liveClients, h.rid)
	rm.mu.Unlock()
	id, rid, seq, day, est := h.Client.id, h.rid, h.rseq, h.rday, h.est
	run := func() error {
		if rm.r.Down() {
			return store.ErrDown
		}
		ch, ce, cf := rm.keys(id)
		p.sh.mu.Lock()
		c := p.clock()
		days := p.dayArgs(&c)
		p.sh.mu.Unlock()
		_, err := rm.pl.do([]string{ch, ce, cf}, []any{"c", rid, seq, day, est, actual, days[0], days[1], days[2], days[3]})
		return err
	}
	if err := run(); err != nil {
		if ce := p.sh.logger.Check(zap.DebugLevel, "ending a client request in Redis failed; trying again"); ce != nil {
			ce.Write(zap.Error(err))
		}
		rm.later(run)
	}
}

// ResetClient zeroes a client's counters (a client made anew under the
// name of one deleted before starts from nothing). Requests in flight stay
// counted as in flight.
func (p *Pool) ResetClient(cl *Client) error {
	if cl == nil {
		return nil
	}
	if rm := p.sh.remote; rm != nil {
		if rm.r.Down() {
			return store.ErrDown
		}
		h, e, _ := rm.keys(cl.id)
		ctx, cancel := context.WithTimeout(rm.r.Context(), callTimeout)
		defer cancel()
		if err := resetScript.Run(ctx, rm.r.Client(), []string{h, e}).Err(); err != nil {
			return rm.r.Failed(err)
		}
		return nil
	}
	p.sh.mu.Lock()
	cl.ks.reset()
	p.sh.mu.Unlock()
	return nil
}
