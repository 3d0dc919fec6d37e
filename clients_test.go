package llmproxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/admin"
	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// clientBurst sends n identical chat requests at once with the client
// secret and counts answers by status.
func clientBurst(t *testing.T, n int, secret, body string) (map[int]int, []rawResult) {
	t.Helper()
	results := make([]rawResult, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			results[i] = postChat(t, body, "Authorization", "Bearer "+secret)
		})
	}
	close(start)
	wg.Wait()
	by := map[int]int{}
	for _, r := range results {
		by[r.status]++
	}
	return by, results
}

// adminClients reads GET .../clients by name.
func adminClients(t *testing.T, instance string) map[string]admin.Client {
	t.Helper()
	var ans struct{ Clients []admin.Client }
	adminOK(t, 200, "GET", "/llm_proxy/"+instance+"/clients", nil).decode(t, &ans)
	out := map[string]admin.Client{}
	for _, c := range ans.Clients {
		out[c.Name] = c
	}
	return out
}

// checkClient429 checks a refusal by the client's own limits: 429 in the
// OpenAI shape, a Retry-After, a message naming the client's limit.
func checkClient429(t *testing.T, r rawResult, client string) {
	t.Helper()
	var e struct {
		Error struct{ Message, Type, Code string }
	}
	if r.status != 429 || json.Unmarshal([]byte(r.body), &e) != nil || e.Error.Type != "rate_limit_error" ||
		!strings.Contains(e.Error.Message, fmt.Sprintf("client %q is at one of its own limits", client)) {
		t.Errorf("refusal %d %s, want a 429 saying client %q is at its limit", r.status, r.body, client)
	}
	if s, err := strconv.Atoi(r.retryAfter); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After %q", r.retryAfter)
	}
}

