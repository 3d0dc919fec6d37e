package llmproxy

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/llmproxy/caddy-llm-proxy/gateway"
	"github.com/llmproxy/caddy-llm-proxy/internal/testcaddy"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// Ports the in-process Caddy listens on. LLMP_TEST_PORT_OFFSET shifts them
// all (say by 1000), so that several checkouts can run their tests at once
// on one machine.
var (
	httpPort  = testcaddy.Port(9080)
	adminPort = testcaddy.Port(2999)
	proxyBase = fmt.Sprintf("http://localhost:%d", httpPort)
	adminBase = fmt.Sprintf("http://localhost:%d", adminPort)
)

func init() { caddytest.Default.AdminPort = adminPort }

// startCaddy loads a Caddyfile whose site runs the given llm_proxy block,
// into the one Caddy that caddytest runs in this process (a second call is a
// real config reload).
func startCaddy(t *testing.T, llmProxy string) *caddytest.Tester {
	t.Helper()
	return loadConfig(t, testCaddyfile("", llmProxy), "caddyfile")
}

// loadConfig loads a whole config, Caddyfile or JSON.
func loadConfig(t *testing.T, config, adapter string) *caddytest.Tester {
	t.Helper()
	tester := caddytest.NewTester(t)
	tester.InitServer(config, adapter)
	if t.Failed() {
		t.FailNow()
	}
	// A reload closes the old server's connections; drop ours so that no
	// POST goes out on a connection the server is closing.
	rawClient.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	return tester
}

func testCaddyfile(globals, site string) string {
	if globals != "" {
		globals = "\n" + globals
	}
	return fmt.Sprintf(`{
	skip_install_trust
	admin localhost:%d
	http_port %d
	https_port %d
	grace_period 1ns%s
}

http://localhost:%d {
%s
}
`, adminPort, httpPort, testcaddy.Port(9443), globals, httpPort, site)
}

// proxyBlock is an llm_proxy block with memory storage and the given
// upstream blocks (see upstreamBlock).
func proxyBlock(instance string, upstreams ...string) string {
	return fmt.Sprintf("\tllm_proxy {\n\t\tname %s\n\t\tstorage memory\n%s\t}", instance, strings.Join(upstreams, ""))
}

// upstreamBlock is an upstream block: its provider and base URL, then the
// given lines (keys, models, ...).
func upstreamBlock(name, provider, base string, lines ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\t\tupstream %s {\n\t\t\tprovider %s\n\t\t\tbase_url %s\n", name, provider, base)
	for _, l := range lines {
		fmt.Fprintf(&b, "\t\t\t%s\n", l)
	}
	b.WriteString("\t\t}\n")
	return b.String()
}

// instanceName makes a per-test instance name, so that memory-backed pool
// state never carries over from one test's config to the next.
func instanceName(t *testing.T) string {
	return strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"))
}

func openaiClient(opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(proxyBase + "/v1"),
		option.WithAPIKey("unused"),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(20 * time.Second),
	}, opts...)...)
}

func userMessage(model, text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
	}
}

// keyStatus reads a key's live state from the running instance.
func keyStatus(t *testing.T, instance, upstream, secret string) pool.KeyStatus {
	t.Helper()
	p := gateway.Running(instance)
	if p == nil {
		t.Fatalf("instance %q is not running", instance)
	}
	id := pool.KeyID(upstream, secret)
	for _, k := range p.Pool().Keys() {
		if k.Spec.ID == id {
			return k
		}
	}
	t.Fatalf("key %s of upstream %s not found", id, upstream)
	return pool.KeyStatus{}
}

// rawResult is a plain HTTP answer, for tests that fire many requests.
type rawResult struct {
	status     int
	retryAfter string
	body       string
}

var rawClient = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}

func postChat(t testing.TB, body string, headers ...string) rawResult {
	req, _ := http.NewRequest(http.MethodPost, proxyBase+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) rawResult {
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", req.Method, req.URL, err)
		return rawResult{}
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return rawResult{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: b.String()}
}

// burst sends n identical requests at once and counts answers by status.
func burst(t testing.TB, n int, body string) (byStatus map[int]int, results []rawResult) {
	results = make([]rawResult, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = postChat(t, body)
		}()
	}
	close(start)
	wg.Wait()
	byStatus = map[int]int{}
	for _, r := range results {
		byStatus[r.status]++
	}
	return byStatus, results
}

func chatBody(model, text string) string {
	return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}]}`, model, text)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func optionKey(k string) option.RequestOption { return option.WithAPIKey(k) }
