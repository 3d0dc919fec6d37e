package pool

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

const (
	minute = int64(time.Minute)
	second = int64(time.Second)

	// Backoff after consecutive 429s without a Retry-After: 5 s, 10 s, 20 s, …
	backoff429Base = 5 * time.Second
	backoff429Max  = 10 * time.Minute
	// The longest Retry-After honoured; a misbehaving upstream must not
	// park a key for days.
	retryAfterMax = time.Hour
	// Consecutive 5xx or network failures before a key cools down, and the
	// cooldown: 10 s, 20 s, 40 s, … capped at 5 min.
	failuresBeforeCooling = 3
	backoffFailBase       = 10 * time.Second
	backoffFailMax        = 5 * time.Minute
)

// clock is one reading of the time, with the calendar day in the pool's
// Location. The next midnight is computed only when a daily limit or quota
// exhaustion needs it, keeping time.Date off the admission hot path.
type clock struct {
	now      int64 // unix nanoseconds
	t        time.Time
	loc      *time.Location
	day      int32 // yyyymmdd in loc
	midnight int64 // next midnight in loc, unix ns; 0 until computed
}

func newClock(t time.Time, loc *time.Location) clock {
	y, m, d := t.In(loc).Date()
	return clock{now: t.UnixNano(), t: t, loc: loc, day: int32(y*10000 + int(m)*100 + d)}
}

// nextMidnight is when the current day ends in the clock's Location. On a
// day with a DST jump at midnight, time.Date normalises to the first instant
// that exists, which is what "the next day starts" means there.
func (c *clock) nextMidnight() int64 {
	if c.midnight == 0 {
		y, m, d := c.t.In(c.loc).Date()
		c.midnight = time.Date(y, m, d+1, 0, 0, 0, 0, c.loc).UnixNano()
	}
	return c.midnight
}

// event is a bin of request starts in the rolling minute: the latest start
// in it, how many starts it holds, and the tokens they count for (estimates
// until settled, then real usage).
//
// Starts less than binWidth apart share one event, which bounds the queue at
// minute/binWidth events per key however busy the key is: the persisted
// record stays small and the flush cheap. An event leaves the window a minute
// after its latest start, so binning can only make a limit stricter by up to
// binWidth, never looser.
type event struct {
	start  int64 // unix nanoseconds of the latest start in the bin
	n      int64
	tokens int64
}

// binWidth is how close starts must be to share an event.
const binWidth = int64(100 * time.Millisecond)

// keyState is the runtime state of one key: usage counters and health. It is
// shared by every Pool on the same storage (a reload builds a second Pool
// before the first is closed) and guarded by shared.mu.
type keyState struct {
	id string

	// The rolling minute is a queue of request starts, oldest first, in
	// ev[head:]. Each start has a sequence number, seq0 for ev[head], so a
	// lease can find its own event to settle without a search; sequence
	// numbers only grow, even across Reset, so a stale lease never matches.
	ev             []event
	head           int
	seq0           uint64
	binOpen        int64 // first start of the newest event, which later starts may join
	minuteRequests int64 // sum of ev[head:].n
	minuteTokens   int64 // sum of ev[head:].tokens
	// resetSeq is the first sequence number admitted after the last Reset;
	// leases below it had their reservations wiped by that Reset.
	resetSeq uint64

	day         int32 // yyyymmdd the day counters belong to
	dayRequests int64
	dayTokens   int64
	requests    int64 // since the key was first seen (or last Reset)
	tokens      int64
	lastStart   int64 // unix ns of the latest start; 0 = none
	inFlight    int

	health   State
	reason   string
	until    int64 // end of cooling or exhaustion, unix ns
	failures int   // consecutive 5xx / network errors
	n429     int   // consecutive 429s

	dirty bool         // changed since the last flush
	queue *[]*keyState // where a key that turns dirty goes (shared.dirty); nil: nowhere

	// hint is, on Redis storage, until when Redis last said the key is
	// blocked for a request of no tokens (unix ns; 0: it was not); the
	// counters above stay zero there, and health mirrors Redis's.
	hint int64

	// slots are this key's places in the Pools that serve it (two during
	// a reload), re-examined after each event of the key (see touch). The
	// first is kept in slot0, so that a key costs no list of its own.
	slots []*slot
	slot0 [1]*slot
}

