package admin

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestParsePatch(t *testing.T) {
	p, err := ParsePatch([]byte(`{"disabled":true,"weight":2,"rpm":0,"tpd":5,"interval":"1.5s","concurrency":3,"note":"x","rpd":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if !*p.Disabled || *p.Weight != 2 || *p.RPM != 0 || *p.TPD != 5 || p.Interval.String() != "1.5s" || *p.Concurrency != 3 ||
		*p.Note != "x" || p.RPD != nil || !slices.Equal(p.Revert, []string{"rpd"}) {
		t.Fatalf("%+v", p)
	}
	for body, want := range map[string]string{
		`{"weight":0}`:        "at least 1",
		`{"rpm":-1}`:          "must not be negative",
		`{"interval":"-1s"}`:  "must not be negative",
		`{"interval":"soon"}`: "interval",
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
