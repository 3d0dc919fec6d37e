package llmproxy

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"golang.org/x/net/http/httpguts"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmproxy/caddy-llm-proxy/gateway"
	"github.com/llmproxy/caddy-llm-proxy/providers"
	"github.com/llmproxy/caddy-llm-proxy/store"
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Validate checks the configuration without changing it. It catches in a
// JSON config (which never went through the Caddyfile parser) everything the
// parser rejects, so both ways of configuring are equally safe. The rules
// live in the small check* and parse* functions below, which the Caddyfile
// parser calls too.
//
// base_url, proxy and header values may hold placeholders such as
// {env.OPENAI_BASE_URL}; they are checked as Provision will expand them, and
// one that expands to "" counts as unset. Key secrets are not expanded here.
//
// A Validate error names the place it is about: `upstream "oai": key 2:
// rpm must be a positive integer, got -1`. Keys are named by their 1-based
// position in the upstream, never by their secret.
//
// Cross-upstream rules: upstream names are unique, and fallbacks name
// models that some upstream serves, without cycles (see checkFallbacks).
// Several upstreams may declare the same alias, or an alias one lists as a
// model: all of them serve the one name.
func (p *Proxy) Validate() error {
	if p.Name != "" {
		if err := checkName("instance", p.Name); err != nil {
			return err
		}
	}
	for i, k := range p.ClientKeys {
		if k == "" {
			return fmt.Errorf("client_keys: key %d is empty", i+1)
		}
	}
	if err := p.validateClients(); err != nil {
		return err
	}
	if p.Storage != nil {
		if err := p.Storage.validate(); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
	}
	if p.Retries != nil {
		if err := checkRetries(int64(*p.Retries)); err != nil {
			return err
		}
	}
	if err := checkDurationValue("timeout", p.Timeout); err != nil {
		return err
	}
	if err := checkDurationValue("probe_interval", p.ProbeInterval); err != nil {
		return err
	}
	if err := checkDurationValue("idle_timeout", p.IdleTimeout); err != nil {
		return err
	}
	if err := checkDurationValue("affinity", p.Affinity); err != nil {
		return err
	}
	if p.Keepalive != nil {
		if err := checkDurationValue("keepalive", *p.Keepalive); err != nil {
			return err
		}
	}
	if p.MaxBody < 0 {
		return fmt.Errorf("max_body must be a positive size, got %d", p.MaxBody)
	}
	if p.MaxAnswer < 0 {
		return fmt.Errorf("max_answer must be a positive size, got %d", p.MaxAnswer)
	}
	if p.LogSize < 0 {
		return fmt.Errorf("log_size must be a positive integer, got %d", p.LogSize)
	}
	if err := checkTimezone(p.Timezone); err != nil {
		return err
	}

	if len(p.Upstreams) == 0 {
		return errNoUpstream
	}
	names := make(map[string]bool, len(p.Upstreams))
	for i, u := range p.Upstreams {
		if u == nil {
			return fmt.Errorf("upstream %d: must not be null", i+1)
		}
		if u.Name == "" {
			return fmt.Errorf("upstream %d: name is required", i+1)
		}
		if err := checkName("upstream", u.Name); err != nil {
			return err
		}
		if names[u.Name] {
			return fmt.Errorf("duplicate upstream name %q", u.Name)
		}
		names[u.Name] = true
		if err := u.validate(); err != nil {
			return fmt.Errorf("upstream %q: %w", u.Name, err)
		}
	}
	for _, model := range sortedKeys(p.Fallbacks) {
		if err := checkFallbackLine(model, p.Fallbacks[model]); err != nil {
			return err
		}
	}
	if _, err := checkFallbacks(p.Fallbacks, p.Upstreams); err != nil {
		return err
	}
	return nil
}

