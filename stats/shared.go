package stats

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/store"
)

// Counters is a Store that adds to counters in place, so that several Caddy
// instances can count into the same totals (store.Redis). On such a store a
// Usage keeps only what it has not flushed yet, adds it to the shared
// counters once a second, and reads the totals back for Rows: every
// instance's requests, each counted once.
type Counters interface {
	store.Store
	// AddCounts adds each delta to its field of its named hash, and makes
	// the hashes in expire expire at their times.
	AddCounts(deltas map[string]map[string]int64, expire map[string]time.Time) error
	// LoadCounts returns those of the named hashes that exist.
	LoadCounts(names []string) (map[string]map[string]int64, error)
}

// counterDims is how a counter field names its dimensions.
type counterDims struct {
	Model    string `json:"m,omitempty"`
	Key      string `json:"k,omitempty"`
	Upstream string `json:"u,omitempty"`
	Client   string `json:"cl,omitempty"`
	Served   string `json:"s,omitempty"`
}

// The counters of a group, by the letter that ends their field.
var counterLetters = [...]struct {
	letter byte
	get    func(*Counts) *int64
}{
	{'r', func(c *Counts) *int64 { return &c.Requests }},
	{'s', func(c *Counts) *int64 { return &c.Successes }},
	{'f', func(c *Counts) *int64 { return &c.Failures }},
	{'i', func(c *Counts) *int64 { return &c.InputTokens }},
	{'o', func(c *Counts) *int64 { return &c.OutputTokens }},
}

// sharedBatch takes what u counted since its last flush as counter deltas,
// with the expiry of each hour's hash, and forgets it.
func (u *Usage) sharedBatch() (map[string]map[string]int64, map[string]time.Time, map[string]map[Dims]*Counts) {
	u.mu.Lock()
	pending := u.hours
	u.hours = make(map[string]map[Dims]*Counts)
	clear(u.dirty)
	loc := u.loc
	u.mu.Unlock()
	if loc == nil {
		loc = time.UTC
	}
	deltas := make(map[string]map[string]int64, len(pending))
	expire := make(map[string]time.Time, len(pending))
	prefix := recordPrefix + u.instance + "/"
	for hour, m := range pending {
		fields := make(map[string]int64, 5*len(m))
		for d, c := range m {
			b, _ := json.Marshal(counterDims(d))
			for _, cl := range counterLetters {
				if v := *cl.get(c); v != 0 {
					fields[string(b)+"|"+string(cl.letter)] = v
				}
			}
		}
		deltas[prefix+hour] = fields
		if t, err := time.ParseInLocation(HourLayout, hour, loc); err == nil {
			expire[prefix+hour] = t.Add(Retention + time.Hour)
		}
	}
	return deltas, expire, pending
}

// unflush puts back counts whose flush failed.
func (u *Usage) unflush(pending map[string]map[Dims]*Counts) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for hour, m := range pending {
		cur := u.hours[hour]
		if cur == nil {
			cur = make(map[Dims]*Counts, len(m))
			u.hours[hour] = cur
		}
		for d, c := range m {
			if cur[d] == nil {
				cur[d] = new(Counts)
			}
			cur[d].Add(*c)
		}
	}
}

// sharedRows reads the shared totals of u's instance, plus what u has not
// flushed yet; when the totals cannot be read, the last ones read stand in.
func (u *Usage) sharedRows() map[string]map[Dims]*Counts {
	prefix := recordPrefix + u.instance + "/"
	u.mu.Lock()
	loc := u.loc
	u.mu.Unlock()
	if loc == nil {
		loc = time.UTC
	}
	// The hours of the retention window, by name.
	now := time.Now()
	var names []string
	seen := map[string]bool{}
	for t := now.Add(-Retention).Truncate(time.Hour); !t.After(now); t = t.Add(time.Hour) {
		if h := t.In(loc).Format(HourLayout); !seen[h] {
			seen[h] = true
			names = append(names, prefix+h)
		}
	}
	loaded, err := u.shared.LoadCounts(names)
	u.mu.Lock()
	defer u.mu.Unlock()
	if err == nil {
		u.last = make(map[string]map[Dims]*Counts, len(loaded))
		for name, fields := range loaded {
			hour := strings.TrimPrefix(name, prefix)
			m := make(map[Dims]*Counts)
			for f, v := range fields {
				i := strings.LastIndexByte(f, '|')
				if i < 0 || i != len(f)-2 {
					continue
				}
				var cd counterDims
				if json.Unmarshal([]byte(f[:i]), &cd) != nil {
					continue
				}
				d := Dims(cd)
				c := m[d]
				if c == nil {
					c = new(Counts)
					m[d] = c
				}
				for _, cl := range counterLetters {
					if cl.letter == f[i+1] {
						*cl.get(c) += v
					}
				}
			}
			u.last[hour] = m
		}
	}
	out := make(map[string]map[Dims]*Counts, len(u.last)+len(u.hours))
	for _, src := range []map[string]map[Dims]*Counts{u.last, u.hours} {
		for hour, m := range src {
			cur := out[hour]
			if cur == nil {
				cur = make(map[Dims]*Counts, len(m))
				out[hour] = cur
			}
			for d, c := range m {
				if cur[d] == nil {
					cur[d] = new(Counts)
				}
				cur[d].Add(*c)
			}
		}
	}
	return out
}