func newKeyState(id string) *keyState {
	return &keyState{id: id, health: StateActive}
}

// markDirty records that the key changed since the last flush.
func (ks *keyState) markDirty() {
	if !ks.dirty {
		ks.dirty = true
		if ks.queue != nil {
			*ks.queue = append(*ks.queue, ks)
		}
	}
}

func (ks *keyState) inWindow() int { return len(ks.ev) - ks.head }

// sync brings the state up to c: starts older than a minute leave the
// window, a new day zeroes the day counters, and an expired cooldown or
// exhaustion turns back to active.
func (ks *keyState) sync(c *clock) {
	cutoff := c.now - minute
	for ks.head < len(ks.ev) && ks.ev[ks.head].start <= cutoff {
		ks.minuteTokens -= ks.ev[ks.head].tokens
		ks.minuteRequests -= ks.ev[ks.head].n
		ks.head++
		ks.seq0++
	}
	switch {
	case ks.head == len(ks.ev):
		ks.ev, ks.head = ks.ev[:0], 0
	case ks.head >= 32 && ks.head*2 >= len(ks.ev):
		// Slide the live events down so the backing array is reused
		// instead of growing forever; amortised O(1) per event.
		n := copy(ks.ev, ks.ev[ks.head:])
		ks.ev, ks.head = ks.ev[:n], 0
	}
	if ks.day != c.day {
		ks.day, ks.dayRequests, ks.dayTokens = c.day, 0, 0
		ks.markDirty()
	}
	if (ks.health == StateCooling || ks.health == StateExhausted) && ks.until <= c.now {
		ks.setActive()
	}
}

func (ks *keyState) setActive() {
	ks.health, ks.reason, ks.until = StateActive, "", 0
	ks.markDirty()
}

// wait reports how long until the key could admit a request of est tokens
// under l: 0 when it can now. A blocked key's wait is the latest of its
// blockers, the earliest moment all of them could have cleared; a full
// concurrency counts as a second (a slot frees when some request ends,
// which nothing here can predict; a second is a polite "soon"). The caller
// has synced the state to c and handles disabled keys.
func (ks *keyState) wait(l *limits.Set, c *clock, est int64) int64 {
	until, full := ks.block(l, c, est)
	return waitOf(until, full, c)
}

// block reports what keeps the key from admitting a request of est tokens
// under l now: until is the latest moment a blocker bound to time clears
// (0 when none blocks), and full whether every concurrency slot is taken,
// which only a request's end clears. The caller has synced the state to c
// and handles disabled keys.
//
// Token limits admit a request whenever their window holds no tokens, even
// if est alone exceeds the limit: otherwise a request larger than TPM or TPD
// would be refused forever, while a lone oversized request is something the
// upstream itself may well accept.
func (ks *keyState) block(l *limits.Set, c *clock, est int64) (until int64, full bool) {
	later := func(t int64) {
		if t > c.now && t > until {
			until = t
		}
	}
	if ks.health == StateCooling || ks.health == StateExhausted {
		later(ks.until)
	}
	if l.RPM > 0 && ks.minuteRequests >= l.RPM {
		// minuteRequests-RPM+1 starts must leave the window first.
		leave := ks.minuteRequests - l.RPM + 1
		for i := ks.head; i < len(ks.ev); i++ {
			if leave -= ks.ev[i].n; leave <= 0 {
				later(ks.ev[i].start + minute)
				break
			}
		}
	}
	if l.RPD > 0 && ks.dayRequests >= l.RPD {
		later(c.nextMidnight())
	}
	if l.TPM > 0 && ks.minuteTokens > 0 && ks.minuteTokens+est > l.TPM {
		left := ks.minuteTokens
		for i := ks.head; i < len(ks.ev); i++ {
			left -= ks.ev[i].tokens
			if left <= 0 || left+est <= l.TPM {
				later(ks.ev[i].start + minute)
				break
			}
		}
	}
	if l.TPD > 0 && ks.dayTokens > 0 && ks.dayTokens+est > l.TPD {
		later(c.nextMidnight())
	}
	if l.Interval > 0 && ks.lastStart != 0 && c.now-ks.lastStart < int64(l.Interval) {
		later(ks.lastStart + int64(l.Interval))
	}
	full = l.Concurrency > 0 && ks.inFlight >= l.Concurrency
	return until, full
}

