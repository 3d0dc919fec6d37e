package pool

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/limits"
	"github.com/llmproxy/caddy-llm-proxy/stats"
	"github.com/llmproxy/caddy-llm-proxy/store"
)

// Shared state in Redis: storage "redis".
//
// Admission is decided in Redis, atomically, by a script (batchScript):
// for each attempt it checks the candidate keys in order against every
// limit (rolling minute, calendar day, interval, concurrency) and their
// health, records the start on the first that can take the request, and
// answers the state of every key it looked at. The end of a request is an
// operation of the same script: it frees the concurrency slot, settles the
// tokens and applies the upstream's verdict to the key's health. The
// operations of concurrent requests go to Redis together, in one script
// call (see pipeliner). Every
// instance on the same Redis and prefix thus shares exact limits, and the
// Redis server's clock is the one clock of the rolling minute.
//
// Each instance keeps a mirror of what Redis last said about each key
// (keyState.health and .hint: blocked until when), which feeds the same
// selection structure as local storage: keys are offered to Redis by
// weight among those the mirror holds eligible, one at first, then more at
// once (remoteRounds) when Redis refuses them. A refusal updates the
// mirror, so an instance learns of another's use of a key on its first
// refused try. Keys added through the admin API, overrides, resets and
// re-enablings are published on a channel (store.Redis.Publish), and the
// other instances apply them at once; a counter of changes, polled every
// second, catches a message lost to a reconnection.
//
// In-flight requests are leases in a sorted set with an expiry; an
// instance renews its own every leaseRenew, so the slots of a crashed
// instance free themselves within leaseTTL.

//go:embed redis.lua
var luaFunctions string

// luaPrelude is redis.lua behind the definitions of the constants it shares
// with the local storage (in milliseconds, Redis's clock).
var luaPrelude = fmt.Sprintf(`local MINUTE = %d
local BIN = %d
local RETRY_AFTER_MAX = %d
local B429_BASE = %d
local B429_MAX = %d
local FAILS = %d
local BFAIL_BASE = %d
local BFAIL_MAX = %d
`, time.Duration(minute).Milliseconds(), time.Duration(binWidth).Milliseconds(),
	retryAfterMax.Milliseconds(), backoff429Base.Milliseconds(), backoff429Max.Milliseconds(),
	failuresBeforeCooling, backoffFailBase.Milliseconds(), backoffFailMax.Milliseconds()) + luaFunctions

const (
	// leaseTTL is how long a request holds its concurrency slot without
	// its instance renewing it.
	leaseTTL   = 60 * time.Second
	leaseRenew = 20 * time.Second
	// fullHint is how long an instance leaves alone a key that Redis found
	// at its concurrency limit (another instance's request may end
	// meanwhile; this instance's own ends clear it at once).
	fullHint = 250 * time.Millisecond
	// callTimeout bounds one script call.
	callTimeout = 2 * time.Second
	// statusChunk is how many keys one status call reads.
	statusChunk = 256
)

// remoteRounds are how many candidates each successive script call offers
// Redis in one tier, while it refuses them: one (the usual case, where the
// mirror is right), then more at a time.
var remoteRounds = [...]int{1, 4, 16, 64}

