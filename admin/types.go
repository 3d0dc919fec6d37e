package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmproxy/caddy-llm-proxy/limits"
	"github.com/llmproxy/caddy-llm-proxy/stats"
)

// Instance is what the admin routes need from one running llm_proxy
// handler. The handler package implements it; this package never imports
// the handler (sub-packages do not import the root), it only sees this
// interface through the Registry.
//
// Methods that fail return an error made with Errorf (a caddy.APIError with
// the status to answer); any other error is answered as a 500.
type Instance interface {
	// Summary is the instance's line in GET /llm_proxy/.
	Summary() InstanceSummary
	// Keys lists every key, Caddyfile keys first, then keys added at
	// runtime, oldest first.
	Keys() []Key
	// Key returns one key (404 if unknown).
	Key(id string) (Key, error)
	// AddKeys adds keys, all or none (400 invalid, 409 already there), and
	// persists them; it answers their ids.
	AddKeys(keys []NewKey) ([]string, error)
	// UpdateKey applies a patch to a key (404 unknown, 400 invalid) and
	// persists it.
	UpdateKey(id string, patch KeyPatch) (Key, error)
	// DeleteKey removes a key added at runtime (404 unknown, 409 a
	// Caddyfile key).
	DeleteKey(id string) error
	// ResetKey zeroes a key's counters and clears its cooldown (404 unknown).
	ResetKey(id string) (Key, error)
	// CheckKeys probes every key against its upstream now.
	CheckKeys(ctx context.Context) []CheckResult
	// Usage groups the usage statistics (400 for an unknown grouping).
	Usage(q UsageQuery) (Usage, error)
	// Logs returns up to limit recent requests, newest first.
	Logs(limit int) []LogEntry
	// Models lists every model a client may ask for, with its targets.
	Models(ctx context.Context) []Model
}

// Registry finds running instances. The handler package installs one with
// SetRegistry in its init; lookups happen at request time, so answers
// follow config reloads.
type Registry interface {
	// Lookup returns the running instance of that name, or nil.
	Lookup(name string) Instance
	// Names lists the running instances' names, sorted.
	Names() []string
}

var registry struct {
	sync.RWMutex
	r Registry
}

// SetRegistry installs the registry the routes read instances from.
func SetRegistry(r Registry) {
	registry.Lock()
	registry.r = r
	registry.Unlock()
}

func currentRegistry() Registry {
	registry.RLock()
	defer registry.RUnlock()
	return registry.r
}

// Errorf makes an error the routes answer with status and Caddy's
// {"error": "..."} body.
func Errorf(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf(format, args...)}
}

// NotFound is the 404 for an unknown key id.
func NotFound(id string) error {
	return Errorf(http.StatusNotFound, "no key with id %q", id)
}

// KeyCounts counts keys by state.
type KeyCounts struct {
	Active    int `json:"active"`
	Cooling   int `json:"cooling"`
	Exhausted int `json:"exhausted"`
	Disabled  int `json:"disabled"`
}

// Add counts one key in state.
func (c *KeyCounts) Add(state string) {
	switch state {
	case "active":
		c.Active++
	case "cooling":
		c.Cooling++
	case "exhausted":
		c.Exhausted++
	case "disabled":
		c.Disabled++
	}
}

// InstanceSummary is one instance in GET /llm_proxy/.
type InstanceSummary struct {
	Name      string    `json:"name"`
	Upstreams int       `json:"upstreams"`
	Keys      KeyCounts `json:"keys"`
}

// KeyUsage is a key's use, as the pool counts it.
type KeyUsage struct {
	Minute      int64 `json:"minute"`
	Day         int64 `json:"day"`
	Total       int64 `json:"total"`
	TokensDay   int64 `json:"tokens_day"`
	TokensTotal int64 `json:"tokens_total"`
	InFlight    int   `json:"in_flight"`
}

// Key is one key as the API shows it. Key holds the masked secret only.
type Key struct {
	ID       string      `json:"id"`
	Upstream string      `json:"upstream"`
	Key      string      `json:"key"`
	Weight   int         `json:"weight"`
	Limits   limits.Caps `json:"limits"` // unset caps left out; durations as strings ("1.5s")
	State    string      `json:"state"`
	Reason   string      `json:"reason"`
	Until    *time.Time  `json:"until"`
	Source   string      `json:"source"`
	Note     string      `json:"note"`
	// BaseURL, Proxy and Headers are the key's own endpoint, egress proxy
	// (any user and password masked) and extra header names (values may
	// be credentials: never shown).
	BaseURL string   `json:"base_url,omitempty"`
	Proxy   string   `json:"proxy,omitempty"`
	Headers []string `json:"headers,omitempty"`
	// Overrides names the settings changed through the API (PATCH), which
	// take precedence over the Caddyfile's.
	Overrides []string `json:"overrides,omitempty"`
	Usage     KeyUsage `json:"usage"`
}