// admit records a request start reserving est tokens and returns its
// sequence number.
func (ks *keyState) admit(c *clock, est int64) uint64 {
	start := c.now
	if n := len(ks.ev); n > ks.head {
		last := &ks.ev[n-1]
		if last.start > start {
			// The wall clock stepped back; keep the queue ordered.
			start = last.start
		}
		if start-ks.binOpen < binWidth {
			last.start = start
			last.n++
			last.tokens += est
			ks.minuteRequests++
			ks.minuteTokens += est
			ks.count(c, est)
			return ks.seq0 + uint64(ks.inWindow()) - 1
		}
	}
	seq := ks.seq0 + uint64(ks.inWindow())
	ks.ev = append(ks.ev, event{start: start, n: 1, tokens: est})
	ks.binOpen = start
	ks.minuteRequests++
	ks.minuteTokens += est
	ks.count(c, est)
	return seq
}

// count records a start in the day, total, interval and in-flight counters.
func (ks *keyState) count(c *clock, est int64) {
	ks.dayRequests++
	ks.dayTokens += est
	ks.requests++
	ks.lastStart = c.now
	ks.inFlight++
	ks.markDirty()
}

// settle ends a request: it frees its concurrency slot and replaces the
// reservation made at admission with the real token count, in the rolling
// minute (if the start is still in it) and in the day (if it is still the
// same day).
func (ks *keyState) settle(seq uint64, day int32, est, actual int64) {
	if ks.inFlight > 0 {
		ks.inFlight--
	}
	ks.tokens += actual
	if seq < ks.resetSeq {
		// Reset wiped the reservation; what the request used since counts.
		if ks.day == day {
			ks.dayTokens += actual
		}
	} else {
		if seq >= ks.seq0 && seq-ks.seq0 < uint64(ks.inWindow()) {
			e := &ks.ev[ks.head+int(seq-ks.seq0)]
			e.tokens += actual - est
			ks.minuteTokens += actual - est
		}
		if ks.day == day {
			ks.dayTokens += actual - est
		}
	}
	ks.markDirty()
}

// observe updates health from an outcome. A state never gets milder here:
// a late success does not lift a cooldown, and a 429 does not shorten an
// exhaustion; only time, Enable and Reset do that.
func (ks *keyState) observe(o Outcome, c *clock) {
	switch {
	case o.Status == 402 || o.QuotaExhausted:
		// Checked before 429: OpenAI reports an empty balance as a 429
		// with code insufficient_quota, which waiting will not fix.
		if ks.health != StateDisabled {
			ks.health, ks.reason, ks.until = StateExhausted, "quota exhausted", c.nextMidnight()
		}
	case o.Status == 401 || o.Status == 403:
		reason := o.Reason
		if reason == "" {
			reason = fmt.Sprintf("%d from upstream", o.Status)
		}
		ks.health, ks.reason, ks.until = StateDisabled, reason, 0
	case o.Status == 429:
		ks.n429++
		d := min(o.RetryAfter, retryAfterMax)
		if d <= 0 {
			d = backoff(backoff429Base, ks.n429-1, backoff429Max)
		}
		ks.cool(c.now+int64(d), "429 from upstream")
	case o.Status == 0 || o.Status >= 500:
		ks.failures++
		if ks.failures >= failuresBeforeCooling {
			reason := o.Reason
			if reason == "" {
				if o.Status == 0 {
					reason = "network error"
				} else {
					reason = fmt.Sprintf("%d from upstream", o.Status)
				}
			}
			d := backoff(backoffFailBase, ks.failures-failuresBeforeCooling, backoffFailMax)
			ks.cool(c.now+int64(d), reason)
		}
	default:
		// 2xx, 3xx and the client's own 4xx errors: the key works.
		if ks.failures == 0 && ks.n429 == 0 {
			return
		}
		ks.failures, ks.n429 = 0, 0
	}
	ks.markDirty()
}