var (
	// batchScript runs the starts (acquire) and ends (done) of requests
	// that reached the pipeliner together, in order, as one atomic script:
	// the per-call cost is paid once, and a key used by several is read
	// and written once.
	batchScript = redis.NewScript(luaPrelude + `
-- KEYS: three per key looked at (state, list, set), in the order of the
-- operations. ARGV: the operations one after another:
--
--   'a', n candidates, est, day, dayEnd, nextDay, nextEnd, lease, ttl,
--   conversation ttl, then six limits per candidate: a start on the first
--   candidate that can take it. With a conversation ttl above 0, the
--   operation's first key is the conversation's, which is set to the
--   admitted key's state hash name for that long. Its answer: {admitted candidate (0: none), seq, day, now, then
--   per candidate looked at: {code (0 admitted, 1 blocked, 2 disabled),
--   until and full for est, until and full for 0 tokens (after the
--   admission), state, reason, until}}.
--
--   'A', the client's lease, its six limits, then an 'a' operation
--   whose letter is '': a start that also admits a client (its three keys
--   come first), only when the client is under its limits and only with
--   a key that takes the request. The 'a' answer, then {'client', until,
--   full} when the client is blocked (no key looked at), or {'client', 0,
--   0, seq, day} when it was admitted.
--
--   'c', lease, seq, the start's day, est, actual tokens, day, dayEnd,
--   nextDay, nextEnd: the end of a client's request. Its answer: {now}.
--
--   'd', lease ('' for none), seq (-1: nothing to settle), the start's day,
--   est, actual tokens, canceled ('1': leave health alone), status,
--   retry-after (ms), quota exhausted (0/1), reason, day, dayEnd, nextDay,
--   nextEnd, six limits: the end of a request (or a probe's verdict). Its
--   answer: {until, full (for 0 tokens), state, reason, until, now}.
local now = clock()
local cache = {}
local function state(h, e, day)
  local s = cache[h]
  if not s then
    s = load(h)
    cache[h] = s
    sync(s, e, now, day)
  end
  return s
end
local out = {}
local a, k = 1, 1
while a <= #ARGV do
  if ARGV[a] == 'a' or ARGV[a] == 'A' then
    local cl
    if ARGV[a] == 'A' then
      cl = {h = KEYS[k], e = KEYS[k + 1], f = KEYS[k + 2], lease = ARGV[a + 1], lim = limitsAt(a + 2)}
      k, a = k + 3, a + 8
    end
    local n, est = tonumber(ARGV[a + 1]), num(ARGV[a + 2])
    local day, midnight = today(now, a + 3)
    local lease, ttl, cttl = ARGV[a + 7], num(ARGV[a + 8]), num(ARGV[a + 9])
    local conv
    if cttl > 0 then
      conv, k = KEYS[k], k + 1
    end
    local res = {0, 0, 0, now}
    local cs, cres, blocked = nil, nil, false
    if cl then
      cs = state(cl.h, cl.e, day)
      local u, full = block(cs, cl.e, cl.f, cl.lim, now, est, midnight)
      if u ~= 0 or full ~= 0 then
        blocked, cres = true, {'client', u, full}
      end
    end
    for i = 1, n do
      local h, e, f = KEYS[k], KEYS[k + 1], KEYS[k + 2]
      k = k + 3
      local lim = limitsAt(a + 10 + 6 * (i - 1))
      if res[1] == 0 and not blocked then
        local s = state(h, e, day)
        local r
        if s.st == 'disabled' then
          r = {2, 0, 0, 0, 0}
        else
          local u, full = block(s, e, f, lim, now, est, midnight)
          if u == 0 and full == 0 then
            local seq = admit(s, e, f, now, est, lease, ttl)
            s.dirty = true
            if cs then
              local cseq = admit(cs, cl.e, cl.f, now, est, cl.lease, ttl)
              cs.dirty = true
              cres = {'client', 0, 0, cseq, cs.day}
            end
            local u0, f0 = block(s, e, f, lim, now, 0, midnight)
            res[1], res[2], res[3] = i, seq, s.day
            r = {0, 0, 0, u0, f0}
            if conv then redis.call('SET', conv, h, 'PX', cttl) end
          else
            local u0, f0 = u, full
            if est > 0 then u0, f0 = block(s, e, f, lim, now, 0, midnight) end
            r = {1, u, full, u0, f0}
          end
        end
        r[6], r[7], r[8] = s.st, s.reason, s.ut
        res[#res + 1] = r
      end
    end
    a = a + 10 + 6 * n
    if cres then res[#res + 1] = cres end
    out[#out + 1] = res
  elseif ARGV[a] == 'c' then
    local h, e, f = KEYS[k], KEYS[k + 1], KEYS[k + 2]
    k = k + 3
    local s = state(h, e, today(now, a + 6))
    if ARGV[a + 1] ~= '' and redis.call('ZREM', f, ARGV[a + 1]) == 1 then
      s.fl = nil
    end
    settle(s, e, num(ARGV[a + 2]), num(ARGV[a + 3]), num(ARGV[a + 4]), num(ARGV[a + 5]))
    s.dirty = true
    out[#out + 1] = {now}
    a = a + 10
  else
    local h, e, f = KEYS[k], KEYS[k + 1], KEYS[k + 2]
    k = k + 3
    local day, midnight = today(now, a + 11)
    local s = state(h, e, day)
    if ARGV[a + 1] ~= '' and redis.call('ZREM', f, ARGV[a + 1]) == 1 then
      s.fl = nil -- count again when needed
    end
    local seq = num(ARGV[a + 2])
    if seq >= 0 then settle(s, e, seq, num(ARGV[a + 3]), num(ARGV[a + 4]), num(ARGV[a + 5])) end
    if ARGV[a + 6] ~= '1' then
      observe(s, now, midnight, num(ARGV[a + 7]), num(ARGV[a + 8]), num(ARGV[a + 9]), ARGV[a + 10])
    end
    s.dirty = true
    local u0, f0 = block(s, e, f, limitsAt(a + 15), now, 0, midnight)
    out[#out + 1] = {u0, f0, s.st, s.reason, s.ut, now}
    a = a + 21
  end
end
for h, s in pairs(cache) do
  if s.dirty then save(h, s) end
end
return out`)

	statusScript = redis.NewScript(luaPrelude + `
-- KEYS: each key's hash, list and set. ARGV: day, dayEnd, nextDay,
-- nextEnd. Returns per key {minute, day, total, tokens today, tokens in
-- total, in flight, state, reason, until}.
local now = clock()
local day = today(now, 1)
local out = {}
for i = 1, #KEYS / 3 do
  local h, e, f = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local s = load(h)
  sync(s, e, now, day)
  if s.dirty and redis.call('EXISTS', h) == 1 then save(h, s) end
  redis.call('ZREMRANGEBYSCORE', f, '-inf', str(now))
  out[i] = {s.mr, s.dr, s.r, s.dt, s.t, redis.call('ZCARD', f), s.st, s.reason, s.ut}
end
return out`)

	enableScript = redis.NewScript(luaPrelude + `
-- KEYS: hash. A key health disabled is active again.
local s = load(KEYS[1])
if s.st == 'disabled' then
  s.st, s.reason, s.ut, s.fail, s.n429 = 'active', '', 0, 0, 0
  save(KEYS[1], s)
end
return health(s)`)

	resetScript = redis.NewScript(luaPrelude + `
-- KEYS: hash, list. Zero the counters, clear the health verdict; requests
-- in flight stay in flight, and their ends settle nothing that is gone.
local s = load(KEYS[1])
s.rs = s.sn
s.mr, s.mt, s.dr, s.dt, s.r, s.t, s.last, s.fail, s.n429 = 0, 0, 0, 0, 0, 0, 0, 0, 0
s.st, s.reason, s.ut = 'active', '', 0
redis.call('DEL', KEYS[2])
save(KEYS[1], s)
return health(s)`)

	renewScript = redis.NewScript(luaPrelude + `
-- KEYS: sets; ARGV: ttl, then the lease in each set. Leases still held
-- (not ended) expire ttl from now.
local now = clock()
local ttl = num(ARGV[1])
for i, f in ipairs(KEYS) do
  if redis.call('ZADD', f, 'XX', 'CH', str(now + ttl), ARGV[i + 1]) == 1 then
    redis.call('PEXPIRE', f, str(ttl + 10000))
  end
end
return #KEYS`)
)

