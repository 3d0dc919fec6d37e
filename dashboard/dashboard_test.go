package dashboard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		in, instance, err string
	}{
		{in: `llm_proxy_admin`},
		{in: `llm_proxy_admin team_a`, instance: "team_a"},
		{in: `llm_proxy_admin a b`, err: "wrong argument count"},
		{in: "llm_proxy_admin {\n\tfoo\n}", err: "takes no block"},
		{in: "llm_proxy_admin a {\n\tfoo\n}", err: "takes no block"},
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want one saying %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.err == "" && h.Instance != tc.instance:
			t.Errorf("%q: instance %q, want %q", tc.in, h.Instance, tc.instance)
		}
	}
}

// TestDirectiveOrder adapts a Caddyfile without an order line: the
// directive is known, and basic_auth runs before it.
func TestDirectiveOrder(t *testing.T) {
	const in = `example.com {
	handle_path /llm-admin/* {
		llm_proxy_admin team_a
		basic_auth {
			admin $2a$14$T7BUkDADXAWqmutCqtIQVOcUFsP0Pqvzo9/yPKrjymWWF0nYcxLbK
		}
	}
}`
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	auth := strings.Index(s, `"handler":"authentication"`)
	admin := strings.Index(s, `"handler":"llm_proxy_admin","instance":"team_a"`)
	if auth < 0 || admin < 0 || auth > admin {
		t.Fatalf("want basic_auth, then llm_proxy_admin with its instance; got %s", s)
	}
}

func TestAPIPath(t *testing.T) {
	for p, want := range map[string]string{
		"/api":                        "",
		"/api/":                       "",
		"/api/default/keys":           "default/keys",
		"/llm-admin/api/default/keys": "default/keys",
		"/llm-admin/api/api/keys":     "api/keys", // an instance named api
		"/a/b/api/x/keys/oai-1/reset": "x/keys/oai-1/reset",
	} {
		got, ok := apiPath(p)
		if !ok || got != want {
			t.Errorf("apiPath(%q) = %q, %v; want %q", p, got, ok, want)
		}
	}
	for _, p := range []string{"/", "/app.js", "/llm-admin/", "/apis/x", "/x/api.js", "/rapid/"} {
		if got, ok := apiPath(p); ok {
			t.Errorf("apiPath(%q) = %q, want no API path", p, got)
		}
	}
}

func TestCSRF(t *testing.T) {
	for _, tc := range []struct {
		method  string
		headers map[string]string
		ok      bool
	}{
		{http.MethodGet, nil, true},
		{http.MethodHead, nil, true},
		{http.MethodPost, nil, false},
		{http.MethodPatch, map[string]string{"Content-Type": "application/json"}, false},
		{http.MethodDelete, map[string]string{CSRFHeader: "true"}, false},
		{http.MethodPost, map[string]string{CSRFHeader: "1"}, true},
		{http.MethodPost, map[string]string{CSRFHeader: "1", "Origin": "http://example.com"}, true},
		{http.MethodPost, map[string]string{CSRFHeader: "1", "Origin": "http://EXAMPLE.com"}, true},
		{http.MethodPost, map[string]string{CSRFHeader: "1", "Origin": "http://example.com.evil.net"}, false},
		{http.MethodPost, map[string]string{CSRFHeader: "1", "Origin": "null"}, false},
		{http.MethodPost, map[string]string{CSRFHeader: "1", "Sec-Fetch-Site": "same-origin"}, true},
		{http.MethodPost, map[string]string{CSRFHeader: "1", "Sec-Fetch-Site": "same-site"}, false},
		{http.MethodPost, map[string]string{CSRFHeader: "1", "Sec-Fetch-Site": "cross-site"}, false},
	} {
		r := httptest.NewRequest(tc.method, "http://example.com/llm-admin/api/default/keys", nil)
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		if err := checkCSRF(r); (err == nil) != tc.ok {
			t.Errorf("%s with %v: %v, want ok %v", tc.method, tc.headers, err, tc.ok)
		}
	}
}

// TestServeWithoutInstances answers without Caddy: the API answers from
// package admin (no instance runs), the page and files from the embedded
// copies, every answer with the security headers.
func TestServeWithoutInstances(t *testing.T) {
	h := &Handler{}
	for _, tc := range []struct {
		method, path string
		status       int
		ctype, body  string
	}{
		{"GET", "/api/", 200, "application/json", `{"instances":[]}`},
		{"GET", "/api/default/keys", 404, "application/json", `"error":"no running llm_proxy instance named \"default\""`},
		{"POST", "/api/default/keys", 403, "application/json", CSRFHeader},
		{"GET", "/", 200, "text/html", `<script src="app.js" defer></script>`},
		{"GET", "/app.js", 200, "text/javascript", `'use strict';`},
		{"GET", "/app.css", 200, "text/css", `:root`},
		{"GET", "/favicon.svg", 200, "image/svg+xml", `<svg`},
		{"GET", "/nope.html", 404, "application/json", `no such dashboard file`},
		{"DELETE", "/", 405, "application/json", `method not allowed`},
	} {
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, httptest.NewRequest(tc.method, "http://example.com"+tc.path, nil), nil); err != nil {
			t.Fatal(err)
		}
		res := w.Result()
		body := w.Body.String()
		if res.StatusCode != tc.status || !strings.HasPrefix(res.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(body, tc.body) {
			t.Errorf("%s %s: %d %s %.200s; want %d %s with %s", tc.method, tc.path, res.StatusCode, res.Header.Get("Content-Type"), body, tc.status, tc.ctype, tc.body)
		}
		if res.Header.Get("Content-Security-Policy") != contentSecurityPolicy || res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s %s: missing security headers: %v", tc.method, tc.path, res.Header)
		}
		if strings.HasPrefix(tc.ctype, "application/json") {
			var v map[string]any
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Errorf("%s %s: not JSON: %s", tc.method, tc.path, body)
			}
		}
	}
}