// A client's limits are exact under 100 concurrent requests, and are
// admitted together with the key's: the key counts only what the client
// was allowed, and the client only what a key took.
func TestClientLimitsExact(t *testing.T) {
	keys := []string{"sk-cl-free-0001", "sk-cl-slow-0001", "sk-cl-lim-0001"}
	up := fakeupstream.NewOpenAI(t, keys...)
	up.SetBehavior(keys[1], fakeupstream.Behavior{Delay: 3 * time.Second})
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		client ci {
			key sk-client-ci-0001
			rpm 7
		}
		client slow {
			key sk-client-slow-0001
			concurrency 3
		}
		client both {
			key sk-client-both-0001
			rpm 50
		}
		upstream free {
			provider openai
			base_url %s
			models gpt-4o
			key %[3]s
		}
		upstream slow {
			provider openai
			base_url %[2]s
			models slow-model
			key %[4]s
		}
		upstream lim {
			provider openai
			base_url %[2]s
			models lim-model
			key %[5]s {
				rpm 4
			}
		}
	}`, name, up.URL, keys[0], keys[1], keys[2]))

	t.Run("rpm", func(t *testing.T) {
		by, results := clientBurst(t, 100, "sk-client-ci-0001", chatBody("gpt-4o", "rpm"))
		if by[200] != 7 || by[429] != 93 {
			t.Fatalf("answers %v, want exactly 7 × 200 and 93 × 429", by)
		}
		for _, r := range results {
			if r.status == 429 {
				checkClient429(t, r, "ci")
				break
			}
		}
		if got := up.Requests(keys[0]); got != 7 {
			t.Errorf("the upstream got %d requests, want 7", got)
		}
		if k := keyStatus(t, name, "free", keys[0]); k.Usage.Minute != 7 || k.Usage.InFlight != 0 {
			t.Errorf("the key counted %+v, want the client's 7 requests only", k.Usage)
		}
		if c := adminClients(t, name)["ci"]; c.Usage.Minute != 7 || c.Usage.Day != 7 || c.Usage.InFlight != 0 || c.Usage.TokensDay == 0 {
			t.Errorf("client usage %+v, want 7 requests with their tokens", c.Usage)
		}
	})

	t.Run("concurrency", func(t *testing.T) {
		by, results := clientBurst(t, 100, "sk-client-slow-0001", chatBody("slow-model", "slow"))
		if by[200] != 3 || by[429] != 97 {
			for _, r := range results {
				if r.status == 200 {
					t.Log(r.body)
				}
			}
			t.Fatalf("answers %v, want exactly 3 × 200 and 97 × 429", by)
		}
		if got := up.MaxConcurrent(keys[1]); got != 3 {
			t.Errorf("the upstream saw %d requests at once, want 3", got)
		}
		for _, r := range results {
			if r.status == 429 {
				checkClient429(t, r, "slow")
				if r.retryAfter != "1" {
					t.Errorf("Retry-After %q for a full concurrency, want 1", r.retryAfter)
				}
				break
			}
		}
		if c := adminClients(t, name)["slow"]; c.Usage.InFlight != 0 || c.Usage.Day != 3 {
			t.Errorf("client usage %+v, want 3 requests and none in flight", c.Usage)
		}
	})

	t.Run("key and client limits together", func(t *testing.T) {
		// The key's rpm 4 binds before the client's rpm 50: the client
		// counts only the 4 a key took, not the 96 the keys refused.
		by, results := clientBurst(t, 100, "sk-client-both-0001", chatBody("lim-model", "both"))
		if by[200] != 4 || by[429] != 96 {
			t.Fatalf("answers %v, want exactly 4 × 200 and 96 × 429", by)
		}
		for _, r := range results {
			if r.status == 429 && !strings.Contains(r.body, "every key that could serve") {
				t.Errorf("a refusal by the keys says %s", r.body)
				break
			}
		}
		if c := adminClients(t, name)["both"]; c.Usage.Minute != 4 || c.Usage.Day != 4 {
			t.Errorf("client usage %+v, want the 4 requests a key took", c.Usage)
		}
		if k := keyStatus(t, name, "lim", keys[2]); k.Usage.Minute != 4 {
			t.Errorf("key usage %+v", k.Usage)
		}
		// Now the client binds (rpm 7 on a free key): the key counts none
		// of the client's refusals; see "rpm" above, where the key holds 7.
	})
}

// 403 for a disabled client and for a model outside a client's list, in
// each API's shape; model lists show a client only its models.
func TestClientForbidden(t *testing.T) {
	oai := fakeupstream.NewOpenAI(t, "sk-forbid-oai-0001")
	ant := fakeupstream.NewAnthropic(t, "sk-ant-forbid-0001")
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		client narrow {
			key sk-client-narrow-0001
			models gpt-4o-mini "claude-haiku-*"
		}
		client off {
			key sk-client-off-0001
			disabled
		}
		upstream oai {
			provider openai
			base_url %s
			models gpt-4o gpt-4o-mini
			key sk-forbid-oai-0001
		}
		upstream ant {
			provider anthropic
			base_url %s
			models claude-sonnet-4-5 claude-haiku-4-5
			key sk-ant-forbid-0001
		}
	}`, name, oai.URL, ant.URL))

	anthropic := func(secret, model string) rawResult {
		req, _ := http.NewRequest(http.MethodPost, proxyBase+"/v1/messages",
			strings.NewReader(fmt.Sprintf(`{"model":%q,"max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`, model)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-api-key", secret)
		req.Header.Set("anthropic-version", "2023-06-01")
		return do(t, req)
	}
	openaiErr := func(r rawResult, what string) {
		t.Helper()
		var e struct {
			Error struct{ Message, Type string }
		}
		if r.status != 403 || json.Unmarshal([]byte(r.body), &e) != nil || !strings.Contains(e.Error.Message, what) {
			t.Errorf("chat: %d %s, want 403 in the OpenAI shape saying %q", r.status, r.body, what)
		}
	}
	anthropicErr := func(r rawResult, what string) {
		t.Helper()
		var e struct {
			Type  string
			Error struct{ Type, Message string }
		}
		if r.status != 403 || json.Unmarshal([]byte(r.body), &e) != nil || e.Type != "error" ||
			e.Error.Type != "permission_error" || !strings.Contains(e.Error.Message, what) {
			t.Errorf("anthropic: %d %s, want 403 permission_error saying %q", r.status, r.body, what)
		}
	}

	openaiErr(postChat(t, chatBody("gpt-4o", "no"), "Authorization", "Bearer sk-client-narrow-0001"), `may not use the model "gpt-4o"`)
	anthropicErr(anthropic("sk-client-narrow-0001", "claude-sonnet-4-5"), `may not use the model "claude-sonnet-4-5"`)
	openaiErr(postChat(t, chatBody("gpt-4o-mini", "off"), "Authorization", "Bearer sk-client-off-0001"), `client "off" is disabled`)
	anthropicErr(anthropic("sk-client-off-0001", "claude-haiku-4-5"), `client "off" is disabled`)
	if oai.TotalRequests() != 0 || ant.TotalRequests() != 0 {
		t.Fatal("a forbidden request reached an upstream")
	}
	// What the list allows works, in either API, on either upstream.
	if r := postChat(t, chatBody("gpt-4o-mini", "yes"), "Authorization", "Bearer sk-client-narrow-0001"); r.status != 200 {
		t.Errorf("allowed model: %d %s", r.status, r.body)
	}
	if r := anthropic("sk-client-narrow-0001", "claude-haiku-4-5"); r.status != 200 {
		t.Errorf("allowed model: %d %s", r.status, r.body)
	}
	if r := postChat(t, chatBody("oai/gpt-4o-mini", "explicit"), "Authorization", "Bearer sk-client-narrow-0001"); r.status != 200 {
		t.Errorf("allowed model named with its upstream: %d %s", r.status, r.body)
	}

	req, _ := http.NewRequest(http.MethodGet, proxyBase+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer sk-client-narrow-0001")
	res := do(t, req)
	var list struct{ Data []struct{ ID string } }
	if res.status != 200 || json.Unmarshal([]byte(res.body), &list) != nil {
		t.Fatalf("model list: %d %s", res.status, res.body)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "gpt-4o-mini,claude-haiku-4-5" && strings.Join(ids, ",") != "claude-haiku-4-5,gpt-4o-mini" {
		t.Errorf("the client sees models %v, want only gpt-4o-mini and claude-haiku-4-5", ids)
	}
}

// Clients made, used, rotated and deleted through the admin API; no full
// secret in any admin answer, log line or metric.
func TestClientsAdminAPI(t *testing.T) {
	up := fakeupstream.NewOpenAI(t, "sk-admin-cl-0001")
	name := instanceName(t)
	logPath := filepath.Join(t.TempDir(), "caddy.log")
	loadConfig(t, testCaddyfile(fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t\tformat json\n\t\tlevel DEBUG\n\t}", logPath), fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		client_key sk-plain-client-0001
		client team {
			key sk-team-client-0001
			rpm 100
			note "from the Caddyfile"
		}
		upstream oai {
			provider openai
			base_url %s
			key sk-admin-cl-0001
		}
	}`, name, up.URL)), "caddyfile")
	watch = &secretWatch{secrets: []string{"sk-plain-client-0001", "sk-team-client-0001"}}
	defer func() { watch = nil }()
	base := "/llm_proxy/" + name + "/clients"

	var made admin.ClientSecret
	adminOK(t, 201, "POST", base, map[string]any{"name": "ci", "models": []string{"gpt-4o*"}, "rpm": 3, "note": "CI runners"}).decode(t, &made)
	if made.Name != "ci" || !strings.HasPrefix(made.Key, "llmp-") || len(made.Key) != len("llmp-")+32 {
		t.Fatalf("made %+v", made)
	}
	// The one answer that shows the secret, by design; every other must not.
	watch.answers = watch.answers[:len(watch.answers)-1]
	watch.secrets = append(watch.secrets, made.Key)
	adminErr(t, 409, "already exists", "POST", base, map[string]any{"name": "ci"})
	adminErr(t, 409, "already exists", "POST", base, map[string]any{"name": "team"})
	adminErr(t, 400, "bad client name", "POST", base, map[string]any{"name": "no/slash"})
	adminErr(t, 400, `unknown field "weight"`, "POST", base, map[string]any{"name": "w", "weight": 2})
	adminErr(t, 400, "at least 1", "POST", base, map[string]any{"name": "neg", "rpm": -1})

	use := func(secret, model string) rawResult {
		return postChat(t, chatBody(model, "hi"), "Authorization", "Bearer "+secret)
	}
	if r := use(made.Key, "gpt-4o"); r.status != 200 {
		t.Fatalf("the new client's request: %d %s", r.status, r.body)
	}
	if r := use(made.Key, "o3"); r.status != 403 {
		t.Errorf("a model outside the new client's list: %d %s", r.status, r.body)
	}
	cls := adminClients(t, name)
	ci := cls["ci"]
	if ci.Source != "admin" || ci.State != "active" || ci.Note != "CI runners" || ci.Limits.RPM != 3 || ci.Usage.Day != 1 ||
		len(ci.Keys) != 1 || ci.Keys[0] != "llmp-…"+made.Key[len(made.Key)-4:] || ci.Created == nil {
		t.Errorf("GET clients shows ci as %+v", ci)
	}
	if d := cls["default"]; d.Source != "config" || len(d.Keys) != 1 || d.Keys[0] != "sk-…0001" {
		t.Errorf("the client of client_key: %+v", d)
	}
	if tm := cls["team"]; tm.Source != "config" || tm.Note != "from the Caddyfile" || tm.Limits.RPM != 100 {
		t.Errorf("the Caddyfile client: %+v", tm)
	}

	// PATCH: limits, disabled, note; then back.
	var c admin.Client
	adminOK(t, 200, "PATCH", base+"/ci", map[string]any{"rpm": 1, "disabled": true, "note": "paused"}).decode(t, &c)
	if c.State != "disabled" || c.Limits.RPM != 1 || c.Note != "paused" {
		t.Errorf("after PATCH: %+v", c)
	}
	if r := use(made.Key, "gpt-4o"); r.status != 403 || !strings.Contains(r.body, "disabled") {
		t.Errorf("a disabled client: %d %s", r.status, r.body)
	}
	adminOK(t, 200, "PATCH", base+"/ci", map[string]any{"disabled": false}).decode(t, &c)
	// rpm 1 and one request already this minute: the client's limit.
	if r := use(made.Key, "gpt-4o"); r.status != 429 {
		t.Errorf("a client at its PATCHed rpm: %d %s", r.status, r.body)
	}
	adminOK(t, 200, "PATCH", base+"/team", map[string]any{"disabled": true}).decode(t, &c)
	if c.Overrides == nil || c.State != "disabled" {
		t.Errorf("a Caddyfile client PATCHed: %+v", c)
	}
	if r := use("sk-team-client-0001", "gpt-4o"); r.status != 403 {
		t.Errorf("a Caddyfile client disabled through the API: %d %s", r.status, r.body)
	}
	adminOK(t, 200, "PATCH", base+"/team", map[string]any{"disabled": nil})
	if r := use("sk-team-client-0001", "gpt-4o"); r.status != 200 {
		t.Errorf("a Caddyfile client enabled again: %d %s", r.status, r.body)
	}
	adminErr(t, 400, "unknown field", "PATCH", base+"/ci", map[string]any{"interval": "1s"})
	adminErr(t, 404, "no client", "PATCH", base+"/nobody", map[string]any{"note": "x"})

	// Rotate: the old secret stops at once, the new one works.
	adminOK(t, 200, "PATCH", base+"/ci", map[string]any{"rpm": nil})
	var rot admin.ClientSecret
	adminOK(t, 200, "POST", base+"/ci/rotate", nil).decode(t, &rot)
	watch.answers = watch.answers[:len(watch.answers)-1]
	watch.secrets = append(watch.secrets, rot.Key)
	if rot.Key == made.Key || !strings.HasPrefix(rot.Key, "llmp-") {
		t.Fatalf("rotated %+v", rot)
	}
	if r := use(made.Key, "gpt-4o"); r.status != 401 {
		t.Errorf("the old secret after rotation: %d %s", r.status, r.body)
	}
	if r := use(rot.Key, "gpt-4o"); r.status != 200 {
		t.Errorf("the new secret: %d %s", r.status, r.body)
	}
	adminErr(t, 409, "Caddyfile", "POST", base+"/team/rotate", nil)

	// Delete: a Caddyfile client is 409; an admin-made one goes.
	adminErr(t, 409, "Caddyfile", "DELETE", base+"/team", nil)
	adminOK(t, 200, "DELETE", base+"/ci", nil)
	if r := use(rot.Key, "gpt-4o"); r.status != 401 {
		t.Errorf("a deleted client's secret: %d %s", r.status, r.body)
	}
	if _, ok := adminClients(t, name)["ci"]; ok {
		t.Error("the deleted client is still listed")
	}
	adminErr(t, 404, "no client", "DELETE", base+"/ci", nil)

	// The request log names clients, and nothing shows a secret.
	var logs struct{ Logs []admin.LogEntry }
	adminOK(t, 200, "GET", "/llm_proxy/"+name+"/logs", nil).decode(t, &logs)
	seen := map[string]bool{}
	for _, e := range logs.Logs {
		seen[e.Client] = true
	}
	if !seen["ci"] || !seen["team"] {
		t.Errorf("log clients %v", seen)
	}
	watch.check(t)
	_, rawMetrics := scrape(t)
	if !strings.Contains(rawMetrics, `client="ci"`) || !strings.Contains(rawMetrics, `client="team"`) {
		t.Error("/metrics has no client label for ci and team")
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"client":"ci"`) {
		t.Errorf("the Caddy log never names the client ci (is it captured?)")
	}
	for _, s := range watch.secrets {
		if strings.Contains(rawMetrics, s) || strings.Contains(rawMetrics, s[3:len(s)-4]) {
			t.Errorf("/metrics shows the secret %s…", s[:3])
		}
		if strings.Contains(string(b), s) || strings.Contains(string(b), s[3:len(s)-4]) {
			t.Errorf("the Caddy log shows the secret %s…", s[:3])
		}
	}
}

// A client made through the admin API survives a restart on Badger
// storage, secret (only its hash stored) and counters included.
func TestAdminClientSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	t.Cleanup(func() { startCaddy(t, `respond "done"`) })
	up := fakeupstream.NewOpenAI(t, "sk-restart-cl-0001")
	name := instanceName(t)
	config := fmt.Sprintf(`
	llm_proxy {
		name %s
		storage badger %s
		client_key sk-restart-plain-0001
		upstream oai {
			provider openai
			base_url %s
			key sk-restart-cl-0001
		}
	}`, name, dir, up.URL)
	startCaddy(t, config)
	var made admin.ClientSecret
	adminOK(t, 201, "POST", "/llm_proxy/"+name+"/clients", map[string]any{"name": "keeper", "rpd": 100}).decode(t, &made)
	for range 3 {
		if r := postChat(t, chatBody("gpt-4o", "x"), "Authorization", "Bearer "+made.Key); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	time.Sleep(1500 * time.Millisecond) // one flush of the counters
	startCaddy(t, `respond "no proxy here"`)
	// Only the hash is stored: the secret is nowhere in the directory.
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), made.Key) {
				t.Errorf("%s holds the client's secret", p)
			}
		}
		return nil
	})
	startCaddy(t, config)
	if r := postChat(t, chatBody("gpt-4o", "y"), "Authorization", "Bearer "+made.Key); r.status != 200 {
		t.Fatalf("after a restart: %d %s", r.status, r.body)
	}
	c := adminClients(t, name)["keeper"]
	if c.Source != "admin" || c.Limits.RPD != 100 || c.Usage.Day != 4 {
		t.Errorf("after a restart: %+v, want the admin-made client with its 4 requests of today", c)
	}
}