// remote is the shared state's link to Redis.
type remote struct {
	r      *store.Redis
	pl     *pipeliner
	logger *zap.Logger
	lease  atomic.Uint64 // lease counter

	mu   sync.Mutex
	live map[string]*Lease // leases out, by lease id, for renewal
	// liveClients are the client holds out (lease id -> client's Redis
	// key stem), for renewal.
	liveClients map[string]string
	retry       []func() error // ends that failed to reach Redis, tried again

	lastVer atomic.Int64 // highest change count heard of
	gapVer  int64        // a change count seen by the poll but not heard of yet
	warned  atomic.Int64 // unix ns of the last "serving without limits" warning
}

// redisKeys are the Redis keys of a key's state.
func (rm *remote) keys(id string) (h, e, f string) {
	return rm.r.Key("k:" + id), rm.r.Key("e:" + id), rm.r.Key("f:" + id)
}

// newSharedRemote is newShared for Redis.
func newSharedRemote(r *store.Redis, logger *zap.Logger) *shared {
	rm := &remote{r: r, pl: newPipeliner(r), logger: logger, live: map[string]*Lease{}, liveClients: map[string]string{}}
	s := &shared{
		store:  r,
		logger: logger,
		keys:   map[string]*keyState{},
		usage:  stats.NewBook(r, logger),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		remote: rm,
	}
	if v, err := r.Version(); err == nil {
		rm.lastVer.Store(v)
	}
	first := true
	r.Subscribe(func(m store.Message) { s.heard(m) }, func() {
		if first {
			first = false
			return
		}
		s.resync()
	})
	r.OnUp(s.resync)
	go s.runRemote()
	return s
}

