package llmproxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmproxy/caddy-llm-proxy/admin"
	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/limits"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// adminClient talks to Caddy's admin endpoint.
var adminClient = &http.Client{Timeout: 30 * time.Second}

// adminAnswer is one admin API answer.
type adminAnswer struct {
	status int
	header http.Header
	body   string
}

// decode unmarshals the answer's body into v or fails the test.
func (a adminAnswer) decode(t *testing.T, v any) {
	t.Helper()
	reflect.ValueOf(v).Elem().SetZero() // omitted fields must not keep old values
	if err := json.Unmarshal([]byte(a.body), v); err != nil {
		t.Fatalf("decoding %q: %v", a.body, err)
	}
}

// secretWatch collects every admin answer of a test so that none can be
// checked to leak a secret.
type secretWatch struct {
	secrets []string
	answers []string
}

func (w *secretWatch) check(t *testing.T) {
	t.Helper()
	if len(w.answers) == 0 {
		t.Fatal("no admin answers were checked for secrets")
	}
	for _, body := range w.answers {
		for _, s := range w.secrets {
			// The masked form shows at most the first 3 and last 4
			// characters; nothing in between may appear.
			if strings.Contains(body, s) || strings.Contains(body, s[3:len(s)-4]) {
				t.Errorf("an admin answer reveals the secret %s…: %s", s[:3], body)
			}
		}
	}
}

var watch *secretWatch

// adminCall sends a request to the admin API and returns its answer; the
// body is JSON-encoded unless it is a string (sent as is) or nil.
func adminCall(t *testing.T, method, path string, body any) adminAnswer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(j))
	}
	req, err := http.NewRequest(method, adminBase+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if watch != nil {
		watch.answers = append(watch.answers, string(b))
	}
	return adminAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// adminOK sends a request that must answer want.
func adminOK(t *testing.T, want int, method, path string, body any) adminAnswer {
	t.Helper()
	a := adminCall(t, method, path, body)
	if a.status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, a.status, a.body, want)
	}
	return a
}