// validate checks the storage settings; the caller says "storage".
func (s *Storage) validate() error {
	if s.Type != "" { // "" is the default, badger
		if err := checkStorageType(s.Type); err != nil {
			return err
		}
	}
	if s.Type != storageRedis && (s.URL != "" || s.Prefix != "" || s.OnError != "") {
		return errors.New("url, prefix and on_error are settings of redis storage")
	}
	switch s.Type {
	case storageMemory:
		if s.Dir != "" {
			return errors.New("a memory store takes no dir")
		}
	case storageRedis:
		if s.Dir != "" {
			return errors.New("a redis store takes no dir")
		}
		if s.URL == "" {
			return errors.New("redis storage needs a url: redis://[user:password@]host[:port][/db] or rediss://...")
		}
		if err := checkExpanded(s.URL, checkRedisURL); err != nil {
			return err
		}
		if err := checkOnError(s.OnError); err != nil {
			return err
		}
	}
	return nil
}

// validate checks one upstream; the caller adds the upstream's name.
func (u *Upstream) validate() error {
	if err := checkProvider(u.Provider); err != nil {
		return err
	}
	if u.BaseURL != "" {
		if err := checkExpanded(u.BaseURL, checkBaseURL); err != nil {
			return err
		}
	}
	if u.Proxy != "" {
		if err := checkExpanded(u.Proxy, checkProxyURL); err != nil {
			return err
		}
	}
	if u.Reasoning != "" {
		if err := checkReasoning(u.Reasoning); err != nil {
			return err
		}
	}
	if u.MaxOutputTokens < 0 {
		return fmt.Errorf("max_output_tokens must be a positive integer, got %d", u.MaxOutputTokens)
	}
	if err := u.Defaults.Check(); err != nil {
		return fmt.Errorf("defaults: %w", err)
	}
	if len(u.Keys) == 0 {
		return errNoKey
	}
	for i, k := range u.Keys {
		if k == nil {
			return fmt.Errorf("key %d: must not be null", i+1)
		}
		if k.Key == "" {
			return fmt.Errorf("key %d: %w", i+1, errEmptySecret)
		}
		if j := sameSecret(u.Keys[:i], k.Key); j > 0 {
			return fmt.Errorf("key %d: same secret as key %d", i+1, j)
		}
		if err := k.Limits.Check(); err != nil {
			return fmt.Errorf("key %d: %w", i+1, err)
		}
		if err := k.validateEgress(); err != nil {
			return fmt.Errorf("key %d: %w", i+1, err)
		}
	}
	for _, m := range u.Models {
		if err := checkModelPattern(m); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(u.Aliases) {
		a := u.Aliases[name]
		if err := checkAlias(name, a.Model); err != nil {
			return err
		}
		if a.Reasoning != "" {
			if err := checkReasoning(a.Reasoning); err != nil {
				return fmt.Errorf("alias %q: %w", name, err)
			}
		}
		if a.MaxOutputTokens < 0 {
			return fmt.Errorf("alias %q: max_output_tokens must be a positive integer, got %d", name, a.MaxOutputTokens)
		}
	}
	return checkHeaders(u.Headers)
}

// validateEgress checks a key's own base_url, proxy and headers.
func (k *Key) validateEgress() error {
	if k.BaseURL != "" {
		if err := checkExpanded(k.BaseURL, checkBaseURL); err != nil {
			return err
		}
	}
	if k.Proxy != "" {
		if err := checkExpanded(k.Proxy, checkProxyURL); err != nil {
			return err
		}
	}
	return checkHeaders(k.Headers)
}

// checkHeaders checks extra headers: names, values once expanded, and no
// name twice.
func checkHeaders(h map[string]string) error {
	for _, name := range sortedKeys(h) {
		if err := checkHeader(name, h[name]); err != nil {
			return err
		}
		if v := expandGlobal(h[name]); !httpguts.ValidHeaderFieldValue(v) {
			return fmt.Errorf("header %q: invalid value after placeholder expansion", name)
		}
	}
	if name := duplicateHeader(h); name != "" {
		return fmt.Errorf("duplicate header %q (header names are case-insensitive)", name)
	}
	return nil
}

// checkFallbackLine checks one fallback line on its own: models to try
// after model, none of them model itself nor named twice.
func checkFallbackLine(model string, next []string) error {
	if strings.TrimSpace(model) == "" {
		return errors.New("fallback: empty model name")
	}
	if len(next) == 0 {
		return fmt.Errorf("fallback %q: at least one model to fall back to is required", model)
	}
	for i, n := range next {
		switch {
		case strings.TrimSpace(n) == "":
			return fmt.Errorf("fallback %q: empty model name", model)
		case n == model:
			return fmt.Errorf("fallback %q: a model cannot fall back to itself", model)
		case slices.Contains(next[:i], n):
			return fmt.Errorf("fallback %q: %q is named twice", model, n)
		}
	}
	return nil
}

// checkFallbacks checks the fallbacks against the upstreams: every model
// named (the one falling back and those it falls back to) is one some
// upstream serves, and following fallbacks never leads back to where it
// started (`fallback a b` with `fallback b a`). It returns the model whose
// fallback line is at fault, for the Caddyfile parser to point at.
func checkFallbacks(fallbacks map[string][]string, ups []*Upstream) (string, error) {
	for _, model := range sortedKeys(fallbacks) {
		for _, m := range append([]string{model}, fallbacks[model]...) {
			if !served(m, ups) {
				return model, fmt.Errorf("fallback %q: no upstream serves the model %q (not an alias, a model listed, or a name a `models` pattern admits)", model, m)
			}
		}
	}
	// A cycle: some model reaches itself by following fallbacks.
	for _, model := range sortedKeys(fallbacks) {
		seen := map[string]bool{}
		todo := slices.Clone(fallbacks[model])
		for len(todo) > 0 {
			m := todo[0]
			todo = todo[1:]
			if m == model {
				return model, fmt.Errorf("fallback %q: following fallbacks leads back to %q (a cycle)", model, model)
			}
			if !seen[m] {
				seen[m] = true
				todo = append(todo, fallbacks[m]...)
			}
		}
	}
	return "", nil
}

// served reports whether a client's model name reaches some upstream, in
// the router's order: an alias or a model listed by name; else, for
// `<upstream>/<model>`, what that upstream takes; else a name some
// `models` pattern admits (any, for an upstream without `models`).
func served(model string, ups []*Upstream) bool {
	for _, u := range ups {
		if u == nil {
			continue
		}
		if _, ok := u.Aliases[model]; ok || slices.Contains(u.Models, model) {
			return true
		}
	}
	if i := strings.IndexByte(model, '/'); i > 0 {
		for _, u := range ups {
			if u != nil && u.Name == model[:i] {
				_, ok := u.Aliases[model[i+1:]]
				return ok || u.admits(model[i+1:])
			}
		}
	}
	for _, u := range ups {
		if u != nil && u.admits(model) {
			return true
		}
	}
	return false
}

// admits reports whether the upstream's `models` let model through (any
// model, without `models`).
func (u *Upstream) admits(model string) bool {
	_, ok := gateway.AdmittedBy(u.Models, model)
	return ok && model != ""
}

// The shared rules. Each returns an error without position; the Caddyfile
// parser wraps it with the file and line, Validate with the upstream name.

const (
	storageBadger = "badger"
	storageMemory = "memory"
	storageRedis  = "redis"
)

var (
	errNoUpstream  = errors.New("at least one upstream is required")
	errNoKey       = errors.New("at least one key is required")
	errEmptySecret = errors.New("empty secret")
)

// checkProvider accepts the names the providers package knows, in
// lowercase, whose wire format this build can write.
func checkProvider(name string) error {
	if p := providers.Lookup(name); p != nil {
		if translate.Provider(p.Format()) == nil {
			return fmt.Errorf("provider %q speaks %q, for which this build has no provider codec", name, p.Format())
		}
		return nil
	}
	if name == "" {
		return fmt.Errorf("provider is required; want %s", orList(providers.Names()))
	}
	return fmt.Errorf("unknown provider %q; want %s", name, orList(providers.Names()))
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// nameRE is what an instance or upstream name may hold: the names appear in
// URL paths of the admin API, in key IDs, in `<upstream>/<model>` routes and
// in the storage directory.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// checkName checks an instance or upstream name (kind says which).
func checkName(kind, name string) error {
	if !nameRE.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("invalid %s name %q: use only letters, digits, '_', '.' and '-'", kind, name)
	}
	return nil
}

// checkStorageType accepts "badger", "memory" and "redis".
func checkStorageType(t string) error {
	switch t {
	case storageBadger, storageMemory, storageRedis:
		return nil
	}
	return fmt.Errorf("unknown storage type %q; want badger, memory or redis", t)
}

// checkRedisURL accepts a redis:// or rediss:// URL with a host; its
// errors never hold the URL's password.
func checkRedisURL(s string) error {
	if _, err := store.RedisOptions(s); err != nil {
		return err
	}
	return nil
}

// checkOnError accepts "", "closed" and "open".
func checkOnError(s string) error {
	switch s {
	case "", "closed", "open":
		return nil
	}
	return fmt.Errorf("on_error must be closed or open, got %q", s)
}

// checkTimezone accepts what time.LoadLocation accepts ("" is UTC).
func checkTimezone(tz string) error {
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Errorf("unknown timezone %q", tz)
	}
	return nil
}

