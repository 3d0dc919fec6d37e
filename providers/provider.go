// Package providers describes how to reach each upstream API: where its
// endpoints live, how a key is presented, how its model list reads, and how
// it says a key's quota is spent.
package providers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tidwall/gjson"
)

// Provider is one upstream wire format.
type Provider interface {
	// Name is the value of the Caddyfile's `provider` option.
	Name() string
	// DefaultBaseURL is used when an upstream sets no base_url.
	DefaultBaseURL() string
	// Authorize puts the key on an upstream request.
	Authorize(h http.Header, secret string)
	// ModelsURL is the endpoint that lists the upstream's models; it is also
	// the cheap call used to probe a key.
	ModelsURL(base string) string
	// ParseModels reads model names out of a ModelsURL answer.
	ParseModels(body []byte) []string
	// QuotaExhausted reports whether an error answer means the key's quota
	// (not a rate limit) is spent, so the key rests until the day ends.
	QuotaExhausted(status int, body []byte) bool
	// KeyRejected reports whether an answer other than 401/403 says the key
	// itself is bad (Gemini answers an invalid key with 400).
	KeyRejected(status int, body []byte) bool
	// GenerateURL is the generation endpoint for model.
	GenerateURL(base, model string, stream bool) string
	// CountTokensURL is the token-counting endpoint, "" if there is none.
	CountTokensURL(base, model string) string
}

// Lookup returns the provider by name, or nil.
func Lookup(name string) Provider {
	switch name {
	case "openai":
		return OpenAI{}
	case "anthropic":
		return Anthropic{}
	case "gemini":
		return Gemini{}
	}
	return nil
}

// Names lists the known providers, for error messages.
func Names() []string { return []string{"openai", "anthropic", "gemini"} }

// OpenAI is the OpenAI API and every OpenAI-compatible service (OpenRouter,
// DeepSeek, vLLM, Ollama, ...). Its base URL includes the version, e.g.
// https://api.openai.com/v1.
type OpenAI struct{}

func (OpenAI) Name() string           { return "openai" }
func (OpenAI) DefaultBaseURL() string { return "https://api.openai.com/v1" }
func (OpenAI) Authorize(h http.Header, secret string) {
	h.Set("Authorization", "Bearer "+secret)
}
func (OpenAI) ModelsURL(base string) string { return join(base, "/models") }
func (OpenAI) ParseModels(body []byte) []string {
	return collect(body, "data.#.id", "")
}
func (OpenAI) QuotaExhausted(status int, body []byte) bool {
	if status == http.StatusPaymentRequired {
		return true
	}
	// OpenAI answers a spent balance with 429 and code insufficient_quota;
	// that is not a rate limit and retrying soon will not help.
	return status == http.StatusTooManyRequests && errorCodeIs(body, "insufficient_quota")
}

func (OpenAI) KeyRejected(int, []byte) bool { return false }
func (OpenAI) GenerateURL(base, _ string, _ bool) string {
	return join(base, "/chat/completions")
}
func (OpenAI) CountTokensURL(string, string) string { return "" }

// Anthropic is the Anthropic Messages API; its base URL has no version.
type Anthropic struct{}

// AnthropicVersion is sent as the anthropic-version header.
const AnthropicVersion = "2023-06-01"

func (Anthropic) Name() string           { return "anthropic" }
func (Anthropic) DefaultBaseURL() string { return "https://api.anthropic.com" }
func (Anthropic) Authorize(h http.Header, secret string) {
	h.Set("x-api-key", secret)
	if h.Get("anthropic-version") == "" {
		h.Set("anthropic-version", AnthropicVersion)
	}
}
func (Anthropic) ModelsURL(base string) string { return join(base, "/v1/models") }
func (Anthropic) ParseModels(body []byte) []string {
	return collect(body, "data.#.id", "")
}
func (Anthropic) QuotaExhausted(status int, body []byte) bool {
	if status == http.StatusPaymentRequired {
		return true
	}
	// Anthropic reports a spent credit balance as a 400 whose message says so.
	return status == http.StatusBadRequest &&
		strings.Contains(strings.ToLower(gjson.GetBytes(body, "error.message").String()), "credit balance")
}

func (Anthropic) KeyRejected(int, []byte) bool { return false }
func (Anthropic) GenerateURL(base, _ string, _ bool) string {
	return join(base, "/v1/messages")
}
func (Anthropic) CountTokensURL(base, _ string) string {
	return join(base, "/v1/messages/count_tokens")
}

// Gemini is Google's Generative Language API; its base URL has no version.
type Gemini struct{}

func (Gemini) Name() string           { return "gemini" }
func (Gemini) DefaultBaseURL() string { return "https://generativelanguage.googleapis.com" }
func (Gemini) Authorize(h http.Header, secret string) {
	h.Set("x-goog-api-key", secret)
}
func (Gemini) ModelsURL(base string) string { return join(base, "/v1beta/models?pageSize=1000") }
func (Gemini) ParseModels(body []byte) []string {
	return collect(body, "models.#.name", "models/")
}
func (Gemini) QuotaExhausted(status int, body []byte) bool {
	if status == http.StatusPaymentRequired {
		return true
	}
	// Gemini says RESOURCE_EXHAUSTED for both; a daily quota names "PerDay".
	return status == http.StatusTooManyRequests && strings.Contains(string(body), "PerDay")
}

func join(base, path string) string {
	return strings.TrimRight(base, "/") + path
}

func collect(body []byte, path, trim string) []string {
	res := gjson.GetBytes(body, path).Array()
	out := make([]string, 0, len(res))
	for _, r := range res {
		if s := strings.TrimPrefix(r.String(), trim); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func errorCodeIs(body []byte, code string) bool {
	e := gjson.GetBytes(body, "error")
	return e.Get("code").String() == code || e.Get("type").String() == code
}

func (Gemini) KeyRejected(status int, body []byte) bool {
	return status == http.StatusBadRequest &&
		(strings.Contains(string(body), "API_KEY_INVALID") || strings.Contains(string(body), "API key not valid"))
}
func (Gemini) GenerateURL(base, model string, stream bool) string {
	if stream {
		return join(base, "/v1beta/models/"+url.PathEscape(model)+":streamGenerateContent?alt=sse")
	}
	return join(base, "/v1beta/models/"+url.PathEscape(model)+":generateContent")
}
func (Gemini) CountTokensURL(base, model string) string {
	return join(base, "/v1beta/models/"+url.PathEscape(model)+":countTokens")
}
