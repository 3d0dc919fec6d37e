package llmproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

// Storage selects where counters and key states are kept.
type Storage struct {
	// Type is "badger" (the default: embedded, persisted on disk),
	// "memory" (nothing persisted; for tests and throwaway setups) or
	// "redis" (shared by every Caddy instance using the same Redis and
	// prefix, with limits exact across them).
	Type string `json:"type,omitempty"`

	// Dir is the Badger directory. Default: <caddy data dir>/llm_proxy/<instance>.
	// Placeholders such as {env.X} are expanded at provision time.
	Dir string `json:"dir,omitempty"`

	// URL is the Redis server of type "redis":
	// redis://[user:password@]host[:port][/db], or rediss:// for TLS.
	// Placeholders such as {env.REDIS_URL} are expanded at provision time.
	URL string `json:"url,omitempty"`

	// Prefix goes in front of every Redis key. Default:
	// "llm_proxy:<instance>:". Instances with the same Redis and prefix
	// share their keys' state, keys added through the admin API and usage
	// statistics.
	Prefix string `json:"prefix,omitempty"`

	// OnError is what happens while Redis cannot be reached: "closed" (the
	// default) answers 503 at once; "open" serves without limits and logs
	// a warning every 10 seconds.
	OnError string `json:"on_error,omitempty"`
}

// Limits caps the use of one key (see package limits, which holds the
// one table of limits: their names, parsing, checks and merging). A limit
// that is zero (unset) is unlimited, the weight 1; a negative limit is a
// configuration error.
type Limits = limits.Set

// Key is one upstream credential.
type Key struct {
	// Key is the secret sent to the upstream. Placeholders such as
	// {env.OPENAI_API_KEY} are expanded at provision time; the secret is
	// never logged nor shown unmasked.
	Key string `json:"key"`

	// Limits for this key; each unset field falls back to the upstream's default.
	Limits

	// Note is free text shown in the admin API.
	Note string `json:"note,omitempty"`

	// Disabled keeps the key out of rotation.
	Disabled bool `json:"disabled,omitempty"`

	// BaseURL is this key's own API root, in place of its upstream's.
	BaseURL string `json:"base_url,omitempty"`

	// Proxy is this key's own egress proxy URL (http, https, socks5 or
	// socks5h), in place of its upstream's.
	Proxy string `json:"proxy,omitempty"`

	// Headers are added to this key's requests after its upstream's,
	// replacing those of the same name.
	Headers map[string]string `json:"headers,omitempty"`
}

// Alias is the model an alias leads to in one upstream, and the settings
// that replace the upstream's own for requests through the alias (each
// one unset keeps the upstream's). In JSON an alias without settings is
// just the model's name, as a string.
type Alias struct {
	// Model is the model name the upstream gets.
	Model string `json:"model"`

	// Reasoning replaces the upstream's reasoning (same values).
	Reasoning string `json:"reasoning,omitempty"`

	// SystemPrompt replaces the upstream's system_prompt.
	SystemPrompt string `json:"system_prompt,omitempty"`

	// MaxOutputTokens replaces the upstream's max_output_tokens.
	MaxOutputTokens int `json:"max_output_tokens,omitempty"`
}

// hasSettings reports whether the alias sets anything beyond its model.
func (a Alias) hasSettings() bool {
	return a.Reasoning != "" || a.SystemPrompt != "" || a.MaxOutputTokens != 0
}

// MarshalJSON writes an alias without settings as its model's name, the
// form configs had before aliases took settings.
func (a Alias) MarshalJSON() ([]byte, error) {
	if !a.hasSettings() {
		return json.Marshal(a.Model)
	}
	type plain Alias
	return json.Marshal(plain(a))
}

// UnmarshalJSON reads either form: a model name, or an object.
func (a *Alias) UnmarshalJSON(b []byte) error {
	if s := bytes.TrimSpace(b); len(s) > 0 && s[0] == '"' {
		*a = Alias{}
		return json.Unmarshal(s, &a.Model)
	}
	// Strict, as Caddy reads the rest of the config: a misspelt setting
	// is an error, not a setting silently left out.
	type plain Alias
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*a = Alias(p)
	return nil
}

// Aliases are an upstream's aliases by name.
type Aliases map[string]Alias

// UnmarshalJSON refuses a name given twice, which would otherwise make
// the last one silently win: within one upstream, an alias means one thing.
func (as *Aliases) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil { // null
		*as = nil
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("aliases must be an object of alias names")
	}
	m := make(Aliases)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		if _, dup := m[name]; dup {
			return fmt.Errorf("alias %q is declared twice", name)
		}
		var a Alias
		if err := dec.Decode(&a); err != nil {
			return fmt.Errorf("alias %q: %w", name, err)
		}
		m[name] = a
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	*as = m
	return nil
}