// runRemote is the flusher of Redis storage: usage statistics and the
// change poll every second, lease renewal every leaseRenew, and the ends
// that failed to reach Redis.
func (s *shared) runRemote() {
	defer close(s.done)
	rm := s.remote
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	lastRenew := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if rm.r.Down() {
			continue
		}
		err := s.usage.Flush(time.Now())
		switch {
		case err != nil && !s.failing:
			s.logger.Error("saving usage statistics to Redis failed; will keep retrying", zap.Error(err))
		case err == nil && s.failing:
			s.logger.Info("saving usage statistics to Redis works again")
		}
		s.failing = err != nil
		s.poll()
		rm.retryEnds()
		if time.Since(lastRenew) >= leaseRenew {
			lastRenew = time.Now()
			rm.renew()
		}
	}
}

// poll compares the change counter with the changes heard of: a change
// still unheard of a second after the poll saw it was lost (a reconnection
// dropped its message), and everything is read again.
func (s *shared) poll() {
	rm := s.remote
	v, err := rm.r.Version()
	if err != nil {
		return
	}
	heard := rm.lastVer.Load()
	switch {
	case v <= heard:
		rm.gapVer = 0
	case rm.gapVer == 0 || rm.gapVer > v:
		rm.gapVer = v
	case heard < rm.gapVer:
		rm.gapVer = 0
		rm.lastVer.Store(v)
		s.resync()
	}
}

// heard handles a change published by an instance.
func (s *shared) heard(m store.Message) {
	rm := s.remote
	for {
		old := rm.lastVer.Load()
		if m.Version <= old || rm.lastVer.CompareAndSwap(old, m.Version) {
			break
		}
	}
	if m.Origin == rm.r.Origin {
		return
	}
	kind, rest, _ := strings.Cut(m.Body, " ")
	instance, list, _ := strings.Cut(rest, " ")
	var ids []string
	if list != "*" && list != "" {
		ids = strings.Split(list, ",")
	}
	switch kind {
	case "health":
		s.refreshMirrors(ids)
	case "keys", "overrides":
		for _, p := range s.poolList() {
			if p.instance == instance && p.changed != nil {
				p.changed(ids)
			}
		}
	case "clients":
		for _, p := range s.poolList() {
			if p.instance == instance && p.clientsChanged != nil {
				p.clientsChanged()
			}
		}
	}
}

// resync reads everything again after changes may have been missed.
func (s *shared) resync() {
	for _, p := range s.poolList() {
		if p.changed != nil {
			p.changed(nil)
		}
		if p.clientsChanged != nil {
			p.clientsChanged()
		}
	}
	s.refreshMirrors(nil)
}

func (s *shared) poolList() []*Pool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pools)
}

// refreshMirrors reads again from Redis the state of keys ids, or of every
// key the mirror holds blocked or disabled when ids is nil.
func (s *shared) refreshMirrors(ids []string) {
	for _, p := range s.poolList() {
		var slots []*slot
		s.mu.Lock()
		if ids == nil {
			for _, sl := range p.slots {
				if sl.cond != condIn {
					slots = append(slots, sl)
				}
			}
		} else {
			for _, id := range ids {
				if sl := p.byID[id]; sl != nil {
					sl.ks.hint = 0
					slots = append(slots, sl)
				}
			}
		}
		s.mu.Unlock()
		_, _ = p.readRemote(slots)
	}
}

// publish tells the other instances that kind ("keys", "overrides" or
// "health") changed for ids of instance.
func (p *Pool) publish(kind string, ids []string) {
	rm := p.sh.remote
	if rm == nil {
		return
	}
	list := "*"
	if len(ids) > 0 && len(ids) <= 1000 {
		list = strings.Join(ids, ",")
	}
	if err := rm.r.Publish(kind + " " + p.instance + " " + list); err != nil {
		p.sh.logger.Warn("telling other instances of a change failed; they will notice within seconds", zap.Error(err))
	}
}

// dayArgs are the calendar-day arguments of the scripts: today (yyyymmdd in
// the Pool's Location) and its end, the next day and its end, in ms.
func (p *Pool) dayArgs(c *clock) [4]any {
	if p.days.day != c.day || c.now >= p.days.end || c.now < p.days.start {
		t := c.t.In(p.loc)
		y, m, d := t.Date()
		start := time.Date(y, m, d, 0, 0, 0, 0, p.loc)
		end := time.Date(y, m, d+1, 0, 0, 0, 0, p.loc)
		next := time.Date(y, m, d+2, 0, 0, 0, 0, p.loc)
		ny, nm, nd := end.Date()
		p.days.day, p.days.start, p.days.end = c.day, start.UnixNano(), end.UnixNano()
		p.days.args = [4]any{c.day, end.UnixMilli(), int32(ny*10000 + int(nm)*100 + nd), next.UnixMilli()}
	}
	return p.days.args
}