// cool starts or extends a cooldown, unless the key is in a graver state.
func (ks *keyState) cool(until int64, reason string) {
	if ks.health == StateDisabled || ks.health == StateExhausted {
		return
	}
	if ks.health == StateCooling && ks.until > until {
		until = ks.until
	}
	ks.health, ks.reason, ks.until = StateCooling, reason, until
}

// backoff is base·2^n capped at limit.
func backoff(base time.Duration, n int, limit time.Duration) time.Duration {
	d := base
	for ; n > 0 && d < limit; n-- {
		d *= 2
	}
	return min(d, limit)
}

// reset zeroes the counters and clears any health verdict. In-flight
// requests are real and stay counted; their leases see resetSeq and do not
// subtract reservations that are gone.
func (ks *keyState) reset() {
	ks.seq0 += uint64(ks.inWindow())
	ks.resetSeq = ks.seq0
	ks.ev, ks.head, ks.minuteTokens, ks.minuteRequests = ks.ev[:0], 0, 0, 0
	ks.dayRequests, ks.dayTokens = 0, 0
	ks.requests, ks.tokens = 0, 0
	ks.lastStart = 0
	ks.failures, ks.n429 = 0, 0
	ks.setActive()
}

// A key's record, kept in the log of records (see recordlog.go), is what
// of its state outlives the process: the starts in the rolling minute, the
// day and total counters, the latest start and the health verdict.
// In-flight requests are not stored: they do not outlive the process.
// Times are unix nanoseconds.
//
// Under load the flush writes the record of most keys every second, so the
// record is compact binary, in this order:
//
//	byte     recordFormat (2), the format and its version
//	uvarint  day, yyyymmdd in the pool's Location (0: none)
//	uvarint  day requests
//	varint   day tokens (signed, as are all tokens: settlement corrects
//	         estimates, which must not break the record if it ever takes
//	         a count below zero)
//	uvarint  requests
//	varint   tokens
//	varint   last start (0: none)
//	uvarint  health: 0 active, 1 cooling, 2 exhausted, 3 disabled
//	uvarint  length of the reason, then its bytes
//	varint   until
//	uvarint  failures
//	uvarint  n429
//	uvarint  number of events, then for each event, oldest first:
//	  uvarint  its start: the first as last start − start, each later
//	           one as start − the start before (the queue is ordered)
//	  uvarint  its starts
//	  varint   its tokens
//
// A start thus takes 4 to 6 bytes (1 when equal to the start before)
// instead of 19 digits, and an event some 8 instead of some 30. The
// uvarints are the int64 (or int) reinterpreted, modulo 2⁶⁴ for the start
// differences, so even a value that should not occur, such as a first
// start after the last start when the wall clock stepped back, comes back
// exactly, in 10 bytes.
//
// Versions before stored the record as JSON (see jsonRecord), which still
// decodes: a storage directory keeps its state across an upgrade, and the
// next change of a key rewrites its record in binary.
type record struct {
	day         int32 // yyyymmdd; 0: none
	dayRequests int64
	dayTokens   int64
	requests    int64
	tokens      int64
	lastStart   int64
	health      State
	reason      string
	until       int64
	failures    int
	n429        int
	events      []event // the rolling minute, oldest first
}

// recordFormat is the first byte of a binary record, which no JSON text
// starts with. A change of the format takes the next value, so that an
// older version refuses a record it cannot read.
const recordFormat = 0x02

// health codes in a binary record.
var healthCodes = [...]State{StateActive, StateCooling, StateExhausted, StateDisabled}