// adminErr sends a request that must fail with status and Caddy's
// {"error": "..."} body containing what.
func adminErr(t *testing.T, status int, what, method, path string, body any) {
	t.Helper()
	a := adminCall(t, method, path, body)
	var e struct {
		Error string `json:"error"`
	}
	if a.status != status || json.Unmarshal([]byte(a.body), &e) != nil || !strings.Contains(e.Error, what) {
		t.Errorf("%s %s: %d %s, want %d with an error containing %q", method, path, a.status, a.body, status, what)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
}

func adminKeys(t *testing.T, instance string) map[string]admin.Key {
	t.Helper()
	var ans struct{ Keys []admin.Key }
	adminOK(t, 200, "GET", "/llm_proxy/"+instance+"/keys", nil).decode(t, &ans)
	out := map[string]admin.Key{}
	for _, k := range ans.Keys {
		out[k.ID] = k
	}
	return out
}

func adminKey(t *testing.T, instance, id string) admin.Key {
	t.Helper()
	var k admin.Key
	adminOK(t, 200, "GET", "/llm_proxy/"+instance+"/keys/"+id, nil).decode(t, &k)
	return k
}

// sendChats sends n requests for model that must all succeed, and returns
// the tokens the answers report.
func sendChats(t *testing.T, n int, model string) (in, out int64) {
	t.Helper()
	for i := range n {
		res := postChat(t, chatBody(model, fmt.Sprintf("hello number %d", i)))
		if res.status != 200 {
			t.Fatalf("request %d for %s: %d %s", i, model, res.status, res.body)
		}
		i, o := chatTokens(t, res.body)
		in += i
		out += o
	}
	return in, out
}

// chatTokens reads the usage of a Chat Completions answer.
func chatTokens(t *testing.T, body string) (in, out int64) {
	t.Helper()
	var ans struct {
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &ans); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return ans.Usage.PromptTokens, ans.Usage.CompletionTokens
}

func TestAdminAPI(t *testing.T) {
	cfgKeys := []string{"sk-admin-config-0001", "sk-admin-config-0002"}
	addKeys := []string{"sk-admin-added-0003", "sk-admin-added-0004", "sk-admin-added-0005"}
	backupKey := "sk-admin-backup-0006"
	up := fakeupstream.NewOpenAI(t, slices.Concat(cfgKeys, addKeys)...)
	backup := fakeupstream.NewOpenAI(t, backupKey)
	watch = &secretWatch{secrets: slices.Concat(cfgKeys, addKeys, []string{backupKey})}
	defer func() { watch = nil }()
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key %s {
				rpm 60
				rpd 1000
				note "team A"
			}
			key %s
			rpm 600
			models gpt-4o gpt-4o-mini gpt-4.1*
			alias fast gpt-4o-mini
		}
		upstream backup {
			provider openai
			base_url %s
			priority 1
			key %s
		}
	}`, name, up.URL, cfgKeys[0], cfgKeys[1], backup.URL, backupKey))
	base := "/llm_proxy/" + name
	id := func(up, secret string) string { return pool.KeyID(up, secret) }

	// Instances.
	var insts struct{ Instances []admin.InstanceSummary }
	adminOK(t, 200, "GET", "/llm_proxy/", nil).decode(t, &insts)
	i := slices.IndexFunc(insts.Instances, func(s admin.InstanceSummary) bool { return s.Name == name })
	if i < 0 {
		t.Fatalf("instance %s not listed: %+v", name, insts)
	}
	if s := insts.Instances[i]; s.Upstreams != 2 || s.Keys != (admin.KeyCounts{Active: 3}) {
		t.Errorf("instance summary %+v", s)
	}
	adminErr(t, 405, "method not allowed", "POST", "/llm_proxy/", "{}")
	adminErr(t, 404, "no running llm_proxy instance", "GET", "/llm_proxy/nope/keys", nil)
	adminErr(t, 404, "unknown llm_proxy admin path", "GET", base+"/bogus", nil)

	// Keys as configured.
	keys := adminKeys(t, name)
	k0 := keys[id("oai", cfgKeys[0])]
	if len(keys) != 3 || k0.Key != "sk-…0001" || k0.Upstream != "oai" || k0.Source != "config" || k0.Note != "team A" ||
		k0.Limits != (limits.Caps{RPM: 60, RPD: 1000}) || k0.State != "active" || k0.Weight != 1 || k0.Until != nil {
		t.Fatalf("keys %+v", keys)
	}
	if k1 := keys[id("oai", cfgKeys[1])]; k1.Limits != (limits.Caps{RPM: 600}) {
		t.Errorf("upstream default not applied: %+v", k1)
	}

	// Add keys: one object, then an array.
	var added struct{ IDs []string }
	adminOK(t, 201, "POST", base+"/keys", map[string]any{"upstream": "oai", "key": addKeys[0], "weight": 2, "rpm": 30, "interval": "10ms", "note": "added"}).decode(t, &added)
	if !slices.Equal(added.IDs, []string{id("oai", addKeys[0])}) {
		t.Fatalf("ids %v", added.IDs)
	}
	adminOK(t, 201, "POST", base+"/keys", []map[string]any{
		{"upstream": "oai", "key": addKeys[1]},
		{"upstream": "oai", "key": addKeys[2], "disabled": true},
	}).decode(t, &added)
	if !slices.Equal(added.IDs, []string{id("oai", addKeys[1]), id("oai", addKeys[2])}) {
		t.Fatalf("ids %v", added.IDs)
	}
	a0 := adminKey(t, name, id("oai", addKeys[0]))
	if a0.Source != "admin" || a0.Weight != 2 || a0.Limits != (limits.Caps{RPM: 30, Interval: caddy.Duration(10 * time.Millisecond)}) || a0.Note != "added" || a0.Key != "sk-…0003" {
		t.Errorf("added key %+v", a0)
	}
	if a1 := adminKey(t, name, id("oai", addKeys[1])); a1.Limits != (limits.Caps{RPM: 600}) || a1.Weight != 1 {
		t.Errorf("added key without settings should get the upstream defaults: %+v", a1)
	}
	if a2 := adminKey(t, name, id("oai", addKeys[2])); a2.State != "disabled" || a2.Reason != "disabled through the admin API" {
		t.Errorf("added disabled key %+v", a2)
	}

	// Adding: every kind of bad request.
	adminErr(t, 400, "bad body", "POST", base+"/keys", `{"upstream":`)
	adminErr(t, 400, "empty body", "POST", base+"/keys", "")
	adminErr(t, 400, "unknown field", "POST", base+"/keys", `{"upstream":"oai","key":"sk-new-key-0009","rpn":3}`)
	adminErr(t, 400, "empty list", "POST", base+"/keys", `[]`)
	adminErr(t, 400, `"key" is required`, "POST", base+"/keys", `{"upstream":"oai"}`)
	adminErr(t, 400, `unknown upstream "nope"`, "POST", base+"/keys", `{"upstream":"nope","key":"sk-new-key-0009"}`)
	adminErr(t, 400, `"rpm" must be at least 1`, "POST", base+"/keys", `{"upstream":"oai","key":"sk-new-key-0009","rpm":0}`)
	adminErr(t, 400, `"weight" must be at least 1`, "POST", base+"/keys", `{"upstream":"oai","key":"sk-new-key-0009","weight":-1}`)
	adminErr(t, 400, "durations are strings", "POST", base+"/keys", `{"upstream":"oai","key":"sk-new-key-0009","interval":5}`)
	adminErr(t, 400, "key 2:", "POST", base+"/keys", `[{"upstream":"oai","key":"sk-new-key-0009"},{"upstream":"oai","key":"sk-new-key-0010","tpd":-5}]`)
	adminErr(t, 409, "already exists", "POST", base+"/keys", map[string]any{"upstream": "oai", "key": cfgKeys[0]})
	adminErr(t, 409, "already exists", "POST", base+"/keys", []map[string]any{{"upstream": "oai", "key": "sk-new-key-0009"}, {"upstream": "oai", "key": addKeys[1]}})
	adminErr(t, 409, "twice", "POST", base+"/keys", []map[string]any{{"upstream": "oai", "key": "sk-new-key-0009"}, {"upstream": "oai", "key": "sk-new-key-0009"}})
	if n := len(adminKeys(t, name)); n != 6 {
		t.Fatalf("%d keys after refused adds, want 6", n)
	}
	adminErr(t, 405, "method not allowed", "PUT", base+"/keys", "{}")
	if a := adminCall(t, "DELETE", base+"/keys", nil); a.status != 405 || a.header.Get("Allow") != "GET, POST" {
		t.Errorf("DELETE keys: %d Allow %q", a.status, a.header.Get("Allow"))
	}

	// PATCH: disable the Caddyfile keys; a disabled key gets no traffic,
	// and the added keys serve.
	for _, s := range cfgKeys {
		k := adminOK(t, 200, "PATCH", base+"/keys/"+id("oai", s), `{"disabled":true}`)
		var v admin.Key
		k.decode(t, &v)
		if v.State != "disabled" || v.Reason != "disabled through the admin API" || !slices.Equal(v.Overrides, []string{"disabled"}) {
			t.Errorf("disabled key %+v", v)
		}
	}
	up.Reset()
	sendChats(t, 12, "gpt-4o")
	if n := up.Requests(cfgKeys[0]) + up.Requests(cfgKeys[1]) + up.Requests(addKeys[2]); n != 0 {
		t.Errorf("disabled keys got %d requests", n)
	}
	if n := up.Requests(addKeys[0]) + up.Requests(addKeys[1]); n != 12 {
		t.Errorf("added keys got %d requests, want 12", n)
	}
	if k := adminKey(t, name, id("oai", addKeys[0])); k.Usage.Total != int64(up.Requests(addKeys[0])) || k.Usage.Day != k.Usage.Total || k.Usage.TokensTotal == 0 {
		t.Errorf("usage of an added key %+v, upstream saw %d", k.Usage, up.Requests(addKeys[0]))
	}

	// PATCH limits, weight and note; null reverts to the configuration.
	var v admin.Key
	adminOK(t, 200, "PATCH", base+"/keys/"+id("oai", cfgKeys[0]), `{"rpm":5,"tpd":0,"weight":4,"note":"patched","interval":"1s","concurrency":2}`).decode(t, &v)
	if v.Limits != (limits.Caps{RPM: 5, RPD: 1000, Interval: caddy.Duration(time.Second), Concurrency: 2}) || v.Weight != 4 || v.Note != "patched" {
		t.Errorf("patched key %+v", v)
	}
	adminOK(t, 200, "PATCH", base+"/keys/"+id("oai", cfgKeys[0]), `{"rpm":null,"rpd":0,"note":null,"interval":null,"concurrency":null}`).decode(t, &v)
	if v.Limits != (limits.Caps{RPM: 60}) || v.Note != "team A" || v.Weight != 4 {
		t.Errorf("reverted key %+v", v)
	}
	adminErr(t, 404, "no key with id", "PATCH", base+"/keys/oai-00000000", `{"disabled":true}`)
	adminErr(t, 400, "must be at least 1", "PATCH", base+"/keys/"+id("oai", cfgKeys[0]), `{"weight":0}`)
	adminErr(t, 400, "must not be negative", "PATCH", base+"/keys/"+id("oai", cfgKeys[0]), `{"rpm":-1}`)
	adminErr(t, 400, "durations are strings", "PATCH", base+"/keys/"+id("oai", cfgKeys[0]), `{"interval":5}`)
	adminErr(t, 400, `unknown field "key"`, "PATCH", base+"/keys/"+id("oai", cfgKeys[0]), `{"key":"sk-other-secret"}`)
	adminErr(t, 400, "bad body", "PATCH", base+"/keys/"+id("oai", cfgKeys[0]), `[1]`)
	adminErr(t, 400, `"disabled"`, "PATCH", base+"/keys/"+id("oai", cfgKeys[0]), `{"disabled":"yes"}`)
	adminErr(t, 405, "method not allowed", "POST", base+"/keys/"+id("oai", cfgKeys[0]), `{}`)

	// DELETE: an added key goes; a Caddyfile key answers 409.
	adminErr(t, 409, "comes from the Caddyfile", "DELETE", base+"/keys/"+id("oai", cfgKeys[1]), nil)
	adminOK(t, 200, "DELETE", base+"/keys/"+id("oai", addKeys[2]), nil)
	adminErr(t, 404, "no key with id", "GET", base+"/keys/"+id("oai", addKeys[2]), nil)
	adminErr(t, 404, "no key with id", "DELETE", base+"/keys/"+id("oai", addKeys[2]), nil)

	// Reset: a key cooling after a 429 is active again with zero counters.
	cool := addKeys[1]
	up.SetBehavior(cool, fakeupstream.Behavior{Status: 429, RetryAfter: "3000"})
	adminOK(t, 200, "PATCH", base+"/keys/"+id("oai", addKeys[0]), `{"disabled":true}`)
	if res := postChat(t, chatBody("oai/gpt-4o", "cool me")); res.status == 200 {
		t.Fatalf("the only key answers 429, yet: %d %s", res.status, res.body)
	}
	k := adminKey(t, name, id("oai", cool))
	if k.State != "cooling" || k.Until == nil || k.Reason == "" || k.Usage.Total == 0 {
		t.Fatalf("cooling key %+v", k)
	}
	up.SetBehavior(cool, fakeupstream.Behavior{})
	adminOK(t, 200, "POST", base+"/keys/"+id("oai", cool)+"/reset", nil).decode(t, &v)
	if v.State != "active" || v.Until != nil || v.Reason != "" || v.Usage != (admin.KeyUsage{}) {
		t.Errorf("reset key %+v", v)
	}
	sendChats(t, 1, "gpt-4o")
	adminErr(t, 404, "no key with id", "POST", base+"/keys/oai-00000000/reset", nil)
	adminErr(t, 405, "method not allowed", "GET", base+"/keys/"+id("oai", cool)+"/reset", nil)

	// Check: a refused key is disabled, a working one enabled again.
	adminOK(t, 200, "PATCH", base+"/keys/"+id("oai", addKeys[0]), `{"disabled":false}`)
	up.SetKeyValid(addKeys[0], false)
	var checked struct{ Results []admin.CheckResult }
	adminOK(t, 200, "POST", base+"/keys/check", nil).decode(t, &checked)
	results := map[string]admin.CheckResult{}
	for _, r := range checked.Results {
		results[r.ID] = r
	}
	if len(results) != 5 {
		t.Fatalf("check results %+v", checked)
	}
	if r := results[id("oai", addKeys[0])]; r.OK || r.Status != 401 || r.State != "disabled" || !strings.Contains(r.Error, "401") {
		t.Errorf("refused key %+v", r)
	}
	if r := results[id("backup", backupKey)]; !r.OK || r.Status != 200 || r.State != "active" || r.Error != "" || r.Upstream != "backup" {
		t.Errorf("working key %+v", r)
	}
	if r := results[id("oai", cfgKeys[0])]; !r.OK || r.State != "disabled" {
		t.Errorf("a key disabled by the operator stays disabled after a good probe: %+v", r)
	}
	if k := adminKey(t, name, id("oai", addKeys[0])); k.State != "disabled" || !strings.Contains(k.Reason, "401") {
		t.Errorf("refused key after check %+v", k)
	}
	up.SetKeyValid(addKeys[0], true)
	adminOK(t, 200, "POST", base+"/keys/check", nil).decode(t, &checked)
	if k := adminKey(t, name, id("oai", addKeys[0])); k.State != "active" {
		t.Errorf("key accepted again stays %s", k.State)
	}
	adminErr(t, 405, "method not allowed", "GET", base+"/keys/check", nil)

	// Usage, logs and models answer (their numbers are checked in
	// TestUsageAndLogsAgreeWithTraffic).
	for _, by := range []string{"day", "hour", "model", "key", "upstream"} {
		var u admin.Usage
		adminOK(t, 200, "GET", base+"/usage?by="+by, nil).decode(t, &u)
		if u.By != by {
			t.Errorf("usage by %s: %+v", by, u)
		}
	}
	adminErr(t, 400, "by must be", "GET", base+"/usage?by=week", nil)
	adminErr(t, 400, "days must be", "GET", base+"/usage?by=day&days=0", nil)
	adminErr(t, 405, "method not allowed", "POST", base+"/usage", "{}")
	adminOK(t, 200, "GET", base+"/logs?limit=5", nil)
	adminErr(t, 400, "limit must be", "GET", base+"/logs?limit=x", nil)
	adminErr(t, 405, "method not allowed", "DELETE", base+"/logs", nil)

	var models struct{ Models []admin.Model }
	adminOK(t, 200, "GET", base+"/models", nil).decode(t, &models)
	byName := map[string]admin.Model{}
	for _, m := range models.Models {
		byName[m.Model+"@"+m.Kind] = m
	}
	want := map[string][]admin.Target{
		"fast@alias":       {{Upstream: "oai", Model: "gpt-4o-mini"}},
		"gpt-4o@model":     {{Upstream: "oai", Model: "gpt-4o"}, {Upstream: "backup", Model: "gpt-4o", Priority: 1}},
		"gpt-4.1*@pattern": {{Upstream: "oai", Model: "gpt-4.1*"}},
		"*@pattern":        {{Upstream: "backup", Model: "*", Priority: 1}},
	}
	for k, targets := range want {
		if m, ok := byName[k]; !ok || !slices.Equal(m.Targets, targets) {
			t.Errorf("models: %s = %+v, want %+v (all: %+v)", k, m.Targets, targets, models.Models)
		}
	}
	if len(models.Models) != 5 { // fast, gpt-4o, gpt-4o-mini, gpt-4.1*, *
		t.Errorf("models %+v", models.Models)
	}
	adminErr(t, 405, "method not allowed", "POST", base+"/models", "{}")

	adminOK(t, 200, "GET", base, nil)
	adminOK(t, 200, "GET", "/llm_proxy/", nil)
	adminKeys(t, name)
	watch.check(t)
}

// TestAdminKeysSurviveReloadAndRestart adds a key and disables a Caddyfile
// key through the API, then reloads the config and restarts on the same
// Badger directory: both changes hold and the added key serves throughout.
func TestAdminKeysSurviveReloadAndRestart(t *testing.T) {
	dir := t.TempDir()
	// Release the database before its directory is removed (cleanups run
	// last in, first out), or the next config load waits on Badger forever.
	t.Cleanup(func() { startCaddy(t, `respond "no proxy here"`) })
	cfgKey, addKey := "sk-persist-config-0001", "sk-persist-added-0002"
	up := fakeupstream.NewOpenAI(t, cfgKey, addKey)
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
				note %q
			}
			tpd 1000000
		}
	}`, name, dir, up.URL, cfgKey, note)
	}
	startCaddy(t, config("first"))
	base := "/llm_proxy/" + name
	cfgID, addID := pool.KeyID("oai", cfgKey), pool.KeyID("oai", addKey)
	adminOK(t, 201, "POST", base+"/keys", map[string]any{"upstream": "oai", "key": addKey, "rpm": 500, "note": "from the API"})
	adminOK(t, 200, "PATCH", base+"/keys/"+cfgID, `{"disabled":true,"weight":3}`)
	sendChats(t, 5, "gpt-4o")

	check := func(when string, total int64) {
		t.Helper()
		keys := adminKeys(t, name)
		a, c := keys[addID], keys[cfgID]
		if a.Source != "admin" || a.Limits != (limits.Caps{RPM: 500, TPD: 1000000}) || a.Note != "from the API" || a.State != "active" {
			t.Errorf("%s: added key %+v", when, a)
		}
		if a.Usage.Total != total {
			t.Errorf("%s: added key total %d, want %d", when, a.Usage.Total, total)
		}
		if c.State != "disabled" || c.Weight != 3 || c.Source != "config" {
			t.Errorf("%s: the disabled Caddyfile key %+v", when, c)
		}
		if up.Requests(cfgKey) != 0 {
			t.Errorf("%s: the disabled key got %d requests", when, up.Requests(cfgKey))
		}
	}
	check("before", 5)

	startCaddy(t, config("second"))
	check("after a reload", 5)
	sendChats(t, 2, "gpt-4o")
	check("traffic after a reload", 7)

	// A restart: a config without the handler releases the database, then
	// the original config reads it back.
	startCaddy(t, `respond "no proxy here"`)
	adminErr(t, 404, "no running llm_proxy instance", "GET", base+"/keys", nil)
	startCaddy(t, config("third"))
	check("after a restart", 7)
	sendChats(t, 1, "gpt-4o")
	if up.Requests(addKey) != 8 {
		t.Errorf("added key served %d requests, want 8", up.Requests(addKey))
	}

	// Reverting the override and deleting the added key also persist.
	adminOK(t, 200, "PATCH", base+"/keys/"+cfgID, `{"disabled":null,"weight":null}`)
	adminOK(t, 200, "DELETE", base+"/keys/"+addID, nil)
	startCaddy(t, config("fourth"))
	keys := adminKeys(t, name)
	if _, ok := keys[addID]; ok || len(keys) != 1 {
		t.Fatalf("after delete and reload: %+v", keys)
	}
	if c := keys[cfgID]; c.State != "active" || c.Weight != 1 || c.Note != "fourth" || len(c.Overrides) != 0 {
		t.Errorf("reverted Caddyfile key %+v", c)
	}
	sendChats(t, 1, "gpt-4o")
	if up.Requests(cfgKey) != 1 {
		t.Errorf("the enabled Caddyfile key got %d requests, want 1", up.Requests(cfgKey))
	}
}