// checkRetries accepts zero and up.
func checkRetries(n int64) error {
	if n < 0 {
		return fmt.Errorf("retries must be a non-negative integer, got %d", n)
	}
	return nil
}

// checkDurationValue rejects a negative duration (zero means unset).
func checkDurationValue(name string, d caddy.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s must be a positive duration, got %s", name, time.Duration(d))
	}
	return nil
}

// checkBaseURL accepts an absolute http or https URL with a host.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("base_url must be an absolute http or https URL, got %s", quoteURL(s, u, err))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("base_url must not have a query or fragment, got %s", quoteURL(s, u, err))
	}
	return nil
}

// hasPlaceholder tells whether s holds a runtime placeholder such as
// {env.X}, which Provision expands. The Caddyfile parser expands nothing, so
// it leaves checking such a value to Validate.
func hasPlaceholder(s string) bool {
	return strings.Contains(s, "{") && strings.Contains(s, "}")
}

// expandGlobal expands the placeholders that Provision expands in base_url,
// proxy and header values (Caddy's global ones: {env.*}, {system.*}, ...)
// into a copy; unknown placeholders are kept.
func expandGlobal(s string) string {
	if !hasPlaceholder(s) {
		return s
	}
	return caddy.NewReplacer().ReplaceKnown(s, "")
}

