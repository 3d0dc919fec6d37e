// Package admin is the admin.api.llm_proxy module: the llm_proxy routes on
// Caddy's admin endpoint, for operators and scripts to see and manage the
// key pools, usage and recent requests of the running llm_proxy handlers.
//
// Routes (JSON in and out; errors are Caddy's {"error": "..."}):
//
//	GET    /llm_proxy/                           instances and key counts by state
//	GET    /llm_proxy/{instance}                 one instance's line of the above
//	GET    /llm_proxy/{instance}/keys            every key (secrets masked)
//	POST   /llm_proxy/{instance}/keys            add one key (object) or many (array); 201 {"ids":[...]}
//	GET    /llm_proxy/{instance}/keys/{id}       one key
//	PATCH  /llm_proxy/{instance}/keys/{id}       change disabled, weight, limits, note
//	DELETE /llm_proxy/{instance}/keys/{id}       remove a key added through the API
//	POST   /llm_proxy/{instance}/keys/{id}/reset zero its counters, clear its cooldown
//	POST   /llm_proxy/{instance}/keys/check      probe every key now
//	GET    /llm_proxy/{instance}/usage?by=day|hour|model|key|upstream|client[&days=N]
//	GET    /llm_proxy/{instance}/logs?limit=N    recent requests, newest first
//	GET    /llm_proxy/{instance}/models          every model a client may ask for
//	GET    /llm_proxy/{instance}/clients         every named client (secrets masked)
//	POST   /llm_proxy/{instance}/clients         make a client; 201 {"name","key"}, the secret shown once
//	GET    /llm_proxy/{instance}/clients/{name}  one client
//	PATCH  /llm_proxy/{instance}/clients/{name}  change limits, models, disabled, note
//	DELETE /llm_proxy/{instance}/clients/{name}  delete a client made through the API
//	POST   /llm_proxy/{instance}/clients/{name}/rotate  a new secret, shown once; the old one stops
//
// The instances are looked up by name at request time through the Registry
// the handler package installs, so the answers follow config reloads.
package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/net/http/httpguts"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

func init() {
	caddy.RegisterModule(API{})
}

// API is the admin.api.llm_proxy module. It has no configuration: Caddy
// loads every admin.api module on each config load.
type API struct{}

// CaddyModule returns the Caddy module information.
func (API) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.llm_proxy",
		New: func() caddy.Module { return new(API) },
	}
}

// Routes returns the /llm_proxy/ routes.
func (a API) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/llm_proxy/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// maxBody bounds a request body (a batch of keys).
const maxBody = 4 << 20

// DefaultLogLimit is how many log entries GET .../logs answers without
// ?limit.
const DefaultLogLimit = 100

func (a API) serve(w http.ResponseWriter, r *http.Request) error {
	return Serve(w, r, strings.TrimPrefix(r.URL.Path, "/llm_proxy/"), "")
}