// record copies the state for persistence, under the lock, but for the
// events: the caller copies ks.ev[ks.head:] into storage of its own (see
// shared.flush) and encodes outside the lock.
func (ks *keyState) record() record {
	return record{
		day:         ks.day,
		dayRequests: ks.dayRequests,
		dayTokens:   ks.dayTokens,
		requests:    ks.requests,
		tokens:      ks.tokens,
		lastStart:   ks.lastStart,
		health:      ks.health,
		reason:      ks.reason,
		until:       ks.until,
		failures:    ks.failures,
		n429:        ks.n429,
	}
}

// appendBinary appends the record in the binary format.
func (r *record) appendBinary(b []byte) []byte {
	var health uint64 // a keyState's health is one of the four
	for i, s := range healthCodes {
		if s == r.health {
			health = uint64(i)
		}
	}
	b = append(b, recordFormat)
	b = binary.AppendUvarint(b, uint64(r.day))
	b = binary.AppendUvarint(b, uint64(r.dayRequests))
	b = binary.AppendVarint(b, r.dayTokens)
	b = binary.AppendUvarint(b, uint64(r.requests))
	b = binary.AppendVarint(b, r.tokens)
	b = binary.AppendVarint(b, r.lastStart)
	b = binary.AppendUvarint(b, health)
	b = binary.AppendUvarint(b, uint64(len(r.reason)))
	b = append(b, r.reason...)
	b = binary.AppendVarint(b, r.until)
	b = binary.AppendUvarint(b, uint64(r.failures))
	b = binary.AppendUvarint(b, uint64(r.n429))
	b = binary.AppendUvarint(b, uint64(len(r.events)))
	prev := r.lastStart
	for i, e := range r.events {
		d := e.start - prev
		if i == 0 {
			d = r.lastStart - e.start
		}
		prev = e.start
		b = binary.AppendUvarint(b, uint64(d))
		b = binary.AppendUvarint(b, uint64(e.n))
		b = binary.AppendVarint(b, e.tokens)
	}
	return b
}

// decodeKeyState restores a persisted key; starts at or before cutoff have
// left the rolling minute and are dropped.
func decodeKeyState(id string, b []byte, cutoff int64) (*keyState, error) {
	r, err := decodeRecord(b)
	if err != nil {
		return nil, err
	}
	ks := newKeyState(id)
	for _, e := range r.events {
		if e.start > cutoff {
			// In place: the kept events are never ahead of the read.
			ks.ev = append(r.events[:len(ks.ev)], e)
			ks.minuteRequests += e.n
			ks.minuteTokens += e.tokens
		}
	}
	ks.day = r.day
	ks.dayRequests, ks.dayTokens = r.dayRequests, r.dayTokens
	ks.requests, ks.tokens = r.requests, r.tokens
	ks.lastStart = r.lastStart
	ks.health, ks.reason, ks.until = r.health, r.reason, r.until
	ks.failures, ks.n429 = r.failures, r.n429
	return ks, nil
}

// decodeRecord reads a record in either format: binary, or the JSON of
// versions before.
func decodeRecord(b []byte) (record, error) {
	switch {
	case len(b) == 0:
		return record{}, errors.New("empty record")
	case b[0] == recordFormat:
		return decodeBinaryRecord(b[1:])
	case b[0] == '{':
		return decodeJSONRecord(b)
	}
	return record{}, fmt.Errorf("unknown record format (first byte %#02x)", b[0])
}

var errCorruptRecord = errors.New("truncated or corrupt record")

// recordReader reads the fields of a binary record; the first error sticks
// and every later read returns zero.
type recordReader struct {
	b   []byte
	err error
}

func (rd *recordReader) uvarint() uint64 {
	if rd.err != nil {
		return 0
	}
	v, n := binary.Uvarint(rd.b)
	if n <= 0 {
		rd.err = errCorruptRecord
		return 0
	}
	rd.b = rd.b[n:]
	return v
}

