package stats

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/store"
)

// Retention is how long usage statistics are kept: hourly buckets that
// started longer ago than this are dropped (from memory and from the
// Store) at the next flush.
const Retention = 31 * 24 * time.Hour

// recordPrefix is the Store prefix of usage statistics: "stats/<instance>/<hour>"
// holds one hour's counts, by dimension, as JSON (see record).
const recordPrefix = "stats/"

// HourLayout is how a statistics hour is named: the hour's start in the
// instance's timezone, e.g. "2026-11-22T10". Names sort in time order, and
// the first 10 characters are the calendar day.
const HourLayout = "2006-01-02T15"

// Dims are what usage is counted by, besides the hour.
type Dims struct {
	Model    string // a configured model, alias or pattern ("" when none)
	Key      string // key ID ("" when no key was used)
	Upstream string // "" when no upstream was reached
	Client   string // the client's name ("" on an open proxy)
	// Served is the model the upstream said it served, for a successful
	// answer ("" otherwise, or when the upstream did not say).
	Served string
}

// Counts are the counts of one group of requests.
type Counts struct {
	Requests     int64 `json:"requests"`
	Successes    int64 `json:"successes"`
	Failures     int64 `json:"failures"`
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Requests += o.Requests
	c.Successes += o.Successes
	c.Failures += o.Failures
	c.InputTokens += o.InputTokens
	c.OutputTokens += o.OutputTokens
}

// Row is the counts of one hour and dimension.
type Row struct {
	Hour string // see HourLayout
	Dims
	Counts
}

// Usage counts the requests of one handler instance by hour, model, key
// and upstream. It lives in a Book, which outlives config reloads and
// saves it to the Book's Store. Safe for concurrent use.
type Usage struct {
	instance string

	mu    sync.Mutex
	loc   *time.Location
	hours map[string]map[Dims]*Counts
	dirty map[string]bool
	// changed are the groups of each hour changed since the hour was last
	// written (by their counts, whose pointer hashes far faster than the
	// group's five strings), parts how many part records the hour has
	// beside its whole record, and whole the hours to write whole next
	// time (see batch).
	changed map[string]map[*Counts]Dims
	parts   map[string]int
	whole   map[string]bool

	// shared is set on a store that counts in place (see Counters): hours
	// then holds only what was not flushed yet, and last the totals read
	// last.
	shared Counters
	last   map[string]map[Dims]*Counts

	// The hour of the last Record, kept so that a request costs no
	// formatting: hour is its name, and [hourFrom, hourTo) in hourLoc the
	// instants it covers.
	hour             string
	hourFrom, hourTo int64
	hourLoc          *time.Location
}

// record is one dimension of a persisted hour; a persisted hour is a JSON
// array of them.
type record struct {
	Model    string `json:"m,omitempty"`
	Key      string `json:"k,omitempty"`
	Upstream string `json:"u,omitempty"`
	Client   string `json:"cl,omitempty"`
	Served   string `json:"s,omitempty"`
	Counts   Counts `json:"c"`
}

// Record counts one request that started at t; t's Location decides its
// hour (pass it in the instance's timezone).
func (u *Usage) Record(t time.Time, d Dims, c Counts) {
	u.mu.Lock()
	defer u.mu.Unlock()
	hour := u.hourOf(t)
	m := u.hours[hour]
	if m == nil {
		m = make(map[Dims]*Counts)
		u.hours[hour] = m
	}
	cur := m[d]
	if cur == nil {
		cur = new(Counts)
		m[d] = cur
	}
	cur.Add(c)
	u.dirty[hour] = true
	if u.shared == nil {
		ch := u.changed[hour]
		if ch == nil {
			ch = make(map[*Counts]Dims)
			u.changed[hour] = ch
		}
		if _, ok := ch[cur]; !ok {
			ch[cur] = d
		}
	}
}