// dayCache holds dayArgs between two days.
type dayCache struct {
	day        int32
	start, end int64
	args       [4]any
}

// limitArgs are the six limits of a key as the scripts take them.
func limitArgs(l *limits.Set) [6]any {
	return [6]any{l.RPM, l.RPD, l.TPM, l.TPD, (int64(l.Interval) + 999_999) / 1_000_000, l.Concurrency}
}

// sample draws up to k distinct keys of groups by weight, without
// replacement, skipping tried and aside; the caller holds the lock.
func (p *Pool) sample(groups []*group, k int, tried map[string]bool, aside []*slot) []*slot {
	held := p.scratch[:0]
	hold := func(s *slot) {
		if s.cond == condIn && !slices.Contains(held, s) && slices.Contains(groups, s.g) {
			s.g.tree.add(s.pos, -s.w)
			held = append(held, s)
		}
	}
	for id := range tried {
		if s := p.byID[id]; s != nil {
			hold(s)
		}
	}
	for _, s := range aside {
		hold(s)
	}
	skip := len(held)
	for range k {
		s := draw(groups)
		if s == nil {
			break
		}
		hold(s)
	}
	out := slices.Clone(held[skip:])
	for _, s := range held {
		s.g.tree.add(s.pos, s.w)
	}
	clear(held)
	p.scratch = held[:0]
	return out
}

// acquireRemote is Acquire on Redis storage. The key conversation cv had
// is offered first, ahead of the weighted draw, in the one script call
// that admits the first of them that can take the request.
func (p *Pool) acquireRemote(h *ClientHold, targets []Target, est int64, tried map[string]bool, cv *Conversation) (*Lease, error) {
	rm := p.sh.remote
	if rm.r.Down() {
		return p.acquireDown(h, targets, est, tried)
	}
	var (
		aside     []*slot
		minWait   int64 = -1
		tier      int
		started   bool
		exhausted bool // some tier still had candidates when the rounds ran out
		gs        [4]*group
	)
	for {
		next, ok := nextTier(targets, tier, started)
		if !ok {
			break
		}
		tier, started = next, true
		for round, k := range remoteRounds {
			p.sh.mu.Lock()
			c := p.clock()
			groups := p.tierGroups(targets, tier, gs[:0], &c)
			var cands []*slot
			if round == 0 && cv != nil {
				if s := p.preferred(cv.key, groups, &c, est, tried); s != nil {
					aside = append(aside, s)
					cands = append(p.sample(groups, k, tried, aside), nil)
					copy(cands[1:], cands)
					cands[0] = s
				}
			}
			if cands == nil {
				cands = p.sample(groups, k, tried, aside)
			}
			days := p.dayArgs(&c)
			p.sh.mu.Unlock()
			if len(cands) == 0 {
				break
			}
			l, err := p.tryRemote(h, cands, est, days, &minWait, cv)
			if err != nil {
				if rm.r.Down() {
					return p.acquireDown(h, targets, est, tried)
				}
				return nil, err
			}
			if l != nil {
				if cv != nil {
					cv.key = l.Key.ID
				}
				return l, nil
			}
			aside = append(aside, cands...)
			if round == len(remoteRounds)-1 {
				exhausted = true
			}
		}
		if exhausted {
			break // the tier may still have a key: do not fall through
		}
	}
	if exhausted {
		lowerWait(&minWait, second)
	}
	p.sh.mu.Lock()
	c := p.clock()
	err := p.unavailable(targets, tried, est, minWait, &c)
	p.sh.mu.Unlock()
	return nil, err
}