// Serve answers one admin API request; rest is the request's path below
// the API's root ("default/keys" for GET /llm_proxy/default/keys). It is
// the one dispatch of every route, for Caddy's admin endpoint and for the
// llm_proxy_admin handler that serves the same API inside a site. When
// only is not "", the API shows that one instance and no other. An error
// is a caddy.APIError to answer as {"error": "..."} with its status.
func Serve(w http.ResponseWriter, r *http.Request, rest, only string) error {
	rest = strings.Trim(rest, "/")
	var parts []string
	if rest != "" {
		parts = strings.Split(rest, "/")
	}
	if len(parts) == 0 {
		if err := allow(w, r, http.MethodGet); err != nil {
			return err
		}
		return instances(w, only)
	}

	// Resolve the route first, so a wrong method is a 405 whatever the
	// instance.
	var (
		methods []string
		handle  func(Instance) error
	)
	switch {
	case len(parts) == 1:
		methods = []string{http.MethodGet}
		handle = func(in Instance) error { return writeJSON(w, http.StatusOK, in.Summary()) }
	case len(parts) == 2 && parts[1] == "keys":
		methods = []string{http.MethodGet, http.MethodPost}
		handle = func(in Instance) error {
			if r.Method == http.MethodPost {
				return addKeys(w, r, in)
			}
			keys := in.Keys()
			if keys == nil {
				keys = []Key{}
			}
			return writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
		}
	case len(parts) == 3 && parts[1] == "keys" && parts[2] == "check":
		methods = []string{http.MethodPost}
		handle = func(in Instance) error {
			res := in.CheckKeys(r.Context())
			if res == nil {
				res = []CheckResult{}
			}
			return writeJSON(w, http.StatusOK, map[string]any{"results": res})
		}
	case len(parts) == 3 && parts[1] == "keys":
		id := parts[2]
		methods = []string{http.MethodGet, http.MethodPatch, http.MethodDelete}
		handle = func(in Instance) error {
			switch r.Method {
			case http.MethodPatch:
				return patchKey(w, r, in, id)
			case http.MethodDelete:
				if err := in.DeleteKey(id); err != nil {
					return err
				}
				return writeJSON(w, http.StatusOK, map[string]any{"deleted": id})
			}
			k, err := in.Key(id)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, k)
		}
	case len(parts) == 4 && parts[1] == "keys" && parts[3] == "reset":
		id := parts[2]
		methods = []string{http.MethodPost}
		handle = func(in Instance) error {
			k, err := in.ResetKey(id)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, k)
		}
	case len(parts) == 2 && parts[1] == "clients":
		methods = []string{http.MethodGet, http.MethodPost}
		handle = withClients(func(ca ClientAdmin) error {
			if r.Method == http.MethodPost {
				return addClient(w, r, ca)
			}
			list := ca.Clients()
			if list == nil {
				list = []Client{}
			}
			return writeJSON(w, http.StatusOK, map[string]any{"clients": list})
		})
	case len(parts) == 3 && parts[1] == "clients":
		name := parts[2]
		methods = []string{http.MethodGet, http.MethodPatch, http.MethodDelete}
		handle = withClients(func(ca ClientAdmin) error {
			switch r.Method {
			case http.MethodPatch:
				b, err := readBody(r)
				if err != nil {
					return err
				}
				patch, err := ParseClientPatch(b)
				if err != nil {
					return Errorf(http.StatusBadRequest, "bad body: %v", err)
				}
				c, err := ca.UpdateClient(name, patch)
				if err != nil {
					return err
				}
				return writeJSON(w, http.StatusOK, c)
			case http.MethodDelete:
				if err := ca.DeleteClient(name); err != nil {
					return err
				}
				return writeJSON(w, http.StatusOK, map[string]any{"deleted": name})
			}
			c, err := ca.Client(name)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, c)
		})
	case len(parts) == 4 && parts[1] == "clients" && parts[3] == "rotate":
		name := parts[2]
		methods = []string{http.MethodPost}
		handle = withClients(func(ca ClientAdmin) error {
			sec, err := ca.RotateClient(name)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, sec)
		})
	case len(parts) == 2 && parts[1] == "usage":
		methods = []string{http.MethodGet}
		handle = func(in Instance) error { return usage(w, r, in) }
	case len(parts) == 2 && parts[1] == "logs":
		methods = []string{http.MethodGet}
		handle = func(in Instance) error { return logs(w, r, in) }
	case len(parts) == 2 && parts[1] == "models":
		methods = []string{http.MethodGet}
		handle = func(in Instance) error {
			ms := in.Models(r.Context())
			if ms == nil {
				ms = []Model{}
			}
			return writeJSON(w, http.StatusOK, map[string]any{"models": ms})
		}
	default:
		return Errorf(http.StatusNotFound, "unknown llm_proxy admin path %s", r.URL.Path)
	}
	if err := allow(w, r, methods...); err != nil {
		return err
	}
	reg := currentRegistry()
	var in Instance
	if reg != nil && (only == "" || parts[0] == only) {
		in = reg.Lookup(parts[0])
	}
	if in == nil {
		return Errorf(http.StatusNotFound, "no running llm_proxy instance named %q", parts[0])
	}
	return handle(in)
}