// TestUsageAndLogsAgreeWithTraffic sends known traffic and compares the
// usage statistics and the request log with it.
func TestUsageAndLogsAgreeWithTraffic(t *testing.T) {
	keys := []string{"sk-usage-key-0001", "sk-usage-key-0002"}
	up := fakeupstream.NewOpenAI(t, keys...)
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		client_key sk-usage-client-0001
		upstream oai {
			provider openai
			base_url %s
			key %s
			key %s
			models gpt-4o gpt-4.1*
			alias fast gpt-4o-mini
		}
	}`, name, up.URL, keys[0], keys[1]))
	auth := func(body string) rawResult {
		return postChat(t, body, "Authorization", "Bearer sk-usage-client-0001")
	}
	var in, out int64
	var order []string
	for i := range 10 {
		model := []string{"gpt-4o", "fast", "gpt-4.1-mini"}[i%3]
		res := auth(chatBody(model, fmt.Sprintf("usage %d", i)))
		if res.status != 200 {
			t.Fatalf("%d %s", res.status, res.body)
		}
		i, o := chatTokens(t, res.body)
		in += i
		out += o
		order = append(order, model)
	}
	if in == 0 || out == 0 {
		t.Fatal("the upstream reported no tokens")
	}
	base := "/llm_proxy/" + name
	usage := func(by string) map[string]admin.UsageGroup {
		var u admin.Usage
		adminOK(t, 200, "GET", base+"/usage?by="+by, nil).decode(t, &u)
		m := map[string]admin.UsageGroup{}
		for _, g := range u.Groups {
			m[g.Group] = g
		}
		return m
	}
	// Records are fed when each answer ends, which may be a moment after
	// the client has read it.
	eventually(t, 5*time.Second, "10 requests in the usage statistics", func() bool {
		return usage("upstream")["oai"].Requests == 10
	})

	// By the model the upstream served: the alias "fast" is gpt-4o-mini,
	// and the pattern gpt-4.1* the model asked for.
	byModel := usage("model")
	for model, n := range map[string]int64{"gpt-4o": 4, "gpt-4o-mini": 3, "gpt-4.1-mini": 3} {
		if g := byModel[model]; g.Requests != n || g.Successes != n || g.Failures != 0 {
			t.Errorf("usage of %s: %+v, want %d requests", model, g, n)
		}
	}
	if len(byModel) != 3 {
		t.Errorf("usage by model %+v", byModel)
	}
	byKey := usage("key")
	var tin, tout int64
	for _, k := range keys {
		g := byKey[pool.KeyID("oai", k)]
		ks := keyStatus(t, name, "oai", k)
		if g.Requests != int64(up.Requests(k)) || g.Requests != ks.Usage.Total {
			t.Errorf("key %s: usage %d requests, upstream saw %d, pool counted %d", k[:8], g.Requests, up.Requests(k), ks.Usage.Total)
		}
		if g.InputTokens+g.OutputTokens != ks.Usage.TokensTotal {
			t.Errorf("key %s: usage tokens %d+%d, pool counted %d", k[:8], g.InputTokens, g.OutputTokens, ks.Usage.TokensTotal)
		}
		tin += g.InputTokens
		tout += g.OutputTokens
	}
	if tin != in || tout != out {
		t.Errorf("usage tokens %d/%d, answers reported %d/%d", tin, tout, in, out)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	if d := usage("day")[today]; d.Requests != 10 || d.InputTokens != in || d.OutputTokens != out {
		t.Errorf("usage of today %+v", usage("day"))
	}
	if h := usage("hour"); len(h) < 1 || len(h) > 2 {
		t.Errorf("usage by hour %+v", h)
	}
	var u admin.Usage
	adminOK(t, 200, "GET", base+"/usage?by=model&days=1", nil).decode(t, &u)
	if len(u.Groups) != 3 || u.Groups[0].Group != "gpt-4o" {
		t.Errorf("usage by model today, most requests first: %+v", u)
	}

	// A failed request counts as a failure.
	up.SetBehavior(keys[0], fakeupstream.Behavior{Status: 500})
	up.SetBehavior(keys[1], fakeupstream.Behavior{Status: 500})
	if res := auth(chatBody("gpt-4o", "fail")); res.status != 502 {
		t.Fatalf("%d %s", res.status, res.body)
	}
	eventually(t, 5*time.Second, "the failure in the usage statistics", func() bool {
		return usage("model")["gpt-4o"].Failures == 1
	})

	var logs struct{ Logs []admin.LogEntry }
	adminOK(t, 200, "GET", base+"/logs?limit=100", nil).decode(t, &logs)
	if len(logs.Logs) != 11 {
		t.Fatalf("%d log entries, want 11", len(logs.Logs))
	}
	first := logs.Logs[0]
	if first.Status != 502 || first.Model != "gpt-4o" || first.Error == "" || first.API != "openai-chat" || first.Client != "default" {
		t.Errorf("newest log entry %+v", first)
	}
	for i, e := range logs.Logs[1:] {
		want := order[len(order)-1-i]
		if e.Model != want || e.Status != 200 || e.Upstream != "oai" || e.Error != "" || e.InputTokens == 0 || e.OutputTokens == 0 ||
			(e.KeyID != pool.KeyID("oai", keys[0]) && e.KeyID != pool.KeyID("oai", keys[1])) || e.Time.IsZero() || e.LatencyMS < e.TTFBMS {
			t.Errorf("log entry %d %+v, want model %s", i+1, e, want)
		}
		if want == "fast" && e.UpstreamModel != "gpt-4o-mini" {
			t.Errorf("log entry %d upstream model %q", i+1, e.UpstreamModel)
		}
		if i > 0 && e.Time.After(logs.Logs[i].Time) {
			t.Errorf("log entries not newest first at %d", i+1)
		}
	}
	adminOK(t, 200, "GET", base+"/logs?limit=3", nil).decode(t, &logs)
	if len(logs.Logs) != 3 || logs.Logs[0].Status != 502 {
		t.Errorf("limit 3: %+v", logs.Logs)
	}
	adminOK(t, 200, "GET", base+"/logs", nil).decode(t, &logs)
	if len(logs.Logs) != 11 {
		t.Errorf("default limit: %d entries", len(logs.Logs))
	}
}