// Upstream is one provider endpoint with its pool of keys.
type Upstream struct {
	// Name identifies the upstream in routes (`<name>/<model>`), logs,
	// metrics and the admin API. Required and unique within the handler.
	Name string `json:"name"`

	// Provider is the wire format the upstream speaks: "openai", "anthropic"
	// or "gemini". Any OpenAI-compatible service uses "openai".
	Provider string `json:"provider"`

	// BaseURL is the API root. Defaults: https://api.openai.com/v1,
	// https://api.anthropic.com, https://generativelanguage.googleapis.com.
	BaseURL string `json:"base_url,omitempty"`

	// Keys is the pool of credentials. At least one is required.
	Keys []*Key `json:"keys,omitempty"`

	// Defaults are the limits applied to every key of this upstream that does
	// not set its own.
	Defaults Limits `json:"defaults,omitzero"`

	// Models lists the model names this upstream serves; `*` globs. Empty
	// means any model.
	Models []string `json:"models,omitempty"`

	// Aliases maps a name clients ask for to the model the upstream gets,
	// with settings of its own: `"fast": "gpt-4o-mini"`, or
	// `"gpt-5-high": {"model": "gpt-5", "reasoning": "high"}`. Several
	// upstreams may declare the same alias; all of them serve it.
	Aliases Aliases `json:"aliases,omitempty"`

	// Priority is the upstream's tier; lower tiers are tried first and a
	// higher tier serves only when no key of a lower tier can. Default: 0.
	Priority int `json:"priority,omitempty"`

	// Headers are added to every request sent to the upstream.
	Headers map[string]string `json:"headers,omitempty"`

	// Proxy is an egress proxy URL (http, https, socks5 or socks5h).
	// Default: HTTPS_PROXY / HTTP_PROXY from the environment (as read when
	// the config loads), except for hosts NO_PROXY lists.
	Proxy string `json:"proxy,omitempty"`

	// Reasoning overrides the client's reasoning wish: "auto" (the default:
	// pass it through), "off", "minimal", "low", "medium", "high", or a
	// thinking budget in tokens.
	Reasoning string `json:"reasoning,omitempty"`

	// SystemPrompt is prepended to the system prompt of every request sent
	// to this upstream.
	SystemPrompt string `json:"system_prompt,omitempty"`

	// MaxOutputTokens caps the output a translated request asks this
	// upstream for. Default: the model family's known limit (a table in
	// package providers), so a client's 128000 never reaches gpt-4o.
	MaxOutputTokens int `json:"max_output_tokens,omitempty"`
}

// Client is one named client: its own secrets, the models it may use and
// its own limits, counted exactly and admitted together with the key's.
type Client struct {
	// Name identifies the client in logs, metrics, usage statistics and
	// the admin API: up to 64 letters, digits, '.', '_' or '-'. Unique
	// within the handler; "default" is the client of client_keys.
	Name string `json:"name"`

	// Keys are the secrets the client presents. Placeholders such as
	// {env.CI_KEY} are expanded at provision time. At least one is
	// required (for "default", client_keys may provide them).
	Keys []string `json:"keys,omitempty"`

	// Models lists the models the client may use; `*` globs. Empty means
	// every model. A request for another model is answered 403.
	Models []string `json:"models,omitempty"`

	// RPM, RPD, TPM, TPD and Concurrency cap the client's own use, as a
	// key's limits cap a key's (weight and interval do not apply). A
	// request over one is answered 429 with Retry-After.
	RPM         int64 `json:"rpm,omitempty"`
	RPD         int64 `json:"rpd,omitempty"`
	TPM         int64 `json:"tpm,omitempty"`
	TPD         int64 `json:"tpd,omitempty"`
	Concurrency int   `json:"concurrency,omitempty"`

	// Note is free text shown in the admin API.
	Note string `json:"note,omitempty"`

	// Disabled refuses every request of the client with 403.
	Disabled bool `json:"disabled,omitempty"`
}

// limits are the client's limits as a limits.Set.
func (c *Client) limits() limits.Set {
	return limits.Set{RPM: c.RPM, RPD: c.RPD, TPM: c.TPM, TPD: c.TPD, Concurrency: c.Concurrency}
}

// clientLimitNames are the limits of the limits table a client may have.
var clientLimitNames = map[string]bool{"rpm": true, "rpd": true, "tpm": true, "tpd": true, "concurrency": true}
