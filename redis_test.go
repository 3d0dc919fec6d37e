package llmproxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/admin"
	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// Integration tests of storage redis against a real redis-server, which the
// tests start themselves on a free loopback port (.ci/run installs the
// Debian package redis-server). Several Caddy instances share it: separate
// processes (this test binary run as Caddy, see TestMain), each with its own
// admin endpoint, as they would run behind a load balancer.

// redisServer is a redis-server of the test's, persisting with an
// append-only file fsynced at every write, so a kill loses nothing.
type redisServer struct {
	t    *testing.T
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
	out  *lockedWriter
}

// startRedis starts a redis-server, or skips the test when there is none.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("LLM_PROXY_REQUIRE_REDIS") != "" {
			t.Fatal("redis-server is not installed, and LLM_PROXY_REQUIRE_REDIS says the Redis tests must run")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server; .ci/run does): skipping the Redis integration tests")
	}
	r := &redisServer{t: t, bin: bin, port: freePort(t), dir: t.TempDir()}
	r.start()
	t.Cleanup(func() {
		if r.cmd != nil {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
	})
	return r
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d", r.port) }

func (r *redisServer) start() {
	r.t.Helper()
	r.out = &lockedWriter{}
	r.cmd = exec.Command(r.bin, "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--protected-mode", "no")
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), time.Second)
		if err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not start: %v\n%s", err, r.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the server at once (SIGKILL).
func (r *redisServer) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	_ = r.cmd.Wait()
	r.cmd = nil
}

// freePort finds a free loopback TCP port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// caddyInstance is one Caddy process of a multi-instance setup.
type caddyInstance struct {
	site, admin string // host:port
	cfgPath     string
	home        string
	cmd         *exec.Cmd
}

// startInstances writes a Caddyfile for each of n instances around the
// same llm_proxy block and starts them.
func startInstances(t *testing.T, n int, llmProxy string) []*caddyInstance {
	t.Helper()
	var out []*caddyInstance
	for i := range n {
		in := &caddyInstance{
			site:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			admin: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			home:  t.TempDir(),
		}
		in.cfgPath = filepath.Join(in.home, "Caddyfile")
		cfg := fmt.Sprintf("{\n\tadmin %s\n\tpersist_config off\n\tgrace_period 1s\n}\n\nhttp://%s {\n%s\n}\n", in.admin, in.site, llmProxy)
		if err := os.WriteFile(in.cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = i
		out = append(out, in)
	}
	startAll(t, out)
	return out
}

// startAll starts the instances' processes at once and waits for each.
func startAll(t *testing.T, ins []*caddyInstance) {
	t.Helper()
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Go(func() { in.cmd = startSubprocessCaddy(t, in.home, in.cfgPath, in.site) })
	}
	wg.Wait()
}

// stopAll stops the instances gracefully.
func stopAll(ins []*caddyInstance) {
	for _, in := range ins {
		_ = in.cmd.Process.Signal(os.Interrupt)
	}
	for _, in := range ins {
		_ = in.cmd.Wait()
	}
}

var multiClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

// chat posts an OpenAI Chat request for model to an instance.
func (in *caddyInstance) chat(t testing.TB, model string) rawResult {
	return in.post(t, "/v1/chat/completions", chatBody(model, "hello"))
}