// Usage by client and by the model the upstream served, and the
// placeholders in an access log line (log_append).
func TestUsageByClientAndPlaceholders(t *testing.T) {
	up := fakeupstream.NewOpenAI(t, "sk-usage-cl-0001")
	name := instanceName(t)
	access := filepath.Join(t.TempDir(), "access.log")
	startCaddy(t, fmt.Sprintf(`
	log {
		output file %s
		format json
	}
	log_append llm_upstream {http.llm_proxy.upstream}
	log_append llm_key {http.llm_proxy.key_id}
	log_append llm_model {http.llm_proxy.model}
	log_append llm_upstream_model {http.llm_proxy.upstream_model}
	log_append llm_client {http.llm_proxy.client}
	log_append llm_in {http.llm_proxy.input_tokens}
	log_append llm_out {http.llm_proxy.output_tokens}
	llm_proxy {
		name %s
		storage memory
		client a {
			key sk-usage-a-0001
		}
		client b {
			key sk-usage-b-0001
			rpm 100
		}
		upstream oai {
			provider openai
			base_url %s
			models "gpt-4o*"
			key sk-usage-cl-0001
		}
	}`, access, name, up.URL))
	plan := []struct{ secret, model string }{
		{"sk-usage-a-0001", "gpt-4o"}, {"sk-usage-a-0001", "gpt-4o-mini"}, {"sk-usage-a-0001", "gpt-4o-mini"},
		{"sk-usage-b-0001", "gpt-4o"}, {"sk-usage-b-0001", "gpt-4o-mini"},
	}
	for _, p := range plan {
		if r := postChat(t, chatBody(p.model, "count me"), "Authorization", "Bearer "+p.secret); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	// One streamed request: its served model comes from the stream.
	if r := postChat(t, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"s"}]}`, "Authorization", "Bearer sk-usage-b-0001"); r.status != 200 {
		t.Fatalf("stream: %d %s", r.status, r.body)
	}
	// One translated request (Anthropic in, OpenAI out): its served model
	// comes from the translated answer.
	req, _ := http.NewRequest(http.MethodPost, proxyBase+"/v1/messages",
		strings.NewReader(`{"model":"gpt-4o","max_tokens":20,"messages":[{"role":"user","content":"t"}]}`))
	req.Header.Set("x-api-key", "sk-usage-a-0001")
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	if r := do(t, req); r.status != 200 {
		t.Fatalf("translated: %d %s", r.status, r.body)
	}
	usage := func(by string) map[string]admin.UsageGroup {
		var u admin.Usage
		adminOK(t, 200, "GET", "/llm_proxy/"+name+"/usage?by="+by, nil).decode(t, &u)
		m := map[string]admin.UsageGroup{}
		for _, g := range u.Groups {
			m[g.Group] = g
		}
		return m
	}
	eventually(t, 5*time.Second, "7 requests in the statistics", func() bool {
		return usage("client")["a"].Requests+usage("client")["b"].Requests == 7
	})
	byClient := usage("client")
	if byClient["a"].Requests != 4 || byClient["b"].Requests != 3 || byClient["a"].InputTokens == 0 || len(byClient) != 2 {
		t.Errorf("usage by client %+v", byClient)
	}
	byModel := usage("model")
	if byModel["gpt-4o"].Requests != 3 || byModel["gpt-4o-mini"].Requests != 4 || len(byModel) != 2 {
		t.Errorf("usage by served model %+v, want gpt-4o 3 and gpt-4o-mini 4 (one pattern, two models)", byModel)
	}
	// An unlimited client's usage comes from the statistics.
	if c := adminClients(t, name)["a"]; c.Usage.Day != 4 || c.Usage.Total != 4 || c.Usage.Minute != 4 || c.Usage.TokensDay == 0 {
		t.Errorf("client a's usage %+v", c.Usage)
	}

	var lines []map[string]any
	eventually(t, 5*time.Second, "7 access log lines", func() bool {
		f, err := os.Open(access)
		if err != nil {
			return false
		}
		defer f.Close()
		lines = lines[:0]
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines = append(lines, m)
			}
		}
		return len(lines) >= 7
	})
	first := lines[0]
	if first["llm_upstream"] != "oai" || first["llm_key"] != pool.KeyID("oai", "sk-usage-cl-0001") || first["llm_model"] != "gpt-4o" ||
		first["llm_upstream_model"] != "gpt-4o" || first["llm_client"] != "a" {
		t.Errorf("access log line %v", first)
	}
	if in, _ := first["llm_in"].(float64); in <= 0 {
		t.Errorf("access log input tokens %v", first["llm_in"])
	}
	if out, _ := first["llm_out"].(float64); out <= 0 {
		t.Errorf("access log output tokens %v", first["llm_out"])
	}
	if lines[3]["llm_client"] != "b" {
		t.Errorf("fourth access log line %v", lines[3])
	}
}

// Client limits are exact across two Caddy instances sharing a real
// redis-server, and a client made through one instance's admin API works
// on the other at once.
func TestRedisClientLimits(t *testing.T) {
	rs := startRedis(t)
	up := fakeupstream.NewOpenAI(t, "sk-redis-cl-0001", "sk-redis-cl-0002")
	up.SetBehavior("sk-redis-cl-0002", fakeupstream.Behavior{Delay: 3 * time.Second})
	block := fmt.Sprintf(`
	llm_proxy {
		name multi
		storage redis %s
		client ci {
			key sk-redis-client-ci-0001
			rpm 7
		}
		client slow {
			key sk-redis-client-slow-0001
			concurrency 2
		}
		upstream oai {
			provider openai
			base_url %s
			models gpt-4o
			key sk-redis-cl-0001
		}
		upstream slow {
			provider openai
			base_url %[2]s
			models slow-model
			key sk-redis-cl-0002
		}
	}`, rs.url(), up.URL)
	ins := startInstances(t, 2, block)
	defer stopAll(ins)

	fire := func(n int, secret, model string) map[int]int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		by := map[int]int{}
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				r := ins[i%2].post(t, "/v1/chat/completions", chatBody(model, "hi"), "Authorization", "Bearer "+secret)
				mu.Lock()
				by[r.status]++
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		return by
	}
	if by := fire(100, "sk-redis-client-ci-0001", "gpt-4o"); by[200] != 7 || by[429] != 93 {
		t.Errorf("rpm 7 across two instances: %v, want exactly 7 × 200 and 93 × 429", by)
	}
	if got := up.Requests("sk-redis-cl-0001"); got != 7 {
		t.Errorf("the upstream got %d requests, want 7", got)
	}
	status, body := ins[1].adminDo(t, http.MethodGet, "/llm_proxy/multi/clients/ci", "")
	var c admin.Client
	if status != 200 || json.Unmarshal([]byte(body), &c) != nil || c.Usage.Minute != 7 || c.Usage.InFlight != 0 {
		t.Errorf("the client seen from instance 2: %d %s", status, body)
	}
	k := ins[0].key(t, pool.KeyID("oai", "sk-redis-cl-0001"))
	if k.Usage.Minute != 7 {
		t.Errorf("the key counted %d, want the client's 7", k.Usage.Minute)
	}

	if by := fire(60, "sk-redis-client-slow-0001", "slow-model"); by[200] != 2 || by[429] != 58 {
		t.Errorf("concurrency 2 across two instances: %v, want exactly 2 × 200 and 58 × 429", by)
	}
	if got := up.MaxConcurrent("sk-redis-cl-0002"); got != 2 {
		t.Errorf("the upstream saw %d at once, want 2", got)
	}

	// Made on one instance, served by the other.
	status, body = ins[0].adminDo(t, http.MethodPost, "/llm_proxy/multi/clients", `{"name":"fresh","rpm":2}`)
	var made admin.ClientSecret
	if status != 201 || json.Unmarshal([]byte(body), &made) != nil {
		t.Fatalf("POST clients: %d %s", status, body)
	}
	eventually(t, 3*time.Second, "the new client on the other instance", func() bool {
		return ins[1].post(t, "/v1/chat/completions", chatBody("gpt-4o", "new"), "Authorization", "Bearer "+made.Key).status == 200
	})
	if r := ins[0].post(t, "/v1/chat/completions", chatBody("gpt-4o", "new"), "Authorization", "Bearer "+made.Key); r.status != 200 {
		t.Errorf("second request of rpm 2: %d %s", r.status, r.body)
	}
	if r := ins[1].post(t, "/v1/chat/completions", chatBody("gpt-4o", "new"), "Authorization", "Bearer "+made.Key); r.status != 429 {
		t.Errorf("third request of rpm 2 on the other instance: %d %s", r.status, r.body)
	}
}
