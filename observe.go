package llmproxy

import (
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmproxy/caddy-llm-proxy/admin"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// observe feeds one finished client request to the request log, the usage
// statistics and the metrics. serve.go calls it once per request that
// reached routing. It is cheap (two short critical sections and a few
// counter increments) and never blocks on storage: usage statistics are
// persisted by the pool's flusher once a second.
//
// Usage statistics are counted by hour (in the instance's timezone),
// configured model label, key and upstream, and kept for
// pool.StatsRetention (31 days); the request log keeps the last log_size
// requests in memory only. Both outlive config reloads; the statistics
// also survive restarts (with badger storage).
func (p *Proxy) observe(rec *requestRecord) {
	op := p.op.Load()
	if op == nil || rec == nil {
		return
	}
	t := rec.Time
	if t.IsZero() {
		t = time.Now()
	}
	op.ring.add(admin.LogEntry{
		Time:          t.UTC(),
		Client:        rec.Client,
		API:           rec.API,
		Model:         rec.Model,
		Upstream:      rec.Upstream,
		UpstreamModel: rec.UpstreamModel,
		KeyID:         rec.KeyID,
		Status:        rec.Status,
		LatencyMS:     rec.Latency.Milliseconds(),
		TTFBMS:        rec.TTFB.Milliseconds(),
		InputTokens:   rec.InputTokens,
		OutputTokens:  rec.OutputTokens,
		Error:         rec.Error,
	})
	c := pool.UsageCounts{Requests: 1, InputTokens: rec.InputTokens, OutputTokens: rec.OutputTokens}
	if succeeded(rec.Status) {
		c.Successes = 1
	} else {
		c.Failures = 1
	}
	op.stats.Record(t.In(p.loc), pool.UsageDims{Model: rec.ModelLabel, Key: rec.KeyID, Upstream: rec.Upstream}, c)
	observeMetrics(p.Name, rec)
}

// succeeded reports whether a client got a successful answer.
func succeeded(status int) bool { return status >= 200 && status < 400 }

// logRings holds each instance's request log by instance name. It is
// refcounted by the handlers of that name, so the log outlives a config
// reload (the new handler is provisioned before the old one is cleaned up).
var logRings = caddy.NewUsagePool()

// logRing is a fixed-size ring of the most recent requests.
type logRing struct {
	mu   sync.Mutex
	buf  []admin.LogEntry
	next int // where the next entry goes
	n    int // entries held
}

func newLogRing(size int) *logRing { return &logRing{buf: make([]admin.LogEntry, size)} }

// Destruct implements caddy.Destructor; the ring holds only memory.
func (r *logRing) Destruct() error { return nil }

func acquireLogRing(name string, size int) (*logRing, error) {
	v, _, err := logRings.LoadOrNew(name, func() (caddy.Destructor, error) { return newLogRing(size), nil })
	if err != nil {
		return nil, err
	}
	r := v.(*logRing)
	r.resize(size)
	return r, nil
}

func releaseLogRing(name string) { _, _ = logRings.Delete(name) }

func (r *logRing) add(e admin.LogEntry) {
	r.mu.Lock()
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	if r.n < len(r.buf) {
		r.n++
	}
	r.mu.Unlock()
}

// newest returns up to limit entries, newest first.
func (r *logRing) newest(limit int) []admin.LogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(limit, r.n)
	out := make([]admin.LogEntry, n)
	for i := range n {
		out[i] = r.buf[(r.next-1-i+2*len(r.buf))%len(r.buf)]
	}
	return out
}

// resize changes the ring's capacity, keeping the newest entries.
func (r *logRing) resize(size int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if size == len(r.buf) {
		return
	}
	keep := min(size, r.n)
	nb := make([]admin.LogEntry, size)
	// Oldest kept first.
	for i := range keep {
		nb[i] = r.buf[(r.next-keep+i+2*len(r.buf))%len(r.buf)]
	}
	r.buf, r.n, r.next = nb, keep, keep%size
}