// tryRemote offers cands to Redis in order for a request of est tokens;
// it returns the lease on the one admitted, if any, and lowers *minWait to
// the waits of those refused. The mirror learns what Redis said of each.
//
// With a client to admit (h.needs), the client is checked and counted in
// the same script call: a client at one of its limits is an *Unavailable
// with Client set, and h holds its place once a key took the request.
func (p *Pool) tryRemote(h *ClientHold, cands []*slot, est int64, days [4]any, minWait *int64, cv *Conversation) (*Lease, error) {
	rm := p.sh.remote
	withClient := h.needs()
	keys := make([]string, 0, 3*len(cands)+4)
	args := make([]any, 0, 18+6*len(cands))
	var clid string
	op := "a"
	if withClient {
		keys, args, clid = rm.clientArgs(h, keys, args)
		op = "" // the 'A' operation holds the place of the letter
	}
	lid := rm.r.Origin + ":" + strconv.FormatUint(rm.lease.Add(1), 36)
	var cttl int64
	if cv != nil {
		cttl = max(cv.TTL.Milliseconds(), 1)
		keys = append(keys, rm.convKey(cv.ID))
	}
	args = append(args, op, len(cands), est, days[0], days[1], days[2], days[3], lid, leaseTTL.Milliseconds(), cttl)
	for _, s := range cands {
		h, e, f := rm.keys(s.spec.ID)
		keys = append(keys, h, e, f)
		la := limitArgs(&s.spec.Limits)
		args = append(args, la[:]...)
	}
	res, err := rm.pl.do(keys, args)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	if len(res) < 4 {
		return nil, fmt.Errorf("redis: unexpected answer %v", res)
	}
	admitted := int(asInt(res[0]))
	now := asInt(res[3]) * 1e6
	if withClient {
		until, full, cseq, cday, ok := clientAnswer(res)
		switch {
		case !ok && admitted != 0:
			return nil, fmt.Errorf("redis: unexpected answer %v", res)
		case ok && admitted == 0 && (until != 0 || full):
			var w int64
			if until > 0 {
				w = until - now
			}
			if full {
				w = max(w, second)
			}
			return nil, clientBlocked(max(w, 0))
		case admitted != 0:
			h.rid, h.rseq, h.rday, h.est, h.held = clid, cseq, cday, est, true
			rm.mu.Lock()
			rm.liveClients[clid] = h.Client.id
			rm.mu.Unlock()
		}
	}
	var lease *Lease
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	c := p.clock()
	for i, r := range res[4:] {
		if i >= len(cands) {
			break
		}
		row, _ := r.([]any)
		if len(row) < 8 {
			continue
		}
		s := cands[i]
		code := asInt(row[0])
		p.mirror(s, asStr(row[5]), asStr(row[6]), asInt(row[7])*1e6, asInt(row[3])*1e6, asInt(row[4]) == 1, now, &c)
		switch code {
		case 0:
			if admitted == i+1 {
				lease = &Lease{
					Key: s.spec, Upstream: s.spec.Upstream, pool: p, ks: s.ks, estimate: est,
					rid: lid, rseq: asInt(res[1]), rday: asInt(res[2]),
				}
			}
		case 1:
			u, full := asInt(row[1])*1e6, asInt(row[2]) == 1
			var w int64
			if u > 0 {
				w = u - now
			}
			if full {
				w = max(w, second)
			}
			lowerWait(minWait, max(w, 0))
		}
	}
	if lease != nil {
		rm.mu.Lock()
		rm.live[lid] = lease
		rm.mu.Unlock()
	}
	return lease, nil
}

// mirror records what Redis said of key s: its health, and until when it
// is blocked for a request of no tokens (until, in Redis's clock at now,
// and full: at its concurrency limit). The caller holds the lock.
func (p *Pool) mirror(s *slot, state, reason string, hUntil, until int64, full bool, now int64, c *clock) {
	ks := s.ks
	switch State(state) {
	case StateCooling, StateExhausted, StateDisabled:
		ks.health, ks.reason = State(state), reason
	default:
		ks.health, ks.reason = StateActive, ""
	}
	// Times come in the server's clock; the mirror keeps them in ours.
	skew := c.now - now
	ks.until = 0
	if hUntil > 0 {
		ks.until = hUntil + skew
	}
	ks.hint = 0
	if until > 0 {
		ks.hint = until + skew
	}
	if full {
		ks.hint = max(ks.hint, c.now+int64(fullHint))
	}
	ks.touch(c)
}

// acquireDown is Acquire while Redis is unreachable: refused at once with
// on_error closed; with on_error open, a healthy key chosen by weight,
// without limits (those eligible when Redis was last heard preferred), and
// a warning logged at most every 10 s.
func (p *Pool) acquireDown(h *ClientHold, targets []Target, est int64, tried map[string]bool) (*Lease, error) {
	if !p.failOpen {
		return nil, &Unavailable{StoreDown: true, RetryAfter: time.Second}
	}
	if h.needs() {
		// Without Redis there is no count to keep: the client goes
		// unlimited like the keys, and its end settles nothing.
		h.held, h.unlimited = true, true
	}
	rm := p.sh.remote
	now := time.Now().UnixNano()
	if last := rm.warned.Load(); now-last > int64(10*time.Second) && rm.warned.CompareAndSwap(last, now) {
		p.sh.logger.Warn("Redis is unreachable: SERVING WITHOUT LIMITS (on_error open); requests now are not counted",
			zap.String("instance", p.instance))
	}
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	c := p.clock()
	var gs [4]*group
	tier, started := 0, false
	for {
		next, ok := nextTier(targets, tier, started)
		if !ok {
			break
		}
		tier, started = next, true
		groups := p.tierGroups(targets, tier, gs[:0], &c)
		if s := pickHealthy(groups, &c, tried); s != nil {
			return &Lease{Key: s.spec, Upstream: s.spec.Upstream, pool: p, ks: s.ks, estimate: est, unlimited: true}, nil
		}
	}
	return nil, p.unavailable(targets, tried, est, -1, &c)
}

