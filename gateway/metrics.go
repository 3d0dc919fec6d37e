package gateway

import (
	"errors"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// Metrics, served on Caddy's admin endpoint at /metrics:
//
//	caddy_llm_proxy_requests_total{instance,upstream,model,code,client}
//	caddy_llm_proxy_tokens_total{instance,upstream,model,direction,client}   direction: input, output
//	caddy_llm_proxy_upstream_ttfb_seconds{instance,upstream}          histogram
//	caddy_llm_proxy_keys{instance,upstream,state}                     gauge, read at scrape time
//
// Every label value comes from the configuration: model is the configured
// alias or model name the client asked for, or the `models` pattern that
// admitted it ("*" for an upstream that lists none; "" when no model was
// resolved), never the raw name a client sent, so clients cannot grow the
// number of series. upstream is "" for requests that reached no upstream.
// client is a configured or admin-made client's name ("default" for plain
// client_key secrets; "" for anonymous requests to an open proxy), never
// anything a request chose.
//
// The collectors are built once per process and registered into the
// registry of every config load (Caddy makes a new one each time), so
// counters keep their values across reloads.
var metrics struct {
	once     sync.Once
	requests *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	ttfb     *prometheus.HistogramVec
	keys     keysCollector
}

const (
	metricsNamespace = "caddy"
	metricsSubsystem = "llm_proxy"
)

func initMetrics() {
	metrics.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace,
		Subsystem: metricsSubsystem,
		Name:      "requests_total",
		Help:      "Client requests answered by llm_proxy, by upstream, configured model, HTTP status and client.",
	}, []string{"instance", "upstream", "model", "code", "client"})
	metrics.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace,
		Subsystem: metricsSubsystem,
		Name:      "tokens_total",
		Help:      "Tokens reported by upstreams, by upstream, configured model, direction (input or output) and client.",
	}, []string{"instance", "upstream", "model", "direction", "client"})
	metrics.ttfb = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace,
		Subsystem: metricsSubsystem,
		Name:      "upstream_ttfb_seconds",
		Help:      "Time from sending a request upstream to its response headers, for answered requests.",
		Buckets:   []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120},
	}, []string{"instance", "upstream"})
	metrics.keys.desc = prometheus.NewDesc(
		prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "keys"),
		"Upstream keys by state (active, cooling, exhausted, disabled).",
		[]string{"instance", "upstream", "state"}, nil)
}

// registerMetrics registers the collectors into reg (a config load's
// registry). Another handler of the same config having registered them
// already is fine; any other error is returned.
func registerMetrics(reg *prometheus.Registry) error {
	metrics.once.Do(initMetrics)
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{metrics.requests, metrics.tokens, metrics.ttfb, &metrics.keys} {
		if err := reg.Register(c); err != nil {
			if _, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); !ok {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// observeMetrics counts one request.
func observeMetrics(instance string, rec *requestRecord) {
	metrics.once.Do(initMetrics)
	metrics.requests.WithLabelValues(instance, rec.Upstream, rec.ModelLabel, strconv.Itoa(rec.Status), rec.Client).Inc()
	if rec.Upstream == "" {
		return
	}
	if rec.InputTokens > 0 || rec.OutputTokens > 0 {
		metrics.tokens.WithLabelValues(instance, rec.Upstream, rec.ModelLabel, "input", rec.Client).Add(float64(max(rec.InputTokens, 0)))
		metrics.tokens.WithLabelValues(instance, rec.Upstream, rec.ModelLabel, "output", rec.Client).Add(float64(max(rec.OutputTokens, 0)))
	}
	if rec.TTFB > 0 {
		metrics.ttfb.WithLabelValues(instance, rec.Upstream).Observe(rec.TTFB.Seconds())
	}
}

// keysCollector reports the key-state gauge from the running instances at
// scrape time, so it is always current (health changes with time, not only
// with requests) and an instance removed from the config disappears.
type keysCollector struct {
	desc *prometheus.Desc
}

func (c *keysCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *keysCollector) Collect(ch chan<- prometheus.Metric) {
	states := []pool.State{pool.StateActive, pool.StateCooling, pool.StateExhausted, pool.StateDisabled}
	for _, g := range readyInstances() {
		counts := map[string]map[pool.State]int{}
		for _, u := range g.cfg.Upstreams {
			counts[u.Name] = map[pool.State]int{}
		}
		for _, k := range g.pool.Keys() {
			if counts[k.Spec.Upstream] == nil {
				counts[k.Spec.Upstream] = map[pool.State]int{}
			}
			counts[k.Spec.Upstream][k.State]++
		}
		for up, byState := range counts {
			for _, s := range states {
				ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(byState[s]), g.name, up, string(s))
			}
		}
	}
}
