package admin

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

func TestParsePatch(t *testing.T) {
	p, err := ParsePatch([]byte(`{"disabled":true,"weight":2,"rpm":0,"tpd":5,"interval":"1.5s","concurrency":3,"note":"x","rpd":null}`))
	if err != nil {
		t.Fatal(err)
	}
	lim := func(name string) any {
		if v, ok := p.Limits.Get(limits.Lookup(name)); ok {
			return v
		}
		return nil
	}
	if !*p.Disabled || lim("weight") != int64(2) || lim("rpm") != int64(0) || lim("tpd") != int64(5) ||
		lim("interval") != int64(1500*time.Millisecond) || lim("concurrency") != int64(3) ||
		*p.Note != "x" || lim("rpd") != nil || !slices.Equal(p.Revert, []string{"rpd"}) {
		t.Fatalf("%+v", p)
	}
	for body, want := range map[string]string{
		`{"weight":0}`:        "at least 1",
		`{"rpm":-1}`:          "must not be negative",
		`{"interval":"-1s"}`:  "must not be negative",
		`{"interval":"soon"}`: "interval",
		`{"interval":5}`:      `"interval": durations are strings like "500ms" or "2s", got 5`,
		`{"key":"sk-x"}`:      "unknown field",
		`{"disabled":1}`:      "disabled",
		`[]`:                  "cannot unmarshal",
		`{} {}`:               "unexpected data",
		`null`:                "want a JSON object",
	} {
		if _, err := ParsePatch([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", body, err, want)
		}
	}
}

// stub is an Instance whose methods are not reached by the tests below.
type stub struct{ Instance }

func (stub) Summary() InstanceSummary { return InstanceSummary{Name: "a"} }

type reg map[string]Instance

func (r reg) Lookup(name string) Instance { return r[name] }
func (r reg) Names() []string             { return []string{"a"} }

func TestRouting(t *testing.T) {
	SetRegistry(reg{"a": stub{}})
	defer SetRegistry(nil)
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/llm_proxy/", 200, ""},
		{"GET", "/llm_proxy/a", 200, ""},
		{"GET", "/llm_proxy/a/", 200, ""},
		{"PUT", "/llm_proxy/", 405, "GET"},
		{"PUT", "/llm_proxy/a/keys", 405, "GET, POST"},
		{"POST", "/llm_proxy/a/keys/oai-1/reset/now", 404, ""},
		{"GET", "/llm_proxy/b/keys", 404, ""},
		{"PUT", "/llm_proxy/b/keys/x", 405, "GET, PATCH, DELETE"},
		{"GET", "/llm_proxy/a/usage?by=week", 400, ""},
		{"GET", "/llm_proxy/a/logs?limit=0", 400, ""},
		{"POST", "/llm_proxy/a/keys", 400, ""}, // empty body
		// clients: an instance without clients to manage answers 404 once
		// method and route are right
		{"GET", "/llm_proxy/a/clients", 404, ""},
		{"PUT", "/llm_proxy/a/clients", 405, "GET, POST"},
		{"POST", "/llm_proxy/a/clients/ci", 405, "GET, PATCH, DELETE"},
		{"GET", "/llm_proxy/a/clients/ci/rotate", 405, "POST"},
		{"POST", "/llm_proxy/a/clients/ci/rotate", 404, ""},
	} {
		w := httptest.NewRecorder()
		err := API{}.serve(w, httptest.NewRequest(c.method, c.path, nil))
		status := w.Code
		if err != nil {
			var ae caddy.APIError
			if !errors.As(err, &ae) {
				t.Errorf("%s %s: %v is not an APIError", c.method, c.path, err)
				continue
			}
			status = ae.HTTPStatus
		}
		if status != c.status || w.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q", c.method, c.path, status, w.Header().Get("Allow"), c.status, c.allow)
		}
	}
}

// A duration in an admin body is a string: a number (which would be
// nanoseconds) is a 400 that says so, in POST and PATCH alike.
func TestDurationsAreStrings(t *testing.T) {
	SetRegistry(reg{"a": stub{}})
	defer SetRegistry(nil)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/llm_proxy/a/keys", `{"upstream":"oai","key":"sk-x","interval":5}`},
		{"POST", "/llm_proxy/a/keys", `[{"upstream":"oai","key":"sk-x","interval":"1s"},{"upstream":"oai","key":"sk-y","interval":5}]`},
		{"PATCH", "/llm_proxy/a/keys/oai-1", `{"interval":5}`},
	} {
		err := API{}.serve(httptest.NewRecorder(), httptest.NewRequest(c.method, c.path, strings.NewReader(c.body)))
		var ae caddy.APIError
		if !errors.As(err, &ae) || ae.HTTPStatus != 400 || !strings.Contains(err.Error(), "durations are strings") {
			t.Errorf("%s %s: %v, want a 400 saying durations are strings", c.method, c.body, err)
		}
	}
}

