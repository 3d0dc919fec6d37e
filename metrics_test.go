package llmproxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// sample is one line of Prometheus' text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// scrape reads Caddy's /metrics on the admin endpoint.
func scrape(t *testing.T) (samples []sample, raw string) {
	t.Helper()
	resp, err := adminClient.Get(adminBase + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unparsable metrics line %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, lp := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[lp[1]] = lp[2]
		}
		samples = append(samples, s)
	}
	return samples, string(b)
}

// value finds the sample of name whose labels include want.
func value(samples []sample, name string, want map[string]string) (float64, bool) {
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	keys := []string{"sk-metrics-key-0001", "sk-metrics-key-0002"}
	up := fakeupstream.NewOpenAI(t, keys...)
	name := instanceName(t)
	config := func(note string) string {
		return fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key %s {
				note %q
			}
			key %s
			models gpt-4o gpt-4.1*
			alias fast gpt-4o-mini
		}
	}`, name, up.URL, keys[0], note, keys[1])
	}
	startCaddy(t, config("first"))

	in4o, out4o := sendChats(t, 3, "gpt-4o")
	inFast, outFast := sendChats(t, 2, "fast")
	// A model admitted by a glob is labelled with the glob, never with what
	// the client sent.
	sendChats(t, 1, "gpt-4.1-client-chosen-name")
	if res := postChat(t, chatBody("no-such-model", "x")); res.status != 404 {
		t.Fatalf("%d %s", res.status, res.body)
	}

	want := func(when string, samples []sample, n4o, nFast float64) {
		t.Helper()
		checks := []struct {
			metric string
			labels map[string]string
			want   float64
		}{
			{"caddy_llm_proxy_requests_total", map[string]string{"upstream": "oai", "model": "gpt-4o", "code": "200"}, n4o},
			{"caddy_llm_proxy_requests_total", map[string]string{"upstream": "oai", "model": "fast", "code": "200"}, nFast},
			{"caddy_llm_proxy_requests_total", map[string]string{"upstream": "oai", "model": "gpt-4.1*", "code": "200"}, 1},
			{"caddy_llm_proxy_tokens_total", map[string]string{"upstream": "oai", "model": "gpt-4o", "direction": "input"}, float64(in4o)},
			{"caddy_llm_proxy_tokens_total", map[string]string{"upstream": "oai", "model": "gpt-4o", "direction": "output"}, float64(out4o)},
			{"caddy_llm_proxy_tokens_total", map[string]string{"upstream": "oai", "model": "fast", "direction": "input"}, float64(inFast)},
			{"caddy_llm_proxy_tokens_total", map[string]string{"upstream": "oai", "model": "fast", "direction": "output"}, float64(outFast)},
			{"caddy_llm_proxy_upstream_ttfb_seconds_count", map[string]string{"upstream": "oai"}, n4o + nFast + 1},
			{"caddy_llm_proxy_keys", map[string]string{"upstream": "oai", "state": "active"}, 2},
			{"caddy_llm_proxy_keys", map[string]string{"upstream": "oai", "state": "cooling"}, 0},
			{"caddy_llm_proxy_keys", map[string]string{"upstream": "oai", "state": "exhausted"}, 0},
			{"caddy_llm_proxy_keys", map[string]string{"upstream": "oai", "state": "disabled"}, 0},
		}
		for _, c := range checks {
			c.labels["instance"] = name
			got, ok := value(samples, c.metric, c.labels)
			if !ok || got != c.want {
				t.Errorf("%s: %s%v = %v (present %v), want %v", when, c.metric, c.labels, got, ok, c.want)
			}
		}
		if v, ok := value(samples, "caddy_llm_proxy_upstream_ttfb_seconds_bucket", map[string]string{"instance": name, "upstream": "oai", "le": "+Inf"}); !ok || v != n4o+nFast+1 {
			t.Errorf("%s: ttfb +Inf bucket %v", when, v)
		}
	}
	samples, raw := scrape(t)
	want("after traffic", samples, 3, 2)
	if strings.Contains(raw, "client-chosen") || strings.Contains(raw, "no-such-model") {
		t.Error("a model name chosen by a client became a label value")
	}
	for _, s := range keys {
		if strings.Contains(raw, s) {
			t.Error("/metrics shows a secret")
		}
	}

	// A reload keeps the counters; traffic after it adds to them.
	startCaddy(t, config("second"))
	samples, _ = scrape(t)
	want("after a reload", samples, 3, 2)
	i, o := sendChats(t, 1, "gpt-4o")
	in4o, out4o = in4o+i, out4o+o
	samples, _ = scrape(t)
	want("after traffic after a reload", samples, 4, 2)

	// The key gauge follows state changes at once.
	adminOK(t, 200, "PATCH", "/llm_proxy/"+name+"/keys/"+pool.KeyID("oai", keys[0]), `{"disabled":true}`)
	samples, _ = scrape(t)
	for state, n := range map[string]float64{"active": 1, "disabled": 1} {
		if v, _ := value(samples, "caddy_llm_proxy_keys", map[string]string{"instance": name, "upstream": "oai", "state": state}); v != n {
			t.Errorf("keys{state=%s} = %v, want %v", state, v, n)
		}
	}

	// An instance no longer configured leaves the gauge; its counters stay.
	other := name + "_other"
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key %s
		}
	}`, other, up.URL, keys[0]))
	samples, _ = scrape(t)
	if _, ok := value(samples, "caddy_llm_proxy_keys", map[string]string{"instance": name}); ok {
		t.Error("the key gauge still reports a removed instance")
	}
	if v, _ := value(samples, "caddy_llm_proxy_keys", map[string]string{"instance": other, "state": "active"}); v != 1 {
		t.Errorf("keys of the new instance: %v", v)
	}
	if v, _ := value(samples, "caddy_llm_proxy_requests_total", map[string]string{"instance": name, "model": "gpt-4o", "code": "200"}); v != 4 {
		t.Errorf("requests_total after the handler left: %v, want 4", v)
	}
}
