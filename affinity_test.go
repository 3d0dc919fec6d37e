package llmproxy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmproxy/caddy-llm-proxy/gateway"
	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// keyCounter tells which of a fake's keys served each request, from the
// fake's own per-key counts.
type keyCounter struct {
	t    *testing.T
	up   *fakeupstream.Server
	keys []string
	last map[string]int
}

func newKeyCounter(t *testing.T, up *fakeupstream.Server, keys []string) *keyCounter {
	kc := &keyCounter{t: t, up: up, keys: keys, last: map[string]int{}}
	kc.served()
	return kc
}

// served is the one key that got requests since the last call ("" when
// none did); it fails the test when several did.
func (kc *keyCounter) served() string {
	kc.t.Helper()
	got := kc.changed()
	if len(got) > 1 {
		kc.t.Fatalf("keys %v all got requests", got)
	}
	if len(got) == 0 {
		return ""
	}
	return got[0]
}

// changed lists the keys that got requests since the last call.
func (kc *keyCounter) changed() []string {
	var got []string
	for _, k := range kc.keys {
		n := kc.up.Requests(k)
		if n != kc.last[k] {
			got = append(got, k)
		}
		kc.last[k] = n
	}
	return got
}

func fiveKeys(prefix string) []string {
	var out []string
	for i := range 5 {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func affinityConfig(name, base string, keys []string, extra string) string {
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\t\t\tkey %s\n", k)
	}
	return fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		affinity 1h
		%s
		upstream oai {
			provider openai
			base_url %s
%s		}
	}`, name, extra, base, b.String())
}

// One conversation lands on one key of five, by its opening or by
// x-session-id; different conversations spread over the keys.
func TestAffinityOneConversationOneKey(t *testing.T) {
	keys := fiveKeys("sk-aff")
	up := fakeupstream.NewOpenAI(t, keys...)
	startCaddy(t, affinityConfig(instanceName(t), up.URL, keys, ""))
	kc := newKeyCounter(t, up, keys)
	client := openaiClient()
	ctx := context.Background()

	// The same system prompt and first user message, the conversation
	// growing turn by turn, as a chat client sends it.
	msgs := []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage("You are terse."),
		openai.UserMessage("Plan a day in Rome."),
	}
	home := ""
	for i := range 20 {
		resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: msgs})
		if err != nil {
			t.Fatalf("turn %d: %v", i, err)
		}
		k := kc.served()
		if home == "" {
			home = k
		} else if k != home {
			t.Fatalf("turn %d went to %s, the conversation was on %s", i, k, home)
		}
		msgs = append(msgs, openai.AssistantMessage(resp.Choices[0].Message.Content), openai.UserMessage(fmt.Sprintf("And then %d?", i)))
	}

	// x-session-id names the conversation whatever the messages say.
	session := ""
	for i := range 20 {
		_, err := client.Chat.Completions.New(ctx, userMessage("gpt-4o", fmt.Sprintf("unrelated question %d", i)),
			option.WithHeader("x-session-id", "session-42"))
		if err != nil {
			t.Fatal(err)
		}
		k := kc.served()
		if session == "" {
			session = k
		} else if k != session {
			t.Fatalf("request %d of session-42 went to %s, the session was on %s", i, k, session)
		}
	}

	// The other client APIs: Anthropic's metadata.user_id, Responses'
	// prompt_cache_key, Gemini's opening as turns are added.
	for api, body := range map[string]func(i int) (path, body string){
		"anthropic": func(i int) (string, string) {
			return "/v1/messages", fmt.Sprintf(`{"model":"gpt-4o","max_tokens":50,"metadata":{"user_id":"user-7"},"messages":[{"role":"user","content":"question %d"}]}`, i)
		},
		"responses": func(i int) (string, string) {
			return "/v1/responses", fmt.Sprintf(`{"model":"gpt-4o","prompt_cache_key":"cache-7","input":"question %d"}`, i)
		},
		"gemini": func(i int) (string, string) {
			turns := `{"role":"user","parts":[{"text":"first question"}]}`
			for j := range i {
				turns += fmt.Sprintf(`,{"role":"model","parts":[{"text":"answer %d"}]},{"role":"user","parts":[{"text":"more %d"}]}`, j, j)
			}
			return "/v1beta/models/gpt-4o:generateContent", `{"systemInstruction":{"parts":[{"text":"Be terse."}]},"contents":[` + turns + `]}`
		},
	} {
		home := ""
		for i := range 10 {
			path, b := body(i)
			req, _ := http.NewRequest(http.MethodPost, proxyBase+path, strings.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("anthropic-version", "2023-06-01")
			if r := do(t, req); r.status != 200 {
				t.Fatalf("%s: %d %s", api, r.status, r.body)
			}
			k := kc.served()
			if home == "" {
				home = k
			} else if k != home {
				t.Fatalf("%s: request %d went to %s, the conversation was on %s", api, i, k, home)
			}
		}
	}

	// Different conversations spread by weight.
	used := map[string]int{}
	for i := range 40 {
		if r := postChat(t, chatBody("gpt-4o", fmt.Sprintf("conversation %d", i))); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		used[kc.served()]++
	}
	if len(used) < 3 {
		t.Fatalf("40 conversations used %d of 5 keys (%v), want them spread", len(used), used)
	}
}

// A conversation moves when its key starts answering 429, and stays on its
// new key once the old one is healthy again.
func TestAffinityMovesOn429(t *testing.T) {
	keys := fiveKeys("sk-move")
	up := fakeupstream.NewOpenAI(t, keys...)
	name := instanceName(t)
	startCaddy(t, affinityConfig(name, up.URL, keys, ""))
	kc := newKeyCounter(t, up, keys)
	send := func() {
		t.Helper()
		if r := postChat(t, chatBody("gpt-4o", "a long conversation"), "x-session-id", "moving"); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	send()
	home := kc.served()
	up.SetBehavior(home, fakeupstream.Behavior{Status: 429, RetryAfter: "30"})
	send()
	// The 429 attempt and the retry that served.
	moved := ""
	for _, k := range kc.changed() {
		if k != home {
			moved = k
		}
	}
	if moved == "" {
		t.Fatal("no other key served after the 429")
	}
	up.SetBehavior(home, fakeupstream.Behavior{})
	gwPool(t, name).Reset(pool.KeyID("oai", home))
	for i := range 10 {
		send()
		if k := kc.served(); k != moved {
			t.Fatalf("request %d went to %s, want the conversation to stay on %s", i, k, moved)
		}
	}
}

// Two instances on one Redis share conversations.
func TestAffinityRedisTwoInstances(t *testing.T) {
	rs := startRedis(t)
	keys := fiveKeys("sk-raff")
	up := fakeupstream.NewOpenAI(t, keys...)
	name := instanceName(t)
	t.Cleanup(func() { startCaddy(t, `respond "done"`) })
	var kb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&kb, "\t\t\t\tkey %s\n", k)
	}
	handler := func(suffix string) string {
		return fmt.Sprintf(`
	handle_path /%[1]s/* {
		llm_proxy {
			name %[2]s-%[1]s
			storage redis %[3]s {
				prefix %[2]s:
			}
			affinity 10m
			upstream oai {
				provider openai
				base_url %[4]s
%[5]s			}
		}
	}`, suffix, name, rs.url(), up.URL, kb.String())
	}
	startCaddy(t, handler("a")+handler("b"))
	kc := newKeyCounter(t, up, keys)
	ctx := context.Background()
	clients := []openai.Client{
		openaiClient(option.WithBaseURL(proxyBase + "/a/v1")),
		openaiClient(option.WithBaseURL(proxyBase + "/b/v1")),
	}
	for conv := range 3 {
		home := ""
		for i := range 10 {
			params := openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{
				openai.SystemMessage("Shared."), openai.UserMessage(fmt.Sprintf("conversation %d", conv)),
			}}
			if _, err := clients[i%2].Chat.Completions.New(ctx, params); err != nil {
				t.Fatal(err)
			}
			k := kc.served()
			if home == "" {
				home = k
			} else if k != home {
				t.Fatalf("conversation %d: request %d (instance %d) went to %s, it was on %s", conv, i, i%2, k, home)
			}
		}
	}
}

// A one-key upstream whose first answer is a 500 (or a dropped
// connection) still answers the client: the same key is tried again.
func TestSameKeyRetry(t *testing.T) {
	up := fakeupstream.NewOpenAI(t, "sk-only-one")
	config := func(retries int) string {
		return fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		retries %d
		upstream oai {
			provider openai
			base_url %s
			key sk-only-one
		}
	}`, instanceName(t), retries, up.URL)
	}
	startCaddy(t, config(2))
	client := openaiClient()
	for _, b := range []fakeupstream.Behavior{{Status: 500, Times: 1}, {Status: 503, Times: 2}, {Hangup: true, Times: 1}} {
		before := up.Requests("sk-only-one")
		up.SetBehavior("sk-only-one", b)
		if _, err := client.Chat.Completions.New(context.Background(), userMessage("gpt-4o", "blip")); err != nil {
			t.Fatalf("%+v: %v", b, err)
		}
		if got := up.Requests("sk-only-one") - before; got != b.Times+1 {
			t.Fatalf("%+v: the key got %d requests, want %d", b, got, b.Times+1)
		}
	}
	// A 429 is not tried again on the key that sent it.
	up.SetBehavior("sk-only-one", fakeupstream.Behavior{Status: 429, Times: 1})
	before := up.Requests("sk-only-one")
	if r := postChat(t, chatBody("gpt-4o", "rate limited")); r.status != 429 {
		t.Fatalf("429 on the only key: %d %s", r.status, r.body)
	}
	if got := up.Requests("sk-only-one") - before; got != 1 {
		t.Fatalf("a 429 was sent %d times", got)
	}
	// Retries bound it: with none, the blip reaches the client.
	startCaddy(t, strings.Replace(config(0), "name ", "name x", 1))
	up.SetBehavior("sk-only-one", fakeupstream.Behavior{Status: 500, Times: 1})
	if r := postChat(t, chatBody("gpt-4o", "no retries")); r.status != http.StatusBadGateway {
		t.Fatalf("retries 0: %d %s", r.status, r.body)
	}
}

// Each key's own base_url and header go with that key's requests only,
// for generations, probes and keys added through the admin API; header
// values and proxy passwords are never shown.
func TestPerKeyEgress(t *testing.T) {
	main := fakeupstream.NewOpenAI(t, "sk-main-key", "sk-added-key")
	other := fakeupstream.NewOpenAI(t, "sk-other-key")
	name := instanceName(t)
	config := fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		retries 0
		upstream oai {
			provider openai
			base_url %s
			header X-Tag upstream
			header X-Upstream-Only yes
			key sk-main-key {
				header X-Tag main
			}
			key sk-other-key {
				base_url %s
				header X-Tag other
				header X-Other-Only secret-header-value
			}
		}
	}`, name, main.URL, other.URL)
	startCaddy(t, config)
	for i := range 30 {
		mainBefore, otherBefore := main.TotalRequests(), other.TotalRequests()
		if r := postChat(t, chatBody("gpt-4o", fmt.Sprintf("egress %d", i))); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		switch {
		case main.TotalRequests() > mainBefore:
			h := main.LastRequest().Header
			if h.Get("X-Tag") != "main" || h.Get("X-Upstream-Only") != "yes" || h.Get("X-Other-Only") != "" {
				t.Fatalf("main key's request carried %v", h)
			}
		case other.TotalRequests() > otherBefore:
			h := other.LastRequest().Header
			if h.Get("X-Tag") != "other" || h.Get("X-Upstream-Only") != "yes" || h.Get("X-Other-Only") != "secret-header-value" {
				t.Fatalf("other key's request carried %v", h)
			}
		}
	}
	if main.Requests("sk-main-key") == 0 || other.Requests("sk-other-key") == 0 {
		t.Fatalf("30 requests did not use both keys: main %d, other %d", main.Requests("sk-main-key"), other.Requests("sk-other-key"))
	}
	// A probe goes where its key goes.
	before := other.TotalRequests()
	adminOK(t, 200, "POST", "/llm_proxy/"+name+"/keys/check", nil)
	if other.TotalRequests() != before+1 || other.LastRequest().Path != "/v1/models" {
		t.Fatalf("the other key's probe did not reach its own base_url")
	}

	// Added through the admin API: its own base_url, headers and proxy.
	hits := make(chan string, 10)
	proxy := forwardProxy(t, hits, nil)
	pu, _ := url.Parse(proxy.URL)
	pu.User = url.UserPassword("proxyuser", "proxy-password-123")
	var ans struct{ IDs []string }
	adminOK(t, 201, "POST", "/llm_proxy/"+name+"/keys", map[string]any{
		"upstream": "oai", "key": "sk-added-key", "base_url": "http://added.test:4321/v1", "proxy": pu.String(),
		"headers": map[string]string{"X-Tag": "added", "X-Secret": "hidden-value-456"},
		"weight":  1000,
	}).decode(t, &ans)
	// Proxied to added.test, which the proxy sends on to the main fake.
	proxyTarget.Store(main.URL)
	got := false
	for range 10 {
		before := main.Requests("sk-added-key")
		if r := postChat(t, chatBody("gpt-4o", "through the added key")); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if main.Requests("sk-added-key") > before {
			got = true
			h := main.LastRequest().Header
			if h.Get("X-Tag") != "added" || h.Get("X-Secret") != "hidden-value-456" {
				t.Fatalf("added key's request carried %v", h)
			}
			select {
			case hit := <-hits:
				if hit != "added.test:4321 Basic "+basicAuth("proxyuser", "proxy-password-123") {
					t.Fatalf("the proxy saw %q", hit)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the added key's request did not go through its proxy")
			}
		}
	}
	if !got {
		t.Fatal("the added key (weight 1000) served none of 10 requests")
	}
	a := adminOK(t, 200, "GET", "/llm_proxy/"+name+"/keys", nil)
	for _, secret := range []string{"proxy-password-123", "proxyuser", "hidden-value-456", "secret-header-value"} {
		if strings.Contains(a.body, secret) {
			t.Fatalf("the admin API shows %q: %s", secret, a.body)
		}
	}
	k := adminKey(t, name, ans.IDs[0])
	if k.BaseURL != "http://added.test:4321/v1" || !strings.Contains(k.Proxy, "***@127.0.0.1") ||
		strings.Join(k.Headers, ",") != "X-Secret,X-Tag" {
		t.Fatalf("added key shows base_url %q proxy %q headers %v", k.BaseURL, k.Proxy, k.Headers)
	}
	// Saved with the key: a reload keeps its own way out.
	startCaddy(t, strings.Replace(config, "retries 0", "retries 1", 1))
	if k2 := adminKey(t, name, ans.IDs[0]); k2.BaseURL != k.BaseURL || k2.Proxy != k.Proxy || len(k2.Headers) != 2 {
		t.Fatalf("after a reload the added key shows base_url %q proxy %q headers %v", k2.BaseURL, k2.Proxy, k2.Headers)
	}
	adminErr(t, 400, `"proxy" must be`, "POST", "/llm_proxy/"+name+"/keys",
		`{"upstream":"oai","key":"sk-bad-proxy","proxy":"ftp://u:pw-in-url@host"}`)
	a = adminCall(t, "POST", "/llm_proxy/"+name+"/keys", `{"upstream":"oai","key":"sk-bad-proxy","proxy":"ftp://u:pw-in-url@host"}`)
	if strings.Contains(a.body, "pw-in-url") {
		t.Fatalf("an error shows the proxy's password: %s", a.body)
	}
}

// proxyTarget is where forwardProxy sends requests for made-up hosts.
var proxyTarget proxyTo

type proxyTo struct {
	sync.Mutex
	url string
}

func (p *proxyTo) Store(u string) {
	p.Lock()
	p.url = u
	p.Unlock()
}

func basicAuth(user, pw string) string {
	r, _ := http.NewRequest("GET", "http://x", nil)
	r.SetBasicAuth(user, pw)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// forwardProxy is an HTTP forward proxy that sends every request on to
// target (or proxyTarget) whatever host it names, as if it resolved the
// made-up hosts of the tests; hits hears "host Proxy-Authorization" of each.
func forwardProxy(t *testing.T, hits chan<- string, target *url.URL) *httptest.Server {
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		to := target
		if to == nil {
			proxyTarget.Lock()
			to, _ = url.Parse(proxyTarget.url)
			proxyTarget.Unlock()
		}
		pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = to.Scheme, to.Host, to.Host
	}}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		hits <- strings.TrimSpace(r.URL.Host + " " + r.Header.Get("Proxy-Authorization"))
		r.Header.Del("Proxy-Authorization")
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// An upstream without `proxy` goes through HTTP_PROXY from the
// environment, read at provision; NO_PROXY keeps a host off it.
func TestUpstreamProxyFromEnvironment(t *testing.T) {
	up := fakeupstream.NewOpenAI(t, "sk-env-proxy")
	target, _ := url.Parse(up.URL)
	hits := make(chan string, 10)
	proxy := forwardProxy(t, hits, target)
	// net/http reads the environment once per process: have it read the
	// clean one, so that no other client of this process ever uses the
	// proxy set below.
	probe, _ := http.NewRequest(http.MethodGet, "http://example.com", nil)
	_, _ = http.ProxyFromEnvironment(probe)
	for _, v := range []string{"http_proxy", "https_proxy", "no_proxy", "all_proxy", "ALL_PROXY"} {
		t.Setenv(v, "")
	}
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	config := func(name string) string {
		return fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		retries 0
		upstream oai {
			provider openai
			base_url http://upstream.test:1234/v1
			key sk-env-proxy
		}
	}`, name)
	}
	startCaddy(t, config(instanceName(t)))
	if r := postChat(t, chatBody("gpt-4o", "via the environment's proxy")); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if hit := <-hits; hit != "upstream.test:1234" {
		t.Fatalf("the proxy saw %q", hit)
	}
	if up.Requests("sk-env-proxy") != 1 {
		t.Fatalf("the upstream got %d requests", up.Requests("sk-env-proxy"))
	}

	t.Setenv("NO_PROXY", "example.com,upstream.test")
	startCaddy(t, config(instanceName(t)+"_no_proxy"))
	if r := postChat(t, chatBody("gpt-4o", "not via the proxy")); r.status != http.StatusBadGateway {
		t.Fatalf("NO_PROXY: %d %s, want 502 (upstream.test resolves nowhere)", r.status, r.body)
	}
	select {
	case hit := <-hits:
		t.Fatalf("the proxy saw %q despite NO_PROXY", hit)
	default:
	}
}

func gwPool(t *testing.T, instance string) *pool.Pool {
	t.Helper()
	g := gateway.Running(instance)
	if g == nil {
		t.Fatalf("instance %q is not running", instance)
	}
	return g.Pool()
}
