package gateway

import (
	"strings"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/stats"
)

// observe feeds one finished client request to the request log, the usage
// statistics and the metrics. serve.go calls it once per request that
// reached routing. It is cheap (two short critical sections and a few
// counter increments) and never blocks on storage: usage statistics are
// persisted by the pool's flusher once a second.
//
// Usage statistics are counted by hour (in the instance's timezone),
// configured model label, key, upstream, client and the model the upstream
// served, and kept for
// stats.Retention (31 days); the request log keeps the last log_size
// requests in memory only. Both outlive config reloads; the statistics
// also survive restarts (with badger storage).
func (g *Gateway) observe(rec *requestRecord) {
	op := g.op.Load()
	if op == nil || rec == nil {
		return
	}
	t := rec.Time
	if t.IsZero() {
		t = time.Now()
	}
	op.ring.Add(stats.Entry{
		Time:          t.UTC(),
		Client:        rec.Client,
		API:           rec.API,
		Model:         logText(rec.Model, maxLogName),
		Upstream:      rec.Upstream,
		UpstreamModel: logText(rec.UpstreamModel, maxLogName),
		KeyID:         rec.KeyID,
		Status:        rec.Status,
		LatencyMS:     rec.Latency.Milliseconds(),
		TTFBMS:        rec.TTFB.Milliseconds(),
		InputTokens:   rec.InputTokens,
		OutputTokens:  rec.OutputTokens,
		Error:         logText(rec.Error, maxLogError),
		Endpoint:      rec.Endpoint,
	})
	c := stats.Counts{Requests: 1, InputTokens: rec.InputTokens, OutputTokens: rec.OutputTokens}
	if succeeded(rec.Status) {
		c.Successes = 1
	} else {
		c.Failures = 1
	}
	d := stats.Dims{Model: rec.ModelLabel, Key: rec.KeyID, Upstream: rec.Upstream, Client: rec.Client}
	if c.Successes == 1 {
		d.Served = rec.Served
	}
	op.stats.Record(t.In(g.loc), d, c)
	observeMetrics(g.name, rec)
}

// What one request-log entry keeps at most of a client-chosen name and of
// an error message: a log of log_size entries stays small whatever clients
// send.
const (
	maxLogName  = 256
	maxLogError = 512
)

// logText is s as the request log keeps it: cut to at most n bytes, and a
// copy, never a view into a request body, so an entry holds only itself.
func logText(s string, n int) string {
	return strings.Clone(truncate(s, n))
}

// succeeded reports whether a client got a successful answer.
func succeeded(status int) bool { return status >= 200 && status < 400 }