// hourOf is t.Format(HourLayout), formatted once an hour rather than once
// a request. The caller holds mu.
func (u *Usage) hourOf(t time.Time) string {
	ns := t.UnixNano()
	if loc := t.Location(); loc == u.hourLoc && ns >= u.hourFrom && ns < u.hourTo {
		return u.hour
	}
	hour := t.Format(HourLayout)
	y, mo, d := t.Date()
	start := time.Date(y, mo, d, t.Hour(), 0, 0, 0, t.Location())
	if from := start.UnixNano(); from <= ns && start.Format(HourLayout) == hour {
		// (Around a change of clocks the hour's start may not be found;
		// then nothing is kept and the next request formats again.)
		u.hour, u.hourFrom, u.hourTo, u.hourLoc = hour, from, from+int64(time.Hour), t.Location()
	}
	return hour
}

// Rows returns every count kept, by hour (oldest first), then dimension.
func (u *Usage) Rows() []Row {
	var out []Row
	if u.shared != nil {
		for hour, m := range u.sharedRows() {
			for d, c := range m {
				out = append(out, Row{Hour: hour, Dims: d, Counts: *c})
			}
		}
	} else {
		u.mu.Lock()
		for hour, m := range u.hours {
			for d, c := range m {
				out = append(out, Row{Hour: hour, Dims: d, Counts: *c})
			}
		}
		u.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Hour != b.Hour {
			return a.Hour < b.Hour
		}
		if a.Upstream != b.Upstream {
			return a.Upstream < b.Upstream
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		if a.Model != b.Model {
			return a.Model < b.Model
		}
		if a.Client != b.Client {
			return a.Client < b.Client
		}
		return a.Served < b.Served
	})
	return out
}

// maxParts bounds the part records of an hour (see batch).
const maxParts = 120

// partSep separates an hour from its part number in a record key.
const partSep = "."

// batch collects what changed since the last flush, and the hours that
// have left the retention window, as a Store batch; it marks them clean.
//
// An hour is stored as a whole record ("stats/<instance>/<hour>") and, once
// it has many groups (a pool of many keys has a group per key), as part
// records beside it ("<hour>.1", "<hour>.2", ...) holding only the groups
// that changed since the write before, so that a flush costs what changed,
// not the size of the hour. Every maxParts parts, or when most groups
// changed, the hour is written whole again and its parts deleted.
func (u *Usage) batch(now time.Time) map[string][]byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	loc := u.loc
	if loc == nil {
		loc = time.UTC
	}
	cutoff := now.In(loc).Add(-Retention).Format(HourLayout)
	prefix := recordPrefix + u.instance + "/"
	var out map[string][]byte
	put := func(k string, v []byte) {
		if out == nil {
			out = make(map[string][]byte)
		}
		out[k] = v
	}
	dropParts := func(hour string) {
		for n := 1; n <= u.parts[hour]; n++ {
			put(prefix+hour+partSep+strconv.Itoa(n), nil)
		}
		delete(u.parts, hour)
	}
	for hour := range u.hours {
		if hour < cutoff {
			delete(u.hours, hour)
			delete(u.dirty, hour)
			delete(u.changed, hour)
			delete(u.whole, hour)
			put(prefix+hour, nil)
			dropParts(hour)
		}
	}
	for hour := range u.dirty {
		m, ch := u.hours[hour], u.changed[hour]
		if n := u.parts[hour]; !u.whole[hour] && n < maxParts && len(ch)*2 <= len(m) {
			part := make(map[Dims]*Counts, len(ch))
			for cur, d := range ch {
				part[d] = cur
			}
			put(prefix+hour+partSep+strconv.Itoa(n+1), appendHour(make([]byte, 0, 128*len(part)), part))
			u.parts[hour] = n + 1
		} else {
			put(prefix+hour, appendHour(make([]byte, 0, 128*len(m)), m))
			dropParts(hour)
		}
		delete(u.dirty, hour)
		delete(u.changed, hour)
		delete(u.whole, hour)
	}
	return out
}

// redirty marks hours of a batch that failed to save as changed again.
func (u *Usage) redirty(batch map[string][]byte) {
	prefix := recordPrefix + u.instance + "/"
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, v := range batch {
		if v != nil {
			// What changed is forgotten: write the hour whole next time.
			hour, _, _ := strings.Cut(strings.TrimPrefix(k, prefix), partSep)
			u.dirty[hour] = true
			u.whole[hour] = true
		}
	}
}