// checkExpanded runs check on s with its placeholders expanded as Provision
// will expand them. A value that expands to "" counts as unset, as it does
// in Provision (so `proxy {env.EGRESS_PROXY}` is optional). When the
// expansion changed s, the error names the configured value too; a
// placeholder is not a secret, its value may be.
func checkExpanded(s string, check func(string) error) error {
	x := expandGlobal(s)
	if x == "" {
		return nil
	}
	err := check(x)
	if err != nil && x != s {
		return fmt.Errorf("%w (expanded from %q)", err, s)
	}
	return err
}

// proxySchemes are the egress proxy schemes net/http supports.
var proxySchemes = []string{"http", "https", "socks5", "socks5h"}

// checkProxyURL accepts an http, https, socks5 or socks5h URL with a host.
func checkProxyURL(s string) error {
	u, err := url.Parse(s)
	ok := err == nil && u.Host != ""
	if ok {
		ok = false
		for _, sc := range proxySchemes {
			ok = ok || u.Scheme == sc
		}
	}
	if !ok {
		return fmt.Errorf("proxy must be an http, https or socks5 URL, got %s", quoteURL(s, u, err))
	}
	return nil
}

// quoteURL quotes a URL for an error message with any password masked.
// A URL that does not parse is not shown, since it may hold a password.
func quoteURL(s string, u *url.URL, err error) string {
	if err != nil {
		return "an unparsable URL"
	}
	if u.User != nil {
		s = u.Redacted()
	}
	return strconv.Quote(s)
}

// reasoningLevels are the named reasoning settings.
var reasoningLevels = []string{"auto", "off", "minimal", "low", "medium", "high"}

// checkReasoning accepts a named level or a positive token budget.
func checkReasoning(s string) error {
	for _, l := range reasoningLevels {
		if s == l {
			return nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 32); err == nil && n > 0 {
		return nil
	}
	return fmt.Errorf("reasoning must be auto, off, minimal, low, medium, high or a positive token budget, got %q", s)
}

// checkModelPattern rejects an empty model pattern.
func checkModelPattern(m string) error {
	if strings.TrimSpace(m) == "" {
		return errors.New("models: empty pattern")
	}
	return nil
}

// checkAlias rejects an empty alias name or target.
func checkAlias(name, target string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("alias: empty name")
	}
	if strings.TrimSpace(target) == "" {
		return fmt.Errorf("alias %q: empty target model", name)
	}
	return nil
}

