// Package dashboard is the http.handlers.llm_proxy_admin module: the
// llm_proxy admin JSON API and a web dashboard over it, served inside any
// Caddy site, so that the site's basic_auth, forward_auth, matchers and
// automatic HTTPS protect them (Caddy's admin endpoint has none of these).
//
// Below the handler's mount point:
//
//	api/...   the admin API of package admin, route for route (api/ answers
//	          what /llm_proxy/ answers on Caddy's admin endpoint)
//	(root)    the dashboard, a page with its script and style sheet
//
// Paths are found relative to the mount, so the handler works under
// handle_path (prefix stripped) and under handle (prefix kept).
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmproxy/caddy-llm-proxy/admin"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the http.handlers.llm_proxy_admin module. It is a terminal
// handler: it answers every request it gets and never calls the next one.
type Handler struct {
	// Instance is the name of the one llm_proxy instance the API and the
	// dashboard reach. Empty (the default) reaches every running instance,
	// and the dashboard offers a choice among them.
	Instance string `json:"instance,omitempty"`

	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.llm_proxy_admin",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision gets the logger, for the faults the handler cannot answer
// as a client's mistake.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	return nil
}

// CSRFHeader is the header every request that changes something (any
// method but GET and HEAD) must carry, with the value "1". A browser sends
// the site's basic_auth credentials with any request to the site, also
// one that another site's page starts; such a page cannot set a custom
// header without a CORS preflight, which this handler never grants.
const CSRFHeader = "X-LLM-Proxy-Admin"

// contentSecurityPolicy allows the dashboard its own script, style sheet
// and API calls and nothing else: no inline script, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// ServeHTTP answers the admin API below api/ and the dashboard elsewhere.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")

	if rest, ok := apiPath(r.URL.Path); ok {
		hd.Set("Cache-Control", "no-store")
		if err := checkCSRF(r); err != nil {
			writeError(w, err)
			return nil
		}
		if err := admin.Serve(w, r, rest, h.Instance); err != nil {
			if status := writeError(w, err); status >= 500 && h.logger != nil {
				h.logger.Error("llm_proxy admin API", zap.String("path", r.URL.Path), zap.Int("status", status), zap.Error(err))
			}
		}
		return nil
	}
	h.serveAsset(w, r)
	return nil
}

// apiPath finds the admin API path in a request path: what follows the
// first path segment named "api" ("default/keys" in
// /llm-admin/api/default/keys). The first one is taken because instance
// names and key ids come after it; a mount path under handle (not
// handle_path) must therefore not contain an "api" segment itself.
func apiPath(p string) (rest string, ok bool) {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if s == "api" {
			return strings.Join(segs[i+1:], "/"), true
		}
	}
	return "", false
}

// checkCSRF refuses a request that changes something unless it carries
// CSRFHeader and, when the browser says where it comes from, comes from
// this site.
func checkCSRF(r *http.Request) error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if r.Header.Get(CSRFHeader) != "1" {
		return admin.Errorf(http.StatusForbidden, "a request that changes something must carry the header %s: 1", CSRFHeader)
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return admin.Errorf(http.StatusForbidden, "cross-site request refused (Sec-Fetch-Site: %s)", site)
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return admin.Errorf(http.StatusForbidden, "cross-origin request refused (Origin %s, Host %s)", origin, r.Host)
		}
	}
	return nil
}

// writeError answers an error as Caddy's admin endpoint does:
// {"error": "..."} with the caddy.APIError's status, else 500. It returns
// the status.
func writeError(w http.ResponseWriter, err error) int {
	status := http.StatusInternalServerError
	msg := err.Error()
	var apiErr caddy.APIError
	if errors.As(err, &apiErr) {
		if apiErr.HTTPStatus != 0 {
			status = apiErr.HTTPStatus
		}
		if apiErr.Message != "" {
			msg = apiErr.Message
		}
	}
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return status
}

//go:embed web
var webFS embed.FS

// asset is one embedded dashboard file.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets are the dashboard's files by name; "" is the page.
var assets = func() map[string]asset {
	files := map[string]string{
		"index.html":  "text/html; charset=utf-8",
		"app.js":      "text/javascript; charset=utf-8",
		"app.css":     "text/css; charset=utf-8",
		"favicon.svg": "image/svg+xml",
	}
	m := make(map[string]asset, len(files)+1)
	for name, ct := range files {
		b, err := webFS.ReadFile("web/" + name)
		if err != nil {
			panic(fmt.Sprintf("dashboard: embedded file %s: %v", name, err))
		}
		sum := sha256.Sum256(b)
		m[name] = asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	m[""] = m["index.html"]
	return m
}()

// serveAsset answers the dashboard's page and files: the page for the
// mount's root, a file by its name in the last path segment.
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, admin.Errorf(http.StatusMethodNotAllowed, "method not allowed; use GET"))
		return
	}
	p := r.URL.Path
	name := p[strings.LastIndexByte(p, '/')+1:]
	a, ok := assets[name]
	if !ok {
		writeError(w, admin.Errorf(http.StatusNotFound, "no such dashboard file: %s", name))
		return
	}
	if name == "" {
		// The page loads its files and the API by relative URLs, so it
		// must be served from a path that ends in a slash. The redirect is
		// relative to what the client asked for ("./llm-admin/" for
		// /llm-admin), which handle_path may have stripped from the path
		// here, and cannot leave the site.
		orig := originalPath(r)
		if last := orig[strings.LastIndexByte(orig, '/')+1:]; last != "" {
			w.Header().Set("Location", "./"+last+"/")
			w.WriteHeader(http.StatusPermanentRedirect)
			return
		}
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", a.etag)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// originalPath is the request's path as the client sent it, before
// handle_path or a rewrite changed it.
func originalPath(r *http.Request) string {
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		return orig.URL.EscapedPath()
	}
	return r.URL.EscapedPath()
}

// Interface guards
var (
	_ caddy.Module                = (*Handler)(nil)
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
