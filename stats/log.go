package stats

import (
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Entry is one finished client request in the request log. Its JSON is an
// entry of the admin API's GET .../logs (package admin shows it as is).
type Entry struct {
	Time          time.Time `json:"time"`
	Client        string    `json:"client"`
	API           string    `json:"api"`
	Model         string    `json:"model"`
	Upstream      string    `json:"upstream"`
	UpstreamModel string    `json:"upstream_model"`
	KeyID         string    `json:"key_id"`
	Status        int       `json:"status"`
	LatencyMS     int64     `json:"latency_ms"`
	TTFBMS        int64     `json:"ttfb_ms"`
	InputTokens   int64     `json:"input_tokens"`
	OutputTokens  int64     `json:"output_tokens"`
	Error         string    `json:"error"`
	Endpoint      string    `json:"endpoint,omitempty"` // "embeddings" for an embeddings request
}

// Log is a fixed-size ring of the most recent requests of one handler
// instance, in memory only. Safe for concurrent use.
type Log struct {
	mu   sync.Mutex
	buf  []Entry
	next int // where the next entry goes
	n    int // entries held
}

// NewLog returns an empty log that keeps the last size entries (size > 0).
func NewLog(size int) *Log { return &Log{buf: make([]Entry, size)} }

// Destruct implements caddy.Destructor; the log holds only memory.
func (l *Log) Destruct() error { return nil }

// logs holds each instance's request log by instance name. It is
// refcounted by the handlers of that name, so the log outlives a config
// reload (the new handler is provisioned before the old one is cleaned up).
var logs = caddy.NewUsagePool()

// AcquireLog returns the request log of instance, keeping size entries,
// and takes a reference on it: the log of the old config carries over to
// the new one during a reload. Each AcquireLog needs a ReleaseLog.
func AcquireLog(instance string, size int) (*Log, error) {
	v, _, err := logs.LoadOrNew(instance, func() (caddy.Destructor, error) { return NewLog(size), nil })
	if err != nil {
		return nil, err
	}
	l := v.(*Log)
	l.Resize(size)
	return l, nil
}

// ReleaseLog drops a reference taken by AcquireLog; the last one forgets
// the log.
func ReleaseLog(instance string) { _, _ = logs.Delete(instance) }

// Add appends e, dropping the oldest entry when the log is full.
func (l *Log) Add(e Entry) {
	l.mu.Lock()
	l.buf[l.next] = e
	l.next = (l.next + 1) % len(l.buf)
	if l.n < len(l.buf) {
		l.n++
	}
	l.mu.Unlock()
}

// Newest returns up to limit entries, newest first.
func (l *Log) Newest(limit int) []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(limit, l.n)
	out := make([]Entry, n)
	for i := range n {
		out[i] = l.buf[(l.next-1-i+2*len(l.buf))%len(l.buf)]
	}
	return out
}

// Resize changes the log's capacity (size > 0), keeping the newest entries.
func (l *Log) Resize(size int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if size == len(l.buf) {
		return
	}
	keep := min(size, l.n)
	nb := make([]Entry, size)
	// Oldest kept first.
	for i := range keep {
		nb[i] = l.buf[(l.next-keep+i+2*len(l.buf))%len(l.buf)]
	}
	l.buf, l.n, l.next = nb, keep, keep%size
}