func TestNewKey(t *testing.T) {
	var keys []NewKey
	err := decodeStrict([]byte(`[{"Upstream":"oai","key":"sk-x","weight":2,"rpm":null,"interval":"1.5s","note":"n","disabled":true}]`), &keys)
	if err != nil {
		t.Fatal(err)
	}
	k := keys[0]
	if k.Upstream != "oai" || k.Key != "sk-x" || k.Note != "n" || !k.Disabled ||
		strings.Join(k.Limits.Names(), ",") != "weight,interval" {
		t.Fatalf("%+v", k)
	}
	for body, want := range map[string]string{
		`{"upstream":"oai","key":"k","rpn":3}`:   `unknown field "rpn"`,
		`{"upstream":"oai","key":"k","rpm":"3"}`: `"rpm"`,
		`{"upstream":1}`:                         `"upstream"`,
		`[1]`:                                    "want a JSON object",
	} {
		var k NewKey
		var err error
		if body[0] == '[' {
			err = decodeStrict([]byte(body), &keys)
		} else {
			err = decodeStrict([]byte(body), &k)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", body, err, want)
		}
	}
	for body, want := range map[string]string{
		`{"upstream":"oai","key":"k","rpm":0}`:                         `"rpm" must be at least 1`,
		`{"upstream":"oai","key":"k","weight":-1}`:                     `"weight" must be at least 1`,
		`{"upstream":"oai","key":"k","interval":"0s"}`:                 `"interval" must be positive`,
		`{"upstream":"oai","key":" k"}`:                                `whitespace`,
		`{"upstream":"oai","key":"k","base_url":"example.com"}`:        `"base_url" must be`,
		`{"upstream":"oai","key":"k","proxy":"ftp://u:pw-x@host"}`:     `"proxy" must be`,
		`{"upstream":"oai","key":"k","headers":{"X A":"1"}}`:           `invalid header name`,
		`{"upstream":"oai","key":"k","headers":{"X-A":"1","x-a":"2"}}`: `twice`,
		`{"upstream":"oai","key":"k","headers":{"X-A":"line\nbreak"}}`: `invalid value`,
	} {
		var k NewKey
		if err := decodeStrict([]byte(body), &k); err != nil {
			t.Fatal(err)
		}
		if err := k.validate(); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "pw-x") {
			t.Errorf("%s: %v, want an error containing %q", body, err, want)
		}
	}
	var eg NewKey
	if err := decodeStrict([]byte(`{"upstream":"oai","key":"k","base_url":"https://eu.example.com/v1","proxy":"socks5h://p:1080","headers":{"X-A":"1"}}`), &eg); err != nil {
		t.Fatal(err)
	}
	if eg.BaseURL != "https://eu.example.com/v1" || eg.Proxy != "socks5h://p:1080" || eg.Headers["X-A"] != "1" || eg.validate() != nil {
		t.Fatalf("%+v", eg)
	}
	if got := MaskURL("http://user:pw@proxy.local:3128"); got != "http://***@proxy.local:3128" {
		t.Fatalf("MaskURL: %s", got)
	}
}

func TestClientBodies(t *testing.T) {
	var c NewClient
	if err := decodeStrict([]byte(`{"name":"ci","models":["gpt-*"],"rpm":3,"concurrency":2,"tpd":null,"note":"n","disabled":true}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "ci" || !slices.Equal(c.Models, []string{"gpt-*"}) || c.Note != "n" || !c.Disabled ||
		strings.Join(c.Limits.Names(), ",") != "rpm,concurrency" {
		t.Fatalf("%+v", c)
	}
	for body, want := range map[string]string{
		`{"name":"ci","weight":2}`:        `unknown field "weight"`,
		`{"name":"ci","interval":"1s"}`:   `unknown field "interval"`,
		`{"name":"ci","rpm":0}`:           `"rpm" must be at least 1`,
		`{"name":"ci","models":"gpt-4o"}`: `"models"`,
		`[]`:                              "want a JSON object",
	} {
		var c NewClient
		if err := decodeStrict([]byte(body), &c); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", body, err, want)
		}
	}
	p, err := ParseClientPatch([]byte(`{"rpm":0,"models":["a*"],"disabled":false,"note":null,"tpm":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := p.Limits.Get(limits.Lookup("rpm")); !ok || v != 0 || p.Models == nil || (*p.Models)[0] != "a*" ||
		p.Disabled == nil || *p.Disabled || !slices.Equal(p.Revert, []string{"note", "tpm"}) {
		t.Fatalf("%+v", p)
	}
	for body, want := range map[string]string{
		`{"weight":2}`: "unknown field",
		`{"rpm":-1}`:   "must not be negative",
		`{"models":3}`: `"models"`,
		`{"name":"x"}`: "unknown field",
		`null`:         "want a JSON object",
	} {
		if _, err := ParseClientPatch([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", body, err, want)
		}
	}
}
