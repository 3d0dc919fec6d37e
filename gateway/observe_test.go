package gateway

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmproxy/caddy-llm-proxy/admin"
	"github.com/llmproxy/caddy-llm-proxy/pool"
	"github.com/llmproxy/caddy-llm-proxy/stats"
)

// TestObserve feeds records straight to observe, without Caddy.
func TestObserve(t *testing.T) {
	pl, err := pool.New(pool.Options{Instance: t.Name(), Storage: "memory",
		Keys: []pool.KeySpec{{Upstream: "oai", Secret: "sk-observe-0001"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	usage, err := pl.Stats("obs")
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := time.LoadLocation("Asia/Tokyo")
	g := &Gateway{name: "testobserve", loc: loc}
	g.op.Store(&operator{ring: stats.NewLog(10), stats: usage})
	reg := prometheus.NewPedanticRegistry()
	if err := registerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := registerMetrics(reg); err != nil {
		t.Fatalf("registering twice into one registry: %v", err)
	}

	kid := pool.KeyID("oai", "sk-observe-0001")
	at := time.Date(2026, 11, 22, 23, 30, 0, 0, time.UTC) // 08:30 on the 23rd in Tokyo
	g.observe(&requestRecord{Time: at, Client: "tes…ient", API: "anthropic", Model: "sonnet", ModelLabel: "sonnet",
		Upstream: "oai", UpstreamModel: "gpt-4o", KeyID: kid, Status: 200,
		Latency: 812 * time.Millisecond, TTFB: 240 * time.Millisecond, InputTokens: 12, OutputTokens: 7})
	g.observe(&requestRecord{Time: at.Add(time.Minute), API: "openai-chat", Model: "gpt-4.1-x", ModelLabel: "gpt-4.1*",
		Upstream: "oai", KeyID: kid, Status: 502, Error: "upstream \"oai\" answered 500", Latency: time.Second, TTFB: time.Second})
	g.observe(&requestRecord{Time: at, Model: "nope", Status: 404, Error: "unknown model"})

	logs := g.op.Load().ring.Newest(10)
	if len(logs) != 3 || logs[0].Status != 404 || logs[2].Model != "sonnet" {
		t.Fatalf("logs %+v", logs)
	}
	want := admin.LogEntry{Time: at, Client: "tes…ient", API: "anthropic", Model: "sonnet", Upstream: "oai", UpstreamModel: "gpt-4o",
		KeyID: kid, Status: 200, LatencyMS: 812, TTFBMS: 240, InputTokens: 12, OutputTokens: 7}
	if logs[2] != want {
		t.Fatalf("log entry\n%+v, want\n%+v", logs[2], want)
	}

	rows := usage.Rows()
	if len(rows) != 3 {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows {
		if r.Hour != "2026-11-23T08" {
			t.Errorf("hour %q, want the instance's timezone", r.Hour)
		}
		switch r.Model {
		case "sonnet":
			if r.Counts != (stats.Counts{Requests: 1, Successes: 1, InputTokens: 12, OutputTokens: 7}) || r.Key != kid || r.Upstream != "oai" {
				t.Errorf("sonnet %+v", r)
			}
		case "gpt-4.1*":
			if r.Counts != (stats.Counts{Requests: 1, Failures: 1}) {
				t.Errorf("failed %+v", r)
			}
		case "":
			if r.Upstream != "" || r.Failures != 1 {
				t.Errorf("unrouted %+v", r)
			}
		default:
			t.Errorf("unexpected model label %q", r.Model)
		}
	}

	// Grouping, through the admin interface.
	in := adminInstance{g}
	u, err := in.Usage(admin.UsageQuery{By: "model"})
	if err != nil || len(u.Groups) != 3 || u.Groups[0].Group != "(none)" {
		t.Fatalf("%v %+v", err, u)
	}
	u, _ = in.Usage(admin.UsageQuery{By: "day"})
	if len(u.Groups) != 1 || u.Groups[0] != (admin.UsageGroup{Group: "2026-11-23", Requests: 3, Successes: 1, Failures: 2, InputTokens: 12, OutputTokens: 7}) {
		t.Fatalf("by day %+v", u)
	}
	u, _ = in.Usage(admin.UsageQuery{By: "hour"})
	if len(u.Groups) != 1 || u.Groups[0].Group != "2026-11-23T08:00" {
		t.Fatalf("by hour %+v", u)
	}
	if _, err := in.Usage(admin.UsageQuery{By: "week"}); err == nil {
		t.Fatal("unknown grouping accepted")
	}

	// Metrics.
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["instance"] != g.name {
				continue
			}
			var v float64
			switch {
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				v = float64(m.GetHistogram().GetSampleCount())
			}
			got[fmt.Sprintf("%s/%s/%s/%s%s", f.GetName(), labels["upstream"], labels["model"], labels["code"], labels["direction"])] = v
		}
	}
	for k, v := range map[string]float64{
		"caddy_llm_proxy_requests_total/oai/sonnet/200":   1,
		"caddy_llm_proxy_requests_total/oai/gpt-4.1*/502": 1,
		"caddy_llm_proxy_requests_total///404":            1,
		"caddy_llm_proxy_tokens_total/oai/sonnet/input":   12,
		"caddy_llm_proxy_tokens_total/oai/sonnet/output":  7,
		"caddy_llm_proxy_upstream_ttfb_seconds/oai//":     2,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if _, ok := got["caddy_llm_proxy_tokens_total/oai/gpt-4.1*/input"]; ok {
		t.Error("tokens counted for a request that reported none")
	}
}