// NewKey is one key of a POST .../keys body: {"upstream", "key", a field
// per limit ("weight", "rpm", ...: see package limits), "note",
// "disabled", "base_url", "proxy", "headers" (an object of names and
// values)}. Unset (absent or null) limits fall back to the upstream's
// defaults; set ones must be at least 1, as in the Caddyfile. A duration
// is a string like "500ms" or "2s". Field names match case-insensitively,
// as encoding/json matches struct fields.
type NewKey struct {
	Upstream string
	Key      string
	Limits   limits.Partial
	Note     string
	Disabled bool
	// BaseURL, Proxy and Headers are the key's own endpoint, egress proxy
	// and extra headers.
	BaseURL string
	Proxy   string
	Headers map[string]string
}

// UnmarshalJSON reads one key of a POST body, refusing unknown fields.
func (k *NewKey) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("want a JSON object for a key, got %s", clip(b))
	}
	if fields == nil { // null
		return nil
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names) // errors and case-folded duplicates are deterministic
	var out NewKey
	for _, name := range names {
		raw := fields[name]
		var err error
		switch lower := strings.ToLower(name); lower {
		case "upstream":
			err = json.Unmarshal(raw, &out.Upstream)
		case "key":
			err = json.Unmarshal(raw, &out.Key)
		case "note":
			err = json.Unmarshal(raw, &out.Note)
		case "disabled":
			err = json.Unmarshal(raw, &out.Disabled)
		case "base_url":
			err = json.Unmarshal(raw, &out.BaseURL)
		case "proxy":
			// Its own message: encoding/json's would not hold the URL,
			// but say so anyway.
			if json.Unmarshal(raw, &out.Proxy) != nil {
				err = errors.New("want a string")
			}
		case "headers":
			err = json.Unmarshal(raw, &out.Headers)
		default:
			d := limits.Lookup(lower)
			if d == nil {
				return fmt.Errorf("unknown field %q", name)
			}
			if isNull(raw) {
				continue
			}
			var v int64
			if v, err = d.ReadJSON(raw); err == nil {
				out.Limits.Put(d, v)
			}
		}
		if err != nil {
			return fmt.Errorf("%q: %v", name, err)
		}
	}
	*k = out
	return nil
}

// KeyPatch is a PATCH .../keys/{id} body: the settings to change. An unset
// field (a nil pointer, a limit not set in Limits) is left as it is. Revert
// names the fields sent as null: they go back to the value of the
// configuration (or of the POST that added the key). For a cap, 0 lifts
// the limit.
type KeyPatch struct {
	Disabled *bool
	Limits   limits.Partial
	Note     *string
	Revert   []string
}

// CheckResult is what probing one key found.
type CheckResult struct {
	ID       string `json:"id"`
	Upstream string `json:"upstream"`
	OK       bool   `json:"ok"`
	// Status is the upstream's HTTP status; 0 when it could not be reached.
	Status int `json:"status"`
	// State is the key's state after the probe.
	State string `json:"state"`
	// Error is what went wrong (secret-free); "" when OK.
	Error string `json:"error"`
}

// UsageQuery selects and groups usage statistics.
type UsageQuery struct {
	// By is day, hour, model (the model the upstream served), key,
	// upstream or client.
	By string
	// Days, when > 0, keeps the last Days calendar days (today included).
	Days int
}