// doneRemote is Done on Redis storage.
func (l *Lease) doneRemote(o Outcome, actual int64) {
	p := l.pool
	rm := p.sh.remote
	if l.unlimited {
		p.sh.mu.Lock()
		c := p.clock()
		if !o.Canceled {
			l.ks.observe(o, &c)
		}
		l.ks.touch(&c)
		p.sh.mu.Unlock()
		return
	}
	rm.mu.Lock()
	delete(rm.live, l.rid)
	rm.mu.Unlock()
	res, err := p.runDone(*l.Key, l.rid, l.rseq, l.rday, l.estimate, actual, o)
	p.sh.mu.Lock()
	defer p.sh.mu.Unlock()
	c := p.clock()
	if err != nil {
		// The mirror learns the verdict now; Redis when it answers again
		// (until then the lease keeps its slot, at most leaseTTL).
		if !o.Canceled {
			l.ks.observe(o, &c)
		}
		l.ks.touch(&c)
		// The retry closure exists only here, so an ordinary end allocates none.
		rm.later(func() error {
			_, err := p.runDone(*l.Key, l.rid, l.rseq, l.rday, l.estimate, actual, o)
			return err
		})
		return
	}
	p.mirrorDone(l.pool.byID[l.Key.ID], res, &c)
}

// runDone runs the end of a request (or a probe's verdict) for key spec.
func (p *Pool) runDone(spec KeySpec, lid string, seq, day, est, actual int64, o Outcome) ([]any, error) {
	rm := p.sh.remote
	if rm.r.Down() {
		return nil, store.ErrDown
	}
	h, e, f := rm.keys(spec.ID)
	p.sh.mu.Lock()
	c := p.clock()
	days := p.dayArgs(&c)
	p.sh.mu.Unlock()
	canceled, quota := "0", 0
	if o.Canceled {
		canceled = "1"
	}
	if o.QuotaExhausted {
		quota = 1
	}
	la := limitArgs(&spec.Limits)
	args := []any{"d", lid, seq, day, est, actual, canceled, o.Status, o.RetryAfter.Milliseconds(), quota, o.Reason,
		days[0], days[1], days[2], days[3]}
	args = append(args, la[:]...)
	res, err := rm.pl.do([]string{h, e, f}, args)
	if err != nil {
		return nil, err
	}
	if len(res) < 6 {
		return nil, fmt.Errorf("redis: unexpected answer %v", res)
	}
	return res, nil
}

// mirrorDone records the answer of an end for s (nil: the key left the
// Pool); the caller holds the lock.
func (p *Pool) mirrorDone(s *slot, res []any, c *clock) {
	if s == nil {
		return
	}
	p.mirror(s, asStr(res[2]), asStr(res[3]), asInt(res[4])*1e6, asInt(res[0])*1e6, asInt(res[1]) == 1, asInt(res[5])*1e6, c)
}

// later queues an end that failed to reach Redis, to be tried again for a
// while (its lease expires by itself anyway).
func (rm *remote) later(f func() error) {
	rm.mu.Lock()
	if len(rm.retry) < 10000 {
		rm.retry = append(rm.retry, f)
	}
	rm.mu.Unlock()
}

// retryEnds tries the queued ends again.
func (rm *remote) retryEnds() {
	rm.mu.Lock()
	todo := rm.retry
	rm.retry = nil
	rm.mu.Unlock()
	for i, f := range todo {
		if err := f(); err != nil && store.IsUnreachable(err) {
			rm.mu.Lock()
			rm.retry = append(todo[i:], rm.retry...)
			rm.mu.Unlock()
			return
		}
	}
}