// varint undoes binary.AppendVarint's zig-zag encoding of a uvarint.
func (rd *recordReader) varint() int64 {
	u := rd.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

// bytes reads a length and that many bytes, a slice of the record.
func (rd *recordReader) bytes() []byte {
	n := rd.uvarint()
	if rd.err != nil {
		return nil
	}
	if n > uint64(len(rd.b)) {
		rd.err = errCorruptRecord
		return nil
	}
	v := rd.b[:n:n]
	rd.b = rd.b[n:]
	return v
}

func (rd *recordReader) string() string { return string(rd.bytes()) }

// decodeBinaryRecord reads a binary record, after its format byte.
func decodeBinaryRecord(b []byte) (record, error) {
	rd := recordReader{b: b}
	var r record
	day := rd.uvarint()
	r.dayRequests = int64(rd.uvarint())
	r.dayTokens = rd.varint()
	r.requests = int64(rd.uvarint())
	r.tokens = rd.varint()
	r.lastStart = rd.varint()
	health := rd.uvarint()
	r.reason = rd.string()
	r.until = rd.varint()
	r.failures = int(rd.uvarint())
	r.n429 = int(rd.uvarint())
	n := rd.uvarint()
	if rd.err != nil {
		return record{}, rd.err
	}
	if day > math.MaxInt32 || day != 0 && (day/100%100 < 1 || day/100%100 > 12 || day%100 < 1 || day%100 > 31) {
		return record{}, fmt.Errorf("bad day %d in record", day)
	}
	r.day = int32(day)
	if health >= uint64(len(healthCodes)) {
		return record{}, fmt.Errorf("bad health %d in record", health)
	}
	r.health = healthCodes[health]
	// An event takes at least 3 bytes; a corrupt count must not allocate.
	if n > uint64(len(rd.b))/3 {
		return record{}, errCorruptRecord
	}
	if n > 0 {
		r.events = make([]event, n)
		prev := r.lastStart
		for i := range r.events {
			d := rd.uvarint()
			if i == 0 {
				prev -= int64(d)
			} else {
				prev += int64(d)
			}
			r.events[i] = event{start: prev, n: int64(rd.uvarint()), tokens: rd.varint()}
		}
	}
	if rd.err != nil {
		return record{}, rd.err
	}
	if len(rd.b) != 0 {
		return record{}, fmt.Errorf("%d bytes after the end of the record", len(rd.b))
	}
	return r, nil
}

// jsonRecord is a record as versions before stored it, as JSON with
// version 1.
type jsonRecord struct {
	V           int        `json:"v"`
	Events      [][3]int64 `json:"events"` // [latest start, starts, tokens] of each bin in the last 60 s
	Day         string     `json:"day"`    // 2006-01-02 in the pool's Location
	DayRequests int64      `json:"day_requests"`
	DayTokens   int64      `json:"day_tokens"`
	Requests    int64      `json:"requests"`
	Tokens      int64      `json:"tokens"`
	LastStart   int64      `json:"last_start"`
	State       State      `json:"state"`
	Reason      string     `json:"reason"`
	Until       int64      `json:"until"`
	Failures    int        `json:"failures"`
	N429        int        `json:"n429"`
}

const jsonRecordVersion = 1

func decodeJSONRecord(b []byte) (record, error) {
	var j jsonRecord
	if err := json.Unmarshal(b, &j); err != nil {
		return record{}, err
	}
	if j.V != jsonRecordVersion {
		return record{}, fmt.Errorf("unknown record version %d", j.V)
	}
	r := record{
		dayRequests: j.DayRequests,
		dayTokens:   j.DayTokens,
		requests:    j.Requests,
		tokens:      j.Tokens,
		lastStart:   j.LastStart,
		health:      StateActive,
		reason:      j.Reason,
		until:       j.Until,
		failures:    j.Failures,
		n429:        j.N429,
	}
	if j.Day != "" {
		t, err := time.Parse(time.DateOnly, j.Day)
		if err != nil {
			return record{}, fmt.Errorf("bad day %q: %w", j.Day, err)
		}
		y, m, d := t.Date()
		r.day = int32(y*10000 + int(m)*100 + d)
	}
	switch j.State {
	case StateCooling, StateExhausted, StateDisabled:
		r.health = j.State
	}
	if len(j.Events) > 0 {
		r.events = make([]event, len(j.Events))
		for i, e := range j.Events {
			r.events[i] = event{start: e[0], n: e[1], tokens: e[2]}
		}
	}
	return r, nil
}