// checkHeader checks an extra upstream header. The value is never shown: it
// may be a credential.
func checkHeader(name, value string) error {
	if !httpguts.ValidHeaderFieldName(name) {
		return fmt.Errorf("invalid header name %q", name)
	}
	if !httpguts.ValidHeaderFieldValue(value) {
		return fmt.Errorf("header %q: invalid value", name)
	}
	return nil
}

// duplicateHeader returns a header name that is in h twice when compared
// case-insensitively, or "".
func duplicateHeader(h map[string]string) string {
	seen := make(map[string]bool, len(h))
	for _, name := range sortedKeys(h) {
		c := strings.ToLower(name)
		if seen[c] {
			return name
		}
		seen[c] = true
	}
	return ""
}

// sameSecret returns the 1-based position in keys of a key whose secret is
// secret, or 0. Two equal secrets in one upstream would share a key ID.
func sameSecret(keys []*Key, secret string) int {
	for i, k := range keys {
		if k != nil && k.Key == secret {
			return i + 1
		}
	}
	return 0
}

// parsePositive parses a Caddyfile integer that must be above zero.
func parsePositive(name, s string, bits int) (int64, error) {
	n, err := strconv.ParseInt(s, 10, bits)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s must be a positive integer, got %q", name, s)
	}
	return n, nil
}

// parseDuration parses a Caddyfile duration that must be above zero.
func parseDuration(name, s string) (caddy.Duration, error) {
	d, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s must be a duration like 30s or 2m, got %q", name, s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s must be a positive duration, got %q", name, s)
	}
	return caddy.Duration(d), nil
}

// parseSize parses a Caddyfile size such as 32MiB or 10MB (as Caddy's
// request_body max_size does) that must be above zero.
func parseSize(name, s string) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("%s must be a size like 32MiB or 10MB, got %q", name, s)
	}
	if n == 0 || n > math.MaxInt64 {
		return 0, fmt.Errorf("%s must be a positive size, got %q", name, s)
	}
	return int64(n), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Interface guards
var (
	_ caddy.Validator = (*Proxy)(nil)
)

// checkClientName accepts what gateway.ClientNamePattern does: a client's
// name appears in URLs, metric labels and store keys.
func checkClientName(name string) error {
	if !gateway.ClientNamePattern.MatchString(name) {
		return fmt.Errorf("invalid client name %q: up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// validateClients checks the named clients: valid, unique names; at least
// one secret each ("default" may take client_keys'); no secret written
// twice; limits a client can have, each positive.
func (p *Proxy) validateClients() error {
	names := map[string]bool{}
	secrets := map[string]string{}
	for _, k := range p.ClientKeys {
		secrets[k] = "default"
	}
	for i, c := range p.Clients {
		if c == nil {
			return fmt.Errorf("clients: client %d is null", i+1)
		}
		if err := checkClientName(c.Name); err != nil {
			return fmt.Errorf("clients: %w", err)
		}
		if names[c.Name] {
			return fmt.Errorf("clients: client %q is defined twice", c.Name)
		}
		names[c.Name] = true
		if len(c.Keys) == 0 && (c.Name != "default" || len(p.ClientKeys) == 0) {
			return fmt.Errorf("client %q: needs at least one key", c.Name)
		}
		for j, k := range c.Keys {
			if k == "" {
				return fmt.Errorf("client %q: key %d is empty", c.Name, j+1)
			}
			if other, dup := secrets[k]; dup && (other != c.Name || c.Name != "default") {
				return fmt.Errorf("client %q: key %d is also a secret of client %q", c.Name, j+1, other)
			}
			secrets[k] = c.Name
		}
		for _, m := range c.Models {
			if m == "" {
				return fmt.Errorf("client %q: an empty model pattern", c.Name)
			}
		}
		if err := c.limits().Check(); err != nil {
			return fmt.Errorf("client %q: %w", c.Name, err)
		}
	}
	return nil
}