func (in *caddyInstance) post(t testing.TB, path, body string, headers ...string) rawResult {
	req, _ := http.NewRequest(http.MethodPost, "http://"+in.site+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := multiClient.Do(req)
	if err != nil {
		t.Errorf("POST %s: %v", req.URL, err)
		return rawResult{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResult{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}
}

// adminDo calls an instance's admin API.
func (in *caddyInstance) adminDo(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+in.admin+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := multiClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (in *caddyInstance) key(t *testing.T, id string) admin.Key {
	t.Helper()
	status, body := in.adminDo(t, http.MethodGet, "/llm_proxy/multi/keys/"+id, "")
	if status != 200 {
		t.Fatalf("GET key %s: %d %s", id, status, body)
	}
	var k admin.Key
	if err := json.Unmarshal([]byte(body), &k); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRedisSeveralInstances runs three Caddy instances on one Redis:
// limits are exact across them, admin changes through one reach the
// others within a second, counters survive restarting every instance, and
// Redis going away gives 503s at once and service back by itself.
func TestRedisSeveralInstances(t *testing.T) {
	rs := startRedis(t)
	up := fakeupstream.NewOpenAI(t, "sk-rpm-0001", "sk-pool-0001", "sk-pool-0002", "sk-fresh-0000", "sk-fresh-0001", "sk-day-0001")
	block := fmt.Sprintf(`
	llm_proxy {
		name multi
		storage redis %s
		upstream lim {
			provider openai
			base_url %s
			models limited
			key sk-rpm-0001 {
				rpm 20
			}
		}
		upstream pool {
			provider openai
			base_url %[2]s
			models pooled
			key sk-pool-0001
			key sk-pool-0002
		}
		upstream fresh {
			provider openai
			base_url %[2]s
			models fresh
			key sk-fresh-0000 {
				disabled
			}
		}
		upstream day {
			provider openai
			base_url %[2]s
			models daily
			key sk-day-0001 {
				rpd 5
			}
		}
	}`, rs.url(), up.URL)
	ins := startInstances(t, 3, block)
	outer := t

	t.Run("rpm 20 across three instances", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		byStatus := map[int]int{}
		start := make(chan struct{})
		for i := range 200 {
			wg.Go(func() {
				<-start
				r := ins[i%3].chat(t, "limited")
				mu.Lock()
				byStatus[r.status]++
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		if got := up.Requests("sk-rpm-0001"); got != 20 {
			t.Errorf("the upstream got %d requests on a key with rpm 20, want exactly 20", got)
		}
		if byStatus[200] != 20 || byStatus[429] != 180 {
			t.Errorf("answers %v, want 20 × 200 and 180 × 429", byStatus)
		}
		k := ins[2].key(t, pool.KeyID("lim", "sk-rpm-0001"))
		if k.Usage.Minute != 20 || k.Usage.Day != 20 {
			t.Errorf("instance 3 sees usage %+v, want 20 in the minute and the day", k.Usage)
		}
	})

	t.Run("usage statistics count every instance's requests", func(t *testing.T) {
		var u admin.Usage
		last := ""
		defer func() {
			if t.Failed() {
				t.Log(last)
			}
		}()
		eventually(t, 3*time.Second, "the statistics of all three instances", func() bool {
			status, body := ins[1].adminDo(t, http.MethodGet, "/llm_proxy/multi/usage?by=upstream", "")
			last = body
			if status != 200 || json.Unmarshal([]byte(body), &u) != nil {
				return false
			}
			var n int64
			for _, g := range u.Groups {
				n += g.Requests
			}
			return n == 200
		})
		for _, g := range u.Groups {
			// The refused requests reached no upstream.
			if (g.Group == "lim" && g.Successes != 20) || (g.Group == "(none)" && g.Failures != 180) {
				t.Errorf("%s: %+v, want 20 successes on lim and 180 failures without an upstream", g.Group, g)
			}
		}
	})

	t.Run("a key disabled through one instance is skipped by the others", func(t *testing.T) {
		id := pool.KeyID("pool", "sk-pool-0001")
		for i := range 12 { // both keys in use everywhere
			if r := ins[i%3].chat(t, "pooled"); r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
		}
		if up.Requests("sk-pool-0001") == 0 {
			t.Fatal("the key to disable was never chosen, so skipping it would prove nothing")
		}
		if status, body := ins[0].adminDo(t, http.MethodPatch, "/llm_proxy/multi/keys/"+id, `{"disabled":true}`); status != 200 {
			t.Fatalf("PATCH: %d %s", status, body)
		}
		time.Sleep(time.Second)
		before := up.Requests("sk-pool-0001")
		for i := range 40 {
			if r := ins[1+i%2].chat(t, "pooled"); r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
		}
		if got := up.Requests("sk-pool-0001"); got != before {
			t.Errorf("instances 2 and 3 used the disabled key %d times a second after it was disabled", got-before)
		}
		if k := ins[2].key(t, id); k.State != "disabled" || k.Reason != "disabled through the admin API" {
			t.Errorf("instance 3 shows the key %s (%q)", k.State, k.Reason)
		}
	})

	t.Run("a key added through one instance is used by all", func(t *testing.T) {
		if r := ins[2].chat(t, "fresh"); r.status != 503 {
			t.Fatalf("before the key is added: %d %s", r.status, r.body)
		}
		status, body := ins[1].adminDo(t, http.MethodPost, "/llm_proxy/multi/keys", `{"upstream":"fresh","key":"sk-fresh-0001","rpm":1000}`)
		if status != 201 {
			t.Fatalf("POST: %d %s", status, body)
		}
		added := time.Now()
		for _, in := range []*caddyInstance{ins[0], ins[2]} {
			for {
				r := in.chat(t, "fresh")
				if r.status == 200 {
					break
				}
				if time.Since(added) > time.Second {
					t.Fatalf("instance %s still answers %d a second after the key was added: %s", in.site, r.status, r.body)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if got := up.Requests("sk-fresh-0001"); got < 2 {
			t.Errorf("the added key served %d requests", got)
		}
		k := ins[0].key(t, pool.KeyID("fresh", "sk-fresh-0001"))
		if k.Source != "admin" || k.Limits.RPM != 1000 {
			t.Errorf("instance 1 shows the added key as %+v", k)
		}
	})

	t.Run("rpd survives restarting every instance", func(t *testing.T) {
		for i := range 5 {
			if r := ins[i%3].chat(t, "daily"); r.status != 200 {
				t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
			}
		}
		stopAll(ins)
		startAll(outer, ins) // the processes outlive this subtest
		for _, in := range ins {
			if r := in.chat(t, "daily"); r.status != 429 {
				t.Errorf("after the restart %s answers %d, want 429 (rpd 5 used up): %s", in.site, r.status, r.body)
			}
		}
		if got := up.Requests("sk-day-0001"); got != 5 {
			t.Errorf("the upstream got %d requests on a key with rpd 5", got)
		}
		// The key disabled and the key added through the admin API
		// before the restart are still so.
		if k := ins[1].key(t, pool.KeyID("pool", "sk-pool-0001")); k.State != "disabled" {
			t.Errorf("after the restart the disabled key is %s", k.State)
		}
		if r := ins[1].chat(t, "fresh"); r.status != 200 {
			t.Errorf("after the restart the added key does not serve: %d %s", r.status, r.body)
		}
	})

	t.Run("Redis away: 503 at once, service back by itself", func(t *testing.T) {
		rs.kill()
		killed := time.Now()
		for _, in := range ins {
			for {
				r := in.chat(t, "pooled")
				if r.status == 503 {
					if !strings.Contains(r.body, `"error":{`) || !strings.Contains(r.body, "shared storage") {
						t.Errorf("503 not in the OpenAI shape: %s", r.body)
					}
					break
				}
				if time.Since(killed) > 2*time.Second {
					t.Fatalf("%s still answers %d two seconds after Redis stopped: %s", in.site, r.status, r.body)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		// The client's own API shape, here Anthropic's.
		r := ins[0].post(t, "/v1/messages", `{"model":"pooled","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			"anthropic-version", "2023-06-01")
		if r.status != 503 || !strings.Contains(r.body, `"type":"error"`) {
			t.Errorf("Anthropic client while Redis is down: %d %s", r.status, r.body)
		}
		// No hang: an answer comes at once.
		began := time.Now()
		r = ins[1].chat(t, "pooled")
		if d := time.Since(began); r.status != 503 || d > 500*time.Millisecond {
			t.Errorf("while Redis is down a request got %d after %s, want 503 at once: %s", r.status, d, r.body)
		}

		rs.start()
		back := time.Now()
		for _, in := range ins {
			for {
				r := in.chat(t, "pooled")
				if r.status == 200 {
					break
				}
				if time.Since(back) > 5*time.Second {
					t.Fatalf("%s still answers %d five seconds after Redis came back: %s", in.site, r.status, r.body)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		t.Logf("503 within %s of Redis stopping; service back within %s of its return", time.Since(killed)-time.Since(back), time.Since(back))
		// Nothing Redis kept was lost: the day's count of the rpd key.
		if r := ins[2].chat(t, "daily"); r.status != 429 {
			t.Errorf("after Redis restarted the rpd key answers %d: %s", r.status, r.body)
		}
	})
}

// TestRedisFailOpen: with on_error open, an instance serves while Redis is
// unreachable, without limits.
func TestRedisFailOpen(t *testing.T) {
	rs := startRedis(t)
	up := fakeupstream.NewOpenAI(t, "sk-open-0001")
	ins := startInstances(t, 1, fmt.Sprintf(`
	llm_proxy {
		name multi
		storage redis %s {
			prefix open-test:
			on_error open
		}
		upstream oai {
			provider openai
			base_url %s
			key sk-open-0001 {
				rpm 2
			}
		}
	}`, rs.url(), up.URL))
	in := ins[0]
	for range 2 {
		if r := in.chat(t, "gpt-4o"); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	if r := in.chat(t, "gpt-4o"); r.status != 429 {
		t.Fatalf("rpm 2 with Redis up: %d %s", r.status, r.body)
	}
	rs.kill()
	// The instance notices within a second (its next call to Redis, at
	// the latest the change poll), then serves beyond the limit.
	killed := time.Now()
	for {
		r := in.chat(t, "gpt-4o")
		if r.status == 200 {
			break
		}
		if time.Since(killed) > 2*time.Second {
			t.Fatalf("still %d two seconds after Redis stopped: %s", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := range 5 {
		if r := in.chat(t, "gpt-4o"); r.status != 200 {
			t.Fatalf("request %d while Redis is down: %d %s", i+1, r.status, r.body)
		}
	}
	if got := up.Requests("sk-open-0001"); got < 8 {
		t.Errorf("the upstream got %d requests, want the 2 of the limit and 6 more", got)
	}
}

// TestRedisInProcess drives one instance on Redis through Caddy in this
// process: the admin API reads and changes key state in Redis, a reload
// keeps it, and so does a restart of the handler.
func TestRedisInProcess(t *testing.T) {
	rs := startRedis(t)
	keys := []string{"sk-inproc-0001", "sk-inproc-0002"}
	up := fakeupstream.NewOpenAI(t, keys...)
	up.SetBehavior(keys[1], fakeupstream.Behavior{Status: 429, RetryAfter: "30"})
	name := instanceName(t)
	t.Cleanup(func() { startCaddy(t, `respond "done"`) })
	config := func(note string) string {
		return fmt.Sprintf(`
	llm_proxy {
		name %s
		storage redis %s
		upstream oai {
			provider openai
			base_url %s
			key %s {
				rpd 1000
				note %q
			}
			key %s
		}
	}`, name, rs.url(), up.URL, keys[0], note, keys[1])
	}
	startCaddy(t, config("first"))
	for range 12 {
		if r := postChat(t, chatBody("gpt-4o", "in process")); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	id0, id1 := pool.KeyID("oai", keys[0]), pool.KeyID("oai", keys[1])
	before := adminKeys(t, name)
	if u := before[id0].Usage; u.Total != 12 || u.Day != 12 || u.Minute != 12 || u.TokensTotal == 0 {
		t.Fatalf("usage from Redis: %+v", u)
	}
	if k := before[id1]; k.State != "cooling" || k.Reason != "429 from upstream" || k.Until == nil {
		t.Fatalf("429 key: %+v", k)
	}

	check := func(when string) {
		t.Helper()
		after := adminKeys(t, name)
		if after[id0].Usage != before[id0].Usage {
			t.Errorf("%s: usage %+v, want %+v", when, after[id0].Usage, before[id0].Usage)
		}
		if k := after[id1]; k.State != "cooling" || k.Until == nil || !k.Until.Equal(*before[id1].Until) {
			t.Errorf("%s: 429 key %+v", when, k)
		}
	}
	startCaddy(t, config("second"))
	check("after a reload")
	startCaddy(t, `respond "no proxy here"`)
	startCaddy(t, config("third"))
	check("after a restart")

	// Admin changes act on Redis.
	adminOK(t, 200, "PATCH", "/llm_proxy/"+name+"/keys/"+id0, `{"rpd":12}`)
	if r := postChat(t, chatBody("gpt-4o", "over rpd")); r.status != 429 {
		t.Fatalf("rpd lowered to the day's count: %d %s", r.status, r.body)
	}
	adminOK(t, 200, "POST", "/llm_proxy/"+name+"/keys/"+id0+"/reset", nil)
	if k := adminKey(t, name, id0); k.Usage.Day != 0 || k.Usage.Total != 0 {
		t.Fatalf("after reset: %+v", k.Usage)
	}
	if r := postChat(t, chatBody("gpt-4o", "after reset")); r.status != 200 {
		t.Fatalf("after reset: %d %s", r.status, r.body)
	}
	var ans struct{ IDs []string }
	adminOK(t, 201, "POST", "/llm_proxy/"+name+"/keys", `{"upstream":"oai","key":"sk-inproc-added"}`).decode(t, &ans)
	if len(ans.IDs) != 1 || len(ans.IDs[0]) != len("oai-")+16 {
		t.Fatalf("ids %v", ans.IDs)
	}
	adminOK(t, 200, "DELETE", "/llm_proxy/"+name+"/keys/"+ans.IDs[0], nil)
	if _, ok := adminKeys(t, name)[ans.IDs[0]]; ok {
		t.Fatal("deleted key still listed")
	}
	// The old 8-digit form of an id still finds the key.
	if k := adminKey(t, name, id0[:len(id0)-8]); k.ID != id0 {
		t.Fatalf("old id: %+v", k)
	}
}