// UsageGroup is the counts of one group.
type UsageGroup struct {
	Group        string `json:"group"`
	Requests     int64  `json:"requests"`
	Successes    int64  `json:"successes"`
	Failures     int64  `json:"failures"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
}

// Usage is the answer of GET .../usage.
type Usage struct {
	By     string       `json:"by"`
	Groups []UsageGroup `json:"groups"`
}

// LogEntry is one request in GET .../logs. The request log is package
// stats' (it records what happened); this package shows its entries as
// they are.
type LogEntry = stats.Entry

// Target is one upstream behind a model name.
type Target struct {
	Upstream string `json:"upstream"`
	Model    string `json:"model"`
	Priority int    `json:"priority"`
}

// Model is one model name a client may ask for. Kind is "alias", "model"
// (a literal name from `models`) or "pattern" (a glob from `models`, or
// "*" for an upstream that lists none; clients ask for names it admits).
type Model struct {
	Model   string   `json:"model"`
	Kind    string   `json:"kind"`
	Targets []Target `json:"targets"`
}

// ClientAdmin is what the clients routes need from an instance that has
// named clients (the handler's instances do); an Instance without it
// answers those routes 404.
type ClientAdmin interface {
	// Clients lists every client: the Caddyfile's first (the client
	// "default" of plain client_key secrets among them), then those made
	// through the API, oldest first.
	Clients() []Client
	// Client returns one client (404 if unknown).
	Client(name string) (Client, error)
	// AddClient makes a client with a new secret, persists it (only the
	// secret's hash) and answers the secret, the one time it is shown (400
	// invalid, 409 the name is taken).
	AddClient(c NewClient) (ClientSecret, error)
	// UpdateClient applies a patch (404 unknown, 400 invalid) and persists
	// it.
	UpdateClient(name string, patch ClientPatch) (Client, error)
	// DeleteClient deletes a client made through the API (404 unknown, 409
	// a Caddyfile client).
	DeleteClient(name string) error
	// RotateClient gives a client made through the API a new secret; the
	// old one stops working at once (404 unknown, 409 a Caddyfile client).
	RotateClient(name string) (ClientSecret, error)
}

// Client is one named client as the API shows it: its secrets masked
// ("llmp-…abcd" for one made through the API, of which only a hash and
// the last 4 characters are kept).
type Client struct {
	Name   string      `json:"name"`
	Keys   []string    `json:"keys"`
	Models []string    `json:"models"` // empty: every model
	Limits limits.Caps `json:"limits"` // rpm, rpd, tpm, tpd, concurrency; unset ones left out
	// State is "active" or "disabled".
	State  string `json:"state"`
	Source string `json:"source"` // "config" or "admin"
	Note   string `json:"note"`
	// Overrides names the settings of a Caddyfile client changed through
	// the API (PATCH), which take precedence over the Caddyfile's.
	Overrides []string   `json:"overrides,omitempty"`
	Created   *time.Time `json:"created,omitempty"`
	Usage     KeyUsage   `json:"usage"`
}

// ClientSecret is the answer that shows a client's new secret, once.
type ClientSecret struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// NewClient is a POST .../clients body: {"name", "models", "rpm", "rpd",
// "tpm", "tpd", "concurrency", "note", "disabled"}.
type NewClient struct {
	Name     string
	Models   []string
	Limits   limits.Partial
	Note     string
	Disabled bool
}

// ClientPatch is a PATCH .../clients/{name} body: the settings to change.
// A nil pointer or a limit not set in Limits is left alone; Revert names
// the fields sent as null (back to the Caddyfile's value, or unset for a
// client made through the API). For a limit, 0 lifts it.
type ClientPatch struct {
	Disabled *bool
	Models   *[]string
	Limits   limits.Partial
	Note     *string
	Revert   []string
}

// ClientLimitNames are the limits a client can have.
var ClientLimitNames = []string{"rpm", "rpd", "tpm", "tpd", "concurrency"}

// clientLimit is the limit of that name if a client can have it.
func clientLimit(name string) *limits.Def {
	for _, n := range ClientLimitNames {
		if n == name {
			return limits.Lookup(n)
		}
	}
	return nil
}

// UnmarshalJSON reads a POST .../clients body, refusing unknown fields.
func (c *NewClient) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return fmt.Errorf("want a JSON object for a client, got %s", clip(b))
	}
	var out NewClient
	for name, raw := range fields {
		var err error
		switch name {
		case "name":
			err = json.Unmarshal(raw, &out.Name)
		case "models":
			err = json.Unmarshal(raw, &out.Models)
		case "note":
			err = json.Unmarshal(raw, &out.Note)
		case "disabled":
			err = json.Unmarshal(raw, &out.Disabled)
		default:
			d := clientLimit(name)
			if d == nil {
				return fmt.Errorf("unknown field %q (want name, models, %s, note or disabled)", name, strings.Join(ClientLimitNames, ", "))
			}
			if isNull(raw) {
				continue
			}
			var v int64
			if v, err = d.ReadJSON(raw); err == nil {
				if err = d.CheckNew(v); err == nil {
					out.Limits.Put(d, v)
				}
			}
		}
		if err != nil {
			return fmt.Errorf("%q: %v", name, err)
		}
	}
	*c = out
	return nil
}

// ParseClientPatch reads a PATCH .../clients/{name} body.
func ParseClientPatch(b []byte) (ClientPatch, error) {
	var p ClientPatch
	var fields map[string]json.RawMessage
	if err := decodeStrict(b, &fields); err != nil {
		return p, err
	}
	if fields == nil {
		return p, fmt.Errorf("want a JSON object")
	}
	for name, raw := range fields {
		d := clientLimit(name)
		known := d != nil || name == "disabled" || name == "note" || name == "models"
		if !known {
			return p, fmt.Errorf("unknown field %q (want disabled, models, %s or note)", name, strings.Join(ClientLimitNames, ", "))
		}
		if isNull(raw) {
			p.Revert = append(p.Revert, name)
			continue
		}
		var err error
		switch name {
		case "disabled":
			err = json.Unmarshal(raw, &p.Disabled)
		case "note":
			err = json.Unmarshal(raw, &p.Note)
		case "models":
			var m []string
			if err = json.Unmarshal(raw, &m); err == nil {
				p.Models = &m
			}
		default:
			var v int64
			if v, err = d.ReadJSON(raw); err == nil {
				if err = d.CheckChange(v); err == nil {
					p.Limits.Put(d, v)
				}
			}
		}
		if err != nil {
			return p, fmt.Errorf("%q: %v", name, err)
		}
	}
	sort.Strings(p.Revert)
	return p, nil
}

// ClientNotFound is the 404 for an unknown client.
func ClientNotFound(name string) error {
	return Errorf(http.StatusNotFound, "no client named %q", name)
}
