package llmproxy

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/llmproxy/caddy-llm-proxy/gateway"
	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/internal/testcaddy"
	"github.com/llmproxy/caddy-llm-proxy/pool"
	"github.com/llmproxy/caddy-llm-proxy/store"
)

var testBinary string

// TestMain lets the test binary double as a Caddy binary with this plugin,
// so the crash test can run Caddy as a real subprocess and kill it.
func TestMain(m *testing.M) {
	// caddytest rewrites os.Args when it starts its in-process Caddy.
	testBinary, _ = os.Executable()
	if os.Getenv("LLMPROXY_TEST_RUN_CADDY") == "1" {
		caddycmd.Main()
		return
	}
	os.Exit(m.Run())
}

func TestCountersAndKeyStatesSurviveReloadAndRestart(t *testing.T) {
	dir := t.TempDir()
	// Release the database before its directory is removed (cleanups run
	// last-in first-out), or Badger keeps writing into a deleted directory
	// and the next config load waits for it.
	t.Cleanup(func() { startCaddy(t, `respond "done"`) })
	keys := []string{"sk-persist-good", "sk-persist-429"}
	up := fakeupstream.NewOpenAI(t, keys...)
	up.SetBehavior(keys[1], fakeupstream.Behavior{Status: 429, RetryAfter: "3000"})
	name := instanceName(t)
	config := func(note string) string {
		return fmt.Sprintf(`
	llm_proxy {
		name %s
		storage badger %s
		upstream oai {
			provider openai
			base_url %s
			key %s {
				rpd 1000
				note %q
			}
			key %s
		}
	}`, name, dir, up.URL, keys[0], note, keys[1])
	}
	startCaddy(t, config("first"))
	for range 12 {
		if res := postChat(t, chatBody("gpt-4o", "persist me")); res.status != 200 {
			t.Fatalf("%d %s", res.status, res.body)
		}
	}
	before := keyStatus(t, name, "oai", keys[0])
	cooling := keyStatus(t, name, "oai", keys[1])
	if before.Usage.Total != 12 || before.Usage.Day != 12 || before.Usage.TokensTotal == 0 {
		t.Fatalf("before: %+v", before.Usage)
	}
	if cooling.State != pool.StateCooling {
		t.Fatalf("429 key: %s", cooling.State)
	}

	check := func(when string) {
		t.Helper()
		got := keyStatus(t, name, "oai", keys[0])
		if got.Usage.Total != before.Usage.Total || got.Usage.Day != before.Usage.Day ||
			got.Usage.Minute != before.Usage.Minute || got.Usage.TokensTotal != before.Usage.TokensTotal || got.Usage.TokensDay != before.Usage.TokensDay {
			t.Errorf("%s: usage %+v, want %+v", when, got.Usage, before.Usage)
		}
		c := keyStatus(t, name, "oai", keys[1])
		if c.State != pool.StateCooling || c.Until.Unix() != cooling.Until.Unix() {
			t.Errorf("%s: 429 key %s until %s, want cooling until %s", when, c.State, c.Until, cooling.Until)
		}
	}

	// A reload (the new config starts before the old one stops).
	startCaddy(t, config("second"))
	check("after a reload")

	// A restart: a config without the handler releases the database...
	startCaddy(t, `respond "no proxy here"`)
	if gateway.Running(name) != nil {
		t.Fatal("instance still running after it was removed from the config")
	}
	db, err := store.OpenBadger(dir, nil)
	if err != nil {
		t.Fatalf("the database is still held after the handler stopped: %v", err)
	}
	_ = db.Close()
	// ...and a fresh start reads it back from disk.
	startCaddy(t, config("third"))
	check("after a restart")
}

// TestCrashLosesAtMostTheLastSecond runs Caddy as a subprocess, kills it with
// SIGKILL under load, restarts it on the same Badger directory and checks
// that the counts persisted before the crash miss at most the requests of
// the last second.
func TestCrashLosesAtMostTheLastSecond(t *testing.T) {
	const key = "sk-crash-0001"
	up := fakeupstream.NewOpenAI(t, key)
	work := t.TempDir()
	dir := filepath.Join(work, "badger")
	cfgPath := filepath.Join(work, "Caddyfile")
	addr := fmt.Sprintf("127.0.0.1:%d", testcaddy.Port(9180))
	cfg := fmt.Sprintf(`{
	admin localhost:%d
	persist_config off
	grace_period 1s
}

http://%s {
	llm_proxy {
		name crash
		storage badger %s
		upstream oai {
			provider openai
			base_url %s
			key %s
		}
	}
}
`, testcaddy.Port(2998), addr, dir, up.URL, key)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	body := chatBody("gpt-4o", "crash")

	caddy := startSubprocessCaddy(t, work, cfgPath, addr)

	// Load from 4 clients; remember when each success came back.
	var mu sync.Mutex
	var done []time.Time
	started := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				started++
				mu.Unlock()
				resp, err := client.Post("http://"+addr+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					done = append(done, time.Now())
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(2500 * time.Millisecond)
	killedAt := time.Now()
	if err := caddy.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = caddy.Wait()
	close(stop)
	wg.Wait()

	mu.Lock()
	sort.Slice(done, func(i, j int) bool { return done[i].Before(done[j]) })
	// Allow the flush period (1 s) and a little scheduling slack.
	bound := killedAt.Add(-1200 * time.Millisecond)
	mustKeep := sort.Search(len(done), func(i int) bool { return done[i].After(bound) })
	succeeded, attempted := len(done), started
	mu.Unlock()
	if succeeded < 100 {
		t.Fatalf("only %d requests succeeded before the kill; the load did not run", succeeded)
	}

	// Restart on the same directory; it must come up and serve.
	caddy = startSubprocessCaddy(t, work, cfgPath, addr)
	resp, err := client.Post("http://"+addr+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after restart: %v %v", resp, err)
	}
	resp.Body.Close()
	_ = caddy.Process.Signal(os.Interrupt)
	_ = caddy.Wait()

	p, err := pool.New(pool.Options{Instance: "crash", Storage: "badger", Dir: dir,
		Keys: []pool.KeySpec{{ID: pool.KeyID("oai", key), Upstream: "oai", Secret: key, Limits: Limits{Weight: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	persisted := p.Keys()[0].Usage.Total - 1 // less the request after the restart
	t.Logf("before the kill: %d succeeded, %d attempted, %d done more than 1.2 s before it; persisted %d",
		succeeded, attempted, mustKeep, persisted)
	if persisted < int64(mustKeep) || persisted > int64(attempted) {
		t.Errorf("persisted %d requests; want between %d (all but the last second) and %d (all attempted)",
			persisted, mustKeep, attempted)
	}
}

// startSubprocessCaddy runs this test binary as Caddy (see TestMain) and
// waits until it serves.
func startSubprocessCaddy(t *testing.T, home, cfgPath, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testBinary, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "LLMPROXY_TEST_RUN_CADDY=1", "HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	out := &lockedWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			sc := bufio.NewScanner(strings.NewReader(out.String()))
			for sc.Scan() {
				t.Log("caddy: " + sc.Text())
			}
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v1/models")
		if err == nil {
			resp.Body.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("subprocess Caddy did not start: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockedWriter collects a subprocess's output from both of its streams.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
