// Package providers is the room of upstream vendors: where each one's
// endpoints live, how a key is put on a request, how its model list reads,
// and what its failures mean for the key. Which wire format a vendor speaks
// is its Format, a name in the translate registry, so a vendor that speaks
// an existing format (any OpenAI-compatible service) is one small file here.
package providers

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/tidwall/gjson"
)

// Provider is one upstream vendor.
type Provider interface {
	// Name is the value of the Caddyfile's `provider` option.
	Name() string
	// Format is the wire format the vendor speaks: a translate format name.
	Format() string
	// DefaultBaseURL is used when an upstream sets no base_url.
	DefaultBaseURL() string
	// Authorize puts the key on an upstream request. It sees the whole
	// request (method, URL, headers) so that a signing vendor can exist;
	// the body is already set and must not be consumed.
	Authorize(req *http.Request, secret string)
	// GenerateURL is the generation endpoint for model.
	GenerateURL(base, model string, stream bool) string
	// CountTokensURL is the token-counting endpoint, "" if there is none.
	CountTokensURL(base, model string) string
	// ModelsURL lists the upstream's models; it is also the cheap call
	// that probes a key.
	ModelsURL(base string) string
	// ParseModels reads model names out of a ModelsURL answer.
	ParseModels(body []byte) []string
	// Classify says what an answer with status >= 300 means for the key.
	Classify(status int, body []byte) Verdict
}

// Embedding is a provider with an embeddings endpoint (Anthropic has
// none). A vendor embedding OpenAI has OpenAI's.
type Embedding interface {
	// EmbedFormat is the translate format its embeddings endpoint speaks,
	// which may differ from Format (openai_responses embeds as OpenAI).
	EmbedFormat() string
	// EmbedURL is the embeddings endpoint for model; batch asks for the
	// one that takes several inputs, where a vendor has two (Gemini).
	EmbedURL(base, model string, batch bool) string
}

// Verdict is what an upstream's error answer means.
type Verdict uint8

const (
	// Fault is the request's own fault (400, 404, 422...): the client
	// hears it in its own API's shape and the key is fine.
	Fault Verdict = iota
	// KeyRefused: the key itself is refused (401, 403, or the vendor's
	// own way of saying so); it is disabled and re-probed later.
	KeyRefused
	// QuotaSpent: the key's balance or daily quota is spent (402, or the
	// vendor's quota error); it rests until the day ends.
	QuotaSpent
	// RateLimited: 429; the key cools down.
	RateLimited
	// Failed: the upstream failed (5xx, 408); another key may succeed.
	Failed
)

// Retryable reports whether another key may succeed where this one did not.
func (v Verdict) Retryable() bool { return v != Fault }

// ClassifyStatus is the verdict by status alone, which every vendor
// refines with what its error bodies say.
func ClassifyStatus(status int) Verdict {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return KeyRefused
	case status == http.StatusPaymentRequired:
		return QuotaSpent
	case status == http.StatusTooManyRequests:
		return RateLimited
	case status == http.StatusRequestTimeout || status >= 500:
		return Failed
	}
	return Fault
}

// registry holds the providers in the order they are listed in messages:
// the built-in ones first (set before any init runs), then each vendor
// that registers itself from its own file's init.
var registry = struct {
	sync.RWMutex
	list []Provider
}{list: []Provider{OpenAI{}, OpenAIResponses{}, Anthropic{}, Gemini{}}}

// Register makes a provider known under its Name; a vendor's file
// registers it from init. A repeated name panics.
func Register(p Provider) {
	registry.Lock()
	defer registry.Unlock()
	for _, q := range registry.list {
		if q.Name() == p.Name() {
			panic(fmt.Sprintf("providers: %q registered twice", p.Name()))
		}
	}
	registry.list = append(registry.list, p)
}

// Unregister forgets a provider registered with Register (tests use it to
// keep a vendor they made up to themselves).
func Unregister(name string) {
	registry.Lock()
	defer registry.Unlock()
	for i, p := range registry.list {
		if p.Name() == name {
			registry.list = append(registry.list[:i:i], registry.list[i+1:]...)
			return
		}
	}
}

// Lookup returns the provider by name, or nil.
func Lookup(name string) Provider {
	registry.RLock()
	defer registry.RUnlock()
	for _, p := range registry.list {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// Names lists the known providers in registration order, for messages.
func Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, len(registry.list))
	for i, p := range registry.list {
		out[i] = p.Name()
	}
	return out
}

// Join appends path to base without doubling the slash.
func Join(base, path string) string {
	return strings.TrimRight(base, "/") + path
}

// collect reads the strings at a gjson path, trimming a prefix.
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