// Book holds the usage statistics of every handler instance on one Store
// and saves them there. Its owner (the pool's shared state, which outlives
// config reloads) calls Flush about once a second and once more at the
// end.
type Book struct {
	store  store.Store
	logger *zap.Logger

	mu sync.Mutex
	m  map[string]*Usage
}

// NewBook returns a Book over st; logger (nil: none) hears of records it
// cannot read.
func NewBook(st store.Store, logger *zap.Logger) *Book {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Book{store: st, logger: logger, m: make(map[string]*Usage)}
}

// Usage returns the usage statistics of instance, loading them from the
// Store on first use; loc is where its hours are told (the config's
// timezone, which a reload may change).
func (b *Book) Usage(instance string, loc *time.Location) (*Usage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if u := b.m[instance]; u != nil {
		u.mu.Lock()
		u.loc = loc
		u.mu.Unlock()
		return u, nil
	}
	u := &Usage{
		instance: instance,
		loc:      loc,
		hours:    make(map[string]map[Dims]*Counts),
		dirty:    make(map[string]bool),
		changed:  make(map[string]map[*Counts]Dims),
		parts:    make(map[string]int),
		whole:    make(map[string]bool),
	}
	if c, ok := b.store.(Counters); ok {
		// Shared totals are read when asked for (see Rows).
		u.shared = c
		b.m[instance] = u
		return u, nil
	}
	prefix := recordPrefix + instance + "/"
	recs, err := b.store.Load(prefix)
	if err != nil {
		return nil, err
	}
	// Whole records first, then each hour's parts in order: a group's
	// latest counts win.
	names := make([]string, 0, len(recs))
	for k := range recs {
		names = append(names, strings.TrimPrefix(k, prefix))
	}
	sort.Slice(names, func(i, j int) bool {
		hi, pi := splitPart(names[i])
		hj, pj := splitPart(names[j])
		if hi != hj {
			return hi < hj
		}
		return pi < pj
	})
	for _, name := range names {
		hour, part := splitPart(name)
		var rows []record
		if err := json.Unmarshal(recs[prefix+name], &rows); err != nil {
			b.logger.Warn("ignoring unreadable usage statistics", zap.String("instance", instance), zap.String("hour", name), zap.Error(err))
			continue
		}
		m := u.hours[hour]
		if m == nil {
			m = make(map[Dims]*Counts, len(rows))
			u.hours[hour] = m
		}
		for _, r := range rows {
			c := r.Counts
			m[Dims{Model: r.Model, Key: r.Key, Upstream: r.Upstream, Client: r.Client, Served: r.Served}] = &c
		}
		u.parts[hour] = max(u.parts[hour], part)
	}
	b.m[instance] = u
	return u, nil
}

// Flush saves the usage statistics that changed since the last flush, and
// deletes the hours past Retention. What fails to save is tried again at
// the next Flush.
func (b *Book) Flush(now time.Time) error {
	b.mu.Lock()
	list := make([]*Usage, 0, len(b.m))
	for _, u := range b.m {
		list = append(list, u)
	}
	b.mu.Unlock()
	var firstErr error
	for _, u := range list {
		if u.shared != nil {
			deltas, expire, pending := u.sharedBatch()
			if len(deltas) == 0 {
				continue
			}
			if err := u.shared.AddCounts(deltas, expire); err != nil {
				u.unflush(pending)
				if firstErr == nil {
					firstErr = err
				}
			}
			continue
		}
		batch := u.batch(now)
		if len(batch) == 0 {
			continue
		}
		if err := b.store.Save(batch); err != nil {
			u.redirty(batch)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

// splitPart splits a record name into its hour and part number (0: the
// whole record).
func splitPart(name string) (hour string, part int) {
	hour, p, ok := strings.Cut(name, partSep)
	if ok {
		part, _ = strconv.Atoi(p)
	}
	return hour, part
}
