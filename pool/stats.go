package pool

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// StatsRetention is how long usage statistics are kept: hourly buckets
// that started longer ago than this are dropped (from memory and from the
// Store) at the next flush.
const StatsRetention = 31 * 24 * time.Hour

// statsPrefix is the Store prefix of usage statistics: "stats/<instance>/<hour>"
// holds one hour's counts, by dimension, as JSON.
const statsPrefix = "stats/"

// HourLayout is how a statistics hour is named: the hour's start in the
// pool's Location, e.g. "2026-11-22T10". Names sort in time order, and the
// first 10 characters are the calendar day.
const HourLayout = "2006-01-02T15"

// UsageDims are what usage is counted by, besides the hour.
type UsageDims struct {
	Model    string // a configured model, alias or pattern ("" when none)
	Key      string // key ID ("" when no key was used)
	Upstream string // "" when no upstream was reached
}

// UsageCounts are the counts of one group of requests.
type UsageCounts struct {
	Requests     int64 `json:"requests"`
	Successes    int64 `json:"successes"`
	Failures     int64 `json:"failures"`
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

// Add adds o to c.
func (c *UsageCounts) Add(o UsageCounts) {
	c.Requests += o.Requests
	c.Successes += o.Successes
	c.Failures += o.Failures
	c.InputTokens += o.InputTokens
	c.OutputTokens += o.OutputTokens
}

// UsageRow is the counts of one hour and dimension.
type UsageRow struct {
	Hour string // see HourLayout
	UsageDims
	UsageCounts
}

// Stats counts requests by hour, model, key and upstream for one handler
// instance. It lives with the pool's shared state, so it outlives config
// reloads, and is persisted with the key states (once a second, and on
// shutdown). Safe for concurrent use.
type Stats struct {
	instance string

	mu    sync.Mutex
	loc   *time.Location
	hours map[string]map[UsageDims]*UsageCounts
	dirty map[string]bool
}

// statsSet holds the Stats of every instance on one storage.
type statsSet struct {
	mu sync.Mutex
	m  map[string]*Stats
}

// Stats returns the usage statistics of instance on this Pool's storage,
// loading them from the Store on first use.
func (p *Pool) Stats(instance string) (*Stats, error) {
	sh := p.sh
	sh.stats.mu.Lock()
	defer sh.stats.mu.Unlock()
	if st := sh.stats.m[instance]; st != nil {
		st.mu.Lock()
		st.loc = p.loc
		st.mu.Unlock()
		return st, nil
	}
	st := &Stats{
		instance: instance,
		loc:      p.loc,
		hours:    make(map[string]map[UsageDims]*UsageCounts),
		dirty:    make(map[string]bool),
	}
	prefix := statsPrefix + instance + "/"
	recs, err := sh.store.Load(prefix)
	if err != nil {
		return nil, err
	}
	for k, v := range recs {
		hour := strings.TrimPrefix(k, prefix)
		var rows []statsRecord
		if err := json.Unmarshal(v, &rows); err != nil {
			sh.logger.Warn("ignoring unreadable usage statistics", zap.String("instance", instance), zap.String("hour", hour), zap.Error(err))
			continue
		}
		m := make(map[UsageDims]*UsageCounts, len(rows))
		for _, r := range rows {
			c := r.Counts
			m[UsageDims{Model: r.Model, Key: r.Key, Upstream: r.Upstream}] = &c
		}
		st.hours[hour] = m
	}
	if sh.stats.m == nil {
		sh.stats.m = make(map[string]*Stats)
	}
	sh.stats.m[instance] = st
	return st, nil
}

// statsRecord is one dimension of a persisted hour.
type statsRecord struct {
	Model    string      `json:"m,omitempty"`
	Key      string      `json:"k,omitempty"`
	Upstream string      `json:"u,omitempty"`
	Counts   UsageCounts `json:"c"`
}

// Record counts one request that started at t; t's Location decides its
// hour (pass it in the pool's Location).
func (s *Stats) Record(t time.Time, d UsageDims, c UsageCounts) {
	hour := t.Format(HourLayout)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.hours[hour]
	if m == nil {
		m = make(map[UsageDims]*UsageCounts)
		s.hours[hour] = m
	}
	cur := m[d]
	if cur == nil {
		cur = new(UsageCounts)
		m[d] = cur
	}
	cur.Add(c)
	s.dirty[hour] = true
}

// Rows returns every count kept, by hour (oldest first), then dimension.
func (s *Stats) Rows() []UsageRow {
	s.mu.Lock()
	var out []UsageRow
	for hour, m := range s.hours {
		for d, c := range m {
			out = append(out, UsageRow{Hour: hour, UsageDims: d, UsageCounts: *c})
		}
	}
	s.mu.Unlock()
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
		return a.Model < b.Model
	})
	return out
}

// batch collects what changed since the last flush, and the hours that
// have left the retention window, as a Store batch; it marks them clean.
func (s *Stats) batch(now time.Time) map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	loc := s.loc
	if loc == nil {
		loc = time.UTC
	}
	cutoff := now.In(loc).Add(-StatsRetention).Format(HourLayout)
	prefix := statsPrefix + s.instance + "/"
	var out map[string][]byte
	put := func(k string, v []byte) {
		if out == nil {
			out = make(map[string][]byte)
		}
		out[k] = v
	}
	for hour := range s.hours {
		if hour < cutoff {
			delete(s.hours, hour)
			delete(s.dirty, hour)
			put(prefix+hour, nil)
		}
	}
	for hour := range s.dirty {
		m := s.hours[hour]
		rows := make([]statsRecord, 0, len(m))
		for d, c := range m {
			rows = append(rows, statsRecord{Model: d.Model, Key: d.Key, Upstream: d.Upstream, Counts: *c})
		}
		b, err := json.Marshal(rows)
		if err != nil {
			continue // cannot happen: plain values only
		}
		put(prefix+hour, b)
		delete(s.dirty, hour)
	}
	return out
}

// redirty marks hours of a batch that failed to save as changed again.
func (s *Stats) redirty(batch map[string][]byte) {
	prefix := statsPrefix + s.instance + "/"
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range batch {
		if v != nil {
			s.dirty[strings.TrimPrefix(k, prefix)] = true
		}
	}
}

// flushStats saves the usage statistics that changed since the last flush.
func (s *shared) flushStats() error {
	s.stats.mu.Lock()
	list := make([]*Stats, 0, len(s.stats.m))
	for _, st := range s.stats.m {
		list = append(list, st)
	}
	s.stats.mu.Unlock()
	now := time.Now()
	var firstErr error
	for _, st := range list {
		b := st.batch(now)
		if len(b) == 0 {
			continue
		}
		if err := s.store.Save(b); err != nil {
			st.redirty(b)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}