// withClients runs f with the instance's clients, or answers 404 for an
// instance that has none to manage.
func withClients(f func(ClientAdmin) error) func(Instance) error {
	return func(in Instance) error {
		ca, ok := in.(ClientAdmin)
		if !ok {
			return Errorf(http.StatusNotFound, "this llm_proxy instance has no clients to manage")
		}
		return f(ca)
	}
}

func addClient(w http.ResponseWriter, r *http.Request, ca ClientAdmin) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	var c NewClient
	if err := decodeStrict(b, &c); err != nil {
		return Errorf(http.StatusBadRequest, "bad body: %v", err)
	}
	if c.Name == "" {
		return Errorf(http.StatusBadRequest, `"name" is required`)
	}
	sec, err := ca.AddClient(c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, sec)
}

// allow answers 405 (with an Allow header) unless the request's method is
// one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) error {
	for _, m := range methods {
		if r.Method == m {
			return nil
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	return Errorf(http.StatusMethodNotAllowed, "method not allowed; use %s", strings.Join(methods, " or "))
}

func instances(w http.ResponseWriter, only string) error {
	list := []InstanceSummary{}
	if reg := currentRegistry(); reg != nil {
		for _, name := range reg.Names() {
			if only != "" && name != only {
				continue
			}
			if in := reg.Lookup(name); in != nil {
				list = append(list, in.Summary())
			}
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"instances": list})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// readBody reads a JSON request body.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, Errorf(http.StatusBadRequest, "reading body: %v", err)
	}
	if len(b) > maxBody {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "body is larger than %d bytes", maxBody)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, Errorf(http.StatusBadRequest, "empty body; send JSON")
	}
	return b, nil
}

// decodeStrict decodes exactly one JSON value, refusing unknown fields.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

func addKeys(w http.ResponseWriter, r *http.Request, in Instance) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	var keys []NewKey
	if b[0] == '[' {
		if err := decodeStrict(b, &keys); err != nil {
			return Errorf(http.StatusBadRequest, "bad body: %v", err)
		}
		if len(keys) == 0 {
			return Errorf(http.StatusBadRequest, "bad body: an empty list of keys")
		}
	} else {
		var k NewKey
		if err := decodeStrict(b, &k); err != nil {
			return Errorf(http.StatusBadRequest, "bad body: %v", err)
		}
		keys = []NewKey{k}
	}
	for i, k := range keys {
		if err := k.validate(); err != nil {
			if len(keys) > 1 {
				return Errorf(http.StatusBadRequest, "key %d: %v", i+1, err)
			}
			return Errorf(http.StatusBadRequest, "%v", err)
		}
	}
	ids, err := in.AddKeys(keys)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"ids": ids})
}

// validate checks what can be checked without the configuration.
func (k NewKey) validate() error {
	if k.Upstream == "" {
		return errors.New(`"upstream" is required`)
	}
	if k.Key == "" {
		return errors.New(`"key" is required`)
	}
	if strings.TrimSpace(k.Key) != k.Key || strings.ContainsAny(k.Key, "\r\n") {
		return errors.New(`"key" has surrounding whitespace or a line break`)
	}
	if err := k.checkEgress(); err != nil {
		return err
	}
	return k.Limits.CheckNew()
}