// renew extends the leases of this instance's requests in flight.
func (rm *remote) renew() {
	rm.mu.Lock()
	keys := make([]string, 0, len(rm.live))
	args := make([]any, 1, len(rm.live)+1)
	args[0] = leaseTTL.Milliseconds()
	for id, l := range rm.live {
		_, _, f := rm.keys(l.Key.ID)
		keys = append(keys, f)
		args = append(args, id)
	}
	for id, stem := range rm.liveClients {
		_, _, f := rm.keys(stem)
		keys = append(keys, f)
		args = append(args, id)
	}
	rm.mu.Unlock()
	for len(keys) > 0 {
		n := min(len(keys), 500)
		ctx, cancel := context.WithTimeout(rm.r.Context(), callTimeout)
		err := renewScript.Run(ctx, rm.r.Client(), keys[:n], append([]any{args[0]}, args[1:n+1]...)...).Err()
		cancel()
		if err != nil {
			rm.logger.Warn("renewing the leases of requests in flight failed", zap.Error(rm.r.Failed(err)))
			return
		}
		keys, args = keys[n:], append(args[:1], args[n+1:]...)
	}
}

// readRemote reads the state of slots from Redis, updating their mirrors;
// ok is false when Redis could not be read.
func (p *Pool) readRemote(slots []*slot) (out []KeyStatus, ok bool) {
	rm := p.sh.remote
	out = make([]KeyStatus, 0, len(slots))
	for len(slots) > 0 {
		chunk := slots[:min(len(slots), statusChunk)]
		slots = slots[len(chunk):]
		keys := make([]string, 0, 3*len(chunk))
		for _, s := range chunk {
			h, e, f := rm.keys(s.spec.ID)
			keys = append(keys, h, e, f)
		}
		if rm.r.Down() {
			return out, false
		}
		p.sh.mu.Lock()
		c := p.clock()
		days := p.dayArgs(&c)
		p.sh.mu.Unlock()
		ctx, cancel := context.WithTimeout(rm.r.Context(), callTimeout)
		res, err := statusScript.Run(ctx, rm.r.Client(), keys, days[:]...).Slice()
		cancel()
		if err != nil {
			rm.r.Failed(err)
			return out, false
		}
		p.sh.mu.Lock()
		c = p.clock()
		for i, r := range res {
			row, _ := r.([]any)
			if i >= len(chunk) || len(row) < 9 {
				continue
			}
			s := chunk[i]
			st := KeyStatus{
				Spec:  *s.spec,
				State: State(asStr(row[6])),
				Usage: rowUsage(row),
			}
			if st.State != StateCooling && st.State != StateExhausted && st.State != StateDisabled {
				st.State = StateActive
			}
			if st.State != StateActive {
				st.Reason = asStr(row[7])
			}
			if u := asInt(row[8]); u > 0 && st.State != StateDisabled {
				st.Until = time.UnixMilli(u).UTC()
			}
			// The mirror's health, and a hint cleared: the next try asks.
			ks := s.ks
			ks.health, ks.reason, ks.until = st.State, st.Reason, 0
			if !st.Until.IsZero() {
				ks.until = st.Until.UnixNano()
			}
			if !s.dead {
				ks.touch(&c)
			}
			if st.Spec.Disabled && st.State != StateDisabled {
				st.State, st.Reason, st.Until = StateDisabled, "disabled in configuration", time.Time{}
			}
			out = append(out, st)
		}
		p.sh.mu.Unlock()
	}
	return out, true
}

// keyScript runs a one-key script (enable, reset) and mirrors its health.
func (p *Pool) keyScript(id string, sc *redis.Script) error {
	rm := p.sh.remote
	p.sh.mu.Lock()
	s := p.byID[id]
	p.sh.mu.Unlock()
	if s == nil {
		return nil
	}
	if rm.r.Down() {
		return store.ErrDown
	}
	h, e, _ := rm.keys(id)
	ctx, cancel := context.WithTimeout(rm.r.Context(), callTimeout)
	res, err := sc.Run(ctx, rm.r.Client(), []string{h, e}[:sc2keys(sc)]).Slice()
	cancel()
	if err != nil {
		return rm.r.Failed(err)
	}
	p.sh.mu.Lock()
	c := p.clock()
	if len(res) >= 3 {
		s.ks.hint = 0
		p.mirror(s, asStr(res[0]), asStr(res[1]), asInt(res[2])*1e6, 0, false, c.now, &c)
	}
	p.sh.mu.Unlock()
	p.publish("health", []string{id})
	return nil
}

// sc2keys is how many keys a one-key script takes.
func sc2keys(sc *redis.Script) int {
	if sc == resetScript {
		return 2
	}
	return 1
}

// ErrStoreDown is the error of operations that need a shared store
// (Redis) while it is unreachable.
var ErrStoreDown = store.ErrDown

func asInt(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	case float64:
		return int64(v)
	}
	return 0
}

func asStr(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}
