package dashboard_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestAdminAPIInsideSite checks the admin API as llm_proxy_admin serves it
// inside a site: behind basic_auth, the same answers as Caddy's admin
// endpoint under handle_path and handle, one instance only when the
// directive names it, CSRF refusals, and the security headers.
func TestAdminAPIInsideSite(t *testing.T) {
	f := startFixture(t)
	f.traffic(t)

	// Nothing without the credentials.
	for _, p := range []string{"/llm-admin/", "/llm-admin/api/", "/llm-admin/api/" + f.instance + "/keys", "/pinned/", "/dash/app.js"} {
		if a := call(t, http.MethodGet, siteBase+p, ""); a.status != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", p, a.status)
		}
	}
	if a := call(t, http.MethodGet, siteBase+"/llm-admin/api/", "", "Authorization", "Basic YWRtaW46d3Jvbmc="); a.status != http.StatusUnauthorized {
		t.Errorf("GET with a wrong password: %d, want 401", a.status)
	}

	// The same answers as the admin endpoint, route for route.
	for _, p := range []string{
		"",
		f.instance,
		f.instance + "/keys",
		f.instance + "/keys/" + keys(t, f.instance)[0].ID,
		f.instance + "/usage?by=model",
		f.instance + "/usage?by=day&days=3",
		f.instance + "/logs?limit=5",
		f.instance + "/models",
		f.second + "/keys",
	} {
		want := admin(t, http.MethodGet, "/llm_proxy/"+p, "")
		for _, mount := range []string{"/llm-admin/api/", "/dash/api/"} {
			got := dash(t, http.MethodGet, mount+p, "")
			if got.status != want.status || !sameJSON(t, got.body, want.body) {
				t.Errorf("GET %s%s: %d %s\nadmin endpoint: %d %s", mount, p, got.status, got.body, want.status, want.body)
			}
			if cc := got.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("GET %s%s: Cache-Control %q, want no-store", mount, p, cc)
			}
		}
	}
	// The instances list holds both instances, with the keys by state.
	var list struct {
		Instances []struct {
			Name string
			Keys map[string]int
		}
	}
	dash(t, http.MethodGet, "/llm-admin/api/", "").decode(t, &list)
	if len(list.Instances) < 2 {
		t.Fatalf("instances: %+v, want both of this config", list.Instances)
	}

	// Errors in Caddy's shape, with their status.
	for p, status := range map[string]int{
		"/llm-admin/api/nope/keys":                           http.StatusNotFound,
		"/llm-admin/api/" + f.instance + "/whatever":         http.StatusNotFound,
		"/llm-admin/api/" + f.instance + "/usage?by=weekday": http.StatusBadRequest,
	} {
		a := dash(t, http.MethodGet, p, "")
		var e struct{ Error string }
		a.decode(t, &e)
		if a.status != status || e.Error == "" {
			t.Errorf("GET %s: %d %s, want %d and an error", p, a.status, a.body, status)
		}
	}
	if a := dash(t, http.MethodPut, "/llm-admin/api/"+f.instance+"/keys", "{}", "X-LLM-Proxy-Admin", "1"); a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") == "" {
		t.Errorf("PUT keys: %d (Allow %q), want 405 with Allow", a.status, a.header.Get("Allow"))
	}

	// Named in the directive, one instance is all there is; the prefix
	// (not stripped under handle) does not get in the way.
	var pinned struct{ Instances []struct{ Name string } }
	a := dash(t, http.MethodGet, "/pinned/api/", "")
	a.decode(t, &pinned)
	if a.status != http.StatusOK || len(pinned.Instances) != 1 || pinned.Instances[0].Name != f.instance {
		t.Errorf("GET /pinned/api/: %d %s, want only %s", a.status, a.body, f.instance)
	}
	if a := dash(t, http.MethodGet, "/pinned/api/"+f.instance+"/keys", ""); a.status != http.StatusOK || !sameJSON(t, a.body, admin(t, http.MethodGet, "/llm_proxy/"+f.instance+"/keys", "").body) {
		t.Errorf("GET /pinned/api/%s/keys: %d %s", f.instance, a.status, a.body)
	}
	if a := dash(t, http.MethodGet, "/pinned/api/"+f.second+"/keys", ""); a.status != http.StatusNotFound {
		t.Errorf("GET /pinned/api/%s/keys (another instance): %d %s, want 404", f.second, a.status, a.body)
	}
	if a := dash(t, http.MethodPost, "/pinned/api/"+f.second+"/keys", `{"upstream":"oai2","key":"sk-never-added-0000"}`, "X-LLM-Proxy-Admin", "1"); a.status != http.StatusNotFound {
		t.Errorf("POST to another instance through /pinned/: %d %s, want 404", a.status, a.body)
	}

	// A change needs the CSRF header and, when the browser names one, this
	// site as its origin; refused requests change nothing.
	before := len(keys(t, f.instance))
	body := `{"upstream":"oai","key":"` + newKeys[0] + `"}`
	keysPath := "/llm-admin/api/" + f.instance + "/keys"
	for name, headers := range map[string][]string{
		"no header":        nil,
		"wrong value":      {"X-LLM-Proxy-Admin", "yes"},
		"other origin":     {"X-LLM-Proxy-Admin", "1", "Origin", "https://evil.example"},
		"cross-site fetch": {"X-LLM-Proxy-Admin", "1", "Sec-Fetch-Site", "cross-site"},
	} {
		if a := dash(t, http.MethodPost, keysPath, body, headers...); a.status != http.StatusForbidden || !strings.Contains(a.body, `"error"`) {
			t.Errorf("POST keys with %s: %d %s, want 403", name, a.status, a.body)
		}
	}
	if n := len(keys(t, f.instance)); n != before {
		t.Fatalf("refused POSTs changed the keys: %d, were %d", n, before)
	}
	a = dash(t, http.MethodPost, keysPath, body, "X-LLM-Proxy-Admin", "1", "Origin", siteBase, "Sec-Fetch-Site", "same-origin")
	if a.status != http.StatusCreated {
		t.Fatalf("POST keys with the header: %d %s", a.status, a.body)
	}
	var added struct{ IDs []string }
	a.decode(t, &added)
	if len(added.IDs) != 1 || len(keys(t, f.instance)) != before+1 {
		t.Fatalf("POST keys: %s; keys now %d, were %d", a.body, len(keys(t, f.instance)), before)
	}
	if a := dash(t, http.MethodDelete, keysPath+"/"+added.IDs[0], "", "X-LLM-Proxy-Admin", "1"); a.status != http.StatusOK {
		t.Fatalf("DELETE the added key: %d %s", a.status, a.body)
	}

	// The page and its files, with the security headers; the page is
	// reached with a slash, so that its relative URLs stay in the mount.
	for p, ctype := range map[string]string{
		"/llm-admin/":            "text/html",
		"/llm-admin/index.html":  "text/html",
		"/llm-admin/app.js":      "text/javascript",
		"/llm-admin/app.css":     "text/css",
		"/pinned/":               "text/html",
		"/pinned/app.js":         "text/javascript",
		"/dash/favicon.svg":      "image/svg+xml",
		"/llm-admin/api/":        "application/json",
		"/llm-admin/nothing.txt": "application/json",
	} {
		a := dash(t, http.MethodGet, p, "")
		if !strings.HasPrefix(a.header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", p, a.header.Get("Content-Type"), ctype)
		}
		csp := a.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", p, csp)
		}
		if a.header.Get("X-Frame-Options") != "DENY" || a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: headers %v", p, a.header)
		}
	}
	if a := dash(t, http.MethodGet, "/llm-admin/nothing.txt", ""); a.status != http.StatusNotFound {
		t.Errorf("GET an unknown file: %d", a.status)
	}
	if a := dash(t, http.MethodPost, "/llm-admin/", "", "X-LLM-Proxy-Admin", "1"); a.status != http.StatusMethodNotAllowed {
		t.Errorf("POST the page: %d, want 405", a.status)
	}
	a = dash(t, http.MethodGet, "/dash", "")
	if loc, err := url.Parse(a.header.Get("Location")); a.status != http.StatusPermanentRedirect || err != nil || loc.IsAbs() ||
		(&url.URL{Path: "/dash"}).ResolveReference(loc).Path != "/dash/" {
		t.Errorf("GET /dash: %d Location %q, want a relative redirect to /dash/", a.status, a.header.Get("Location"))
	}
	page := dash(t, http.MethodGet, "/llm-admin/", "")
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]|\son[a-z]+=|style=`).MatchString(page.body) {
		t.Errorf("the page has inline script or style, which its CSP refuses")
	}
	etag := page.header.Get("ETag")
	if a := dash(t, http.MethodGet, "/llm-admin/", "", "If-None-Match", etag); etag == "" || a.status != http.StatusNotModified {
		t.Errorf("GET the page again with its ETag %q: %d, want 304", etag, a.status)
	}
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