// checkEgress checks the key's own base_url, proxy and headers; its
// errors never show a proxy's password nor a header's value.
func (k NewKey) checkEgress() error {
	if k.BaseURL != "" {
		u, err := url.Parse(k.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return errors.New(`"base_url" must be an absolute http or https URL without query or fragment`)
		}
	}
	if k.Proxy != "" {
		u, err := url.Parse(k.Proxy)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5" && u.Scheme != "socks5h") {
			return errors.New(`"proxy" must be an http, https, socks5 or socks5h URL with a host`)
		}
	}
	seen := make(map[string]bool, len(k.Headers))
	for name, v := range k.Headers {
		if !httpguts.ValidHeaderFieldName(name) {
			return fmt.Errorf(`"headers": invalid header name %q`, name)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return fmt.Errorf(`"headers": header %q has an invalid value`, name)
		}
		c := strings.ToLower(name)
		if seen[c] {
			return fmt.Errorf(`"headers": header %q twice (names are case-insensitive)`, name)
		}
		seen[c] = true
	}
	return nil
}

// MaskURL is a URL (a proxy's, a base URL) as the admin API shows it:
// user and password masked.
func MaskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	if u.User == nil {
		return u.String()
	}
	u.User = nil
	scheme, rest, _ := strings.Cut(u.String(), "://")
	return scheme + "://***@" + rest
}

func patchKey(w http.ResponseWriter, r *http.Request, in Instance, id string) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	patch, err := ParsePatch(b)
	if err != nil {
		return Errorf(http.StatusBadRequest, "bad body: %v", err)
	}
	k, err := in.UpdateKey(id, patch)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}

// ParsePatch reads a PATCH body: an object of the fields to change, where
// null reverts a field to its configured value.
func ParsePatch(b []byte) (KeyPatch, error) {
	var p KeyPatch
	var fields map[string]json.RawMessage
	if err := decodeStrict(b, &fields); err != nil {
		return p, err
	}
	if fields == nil {
		return p, errors.New("want a JSON object")
	}
	for name, raw := range fields {
		d := limits.Lookup(name)
		if isNull(raw) && (d != nil || name == "disabled" || name == "note") {
			p.Revert = append(p.Revert, name)
			continue
		}
		var err error
		switch {
		case name == "disabled":
			err = json.Unmarshal(raw, &p.Disabled)
		case name == "note":
			err = json.Unmarshal(raw, &p.Note)
		case d != nil:
			var v int64
			if v, err = d.ReadJSON(raw); err == nil {
				if err = d.CheckChange(v); err == nil {
					p.Limits.Put(d, v)
				}
			}
		default:
			return p, fmt.Errorf("unknown field %q (want disabled, %s or note)", name, strings.Join(limits.Names(), ", "))
		}
		if err != nil {
			return p, fmt.Errorf("%q: %v", name, err)
		}
	}
	return p, nil
}

// isNull reports whether a JSON value is null.
func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// clip shortens a body for an error message.
func clip(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

func usage(w http.ResponseWriter, r *http.Request, in Instance) error {
	q := UsageQuery{By: r.URL.Query().Get("by")}
	if q.By == "" {
		q.By = "day"
	}
	switch q.By {
	case "day", "hour", "model", "key", "upstream", "client":
	default:
		return Errorf(http.StatusBadRequest, "by must be day, hour, model, key, upstream or client, got %q", q.By)
	}
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return Errorf(http.StatusBadRequest, "days must be a whole number of at least 1, got %q", v)
		}
		q.Days = n
	}
	u, err := in.Usage(q)
	if err != nil {
		return err
	}
	if u.Groups == nil {
		u.Groups = []UsageGroup{}
	}
	return writeJSON(w, http.StatusOK, u)
}

func logs(w http.ResponseWriter, r *http.Request, in Instance) error {
	limit := DefaultLogLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return Errorf(http.StatusBadRequest, "limit must be a whole number of at least 1, got %q", v)
		}
		limit = n
	}
	entries := in.Logs(limit)
	if entries == nil {
		entries = []LogEntry{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"logs": entries})
}

// Interface guards
var (
	_ caddy.Module      = (*API)(nil)
	_ caddy.AdminRouter = (*API)(nil)
)
