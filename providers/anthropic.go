package providers

import (
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
)

// Anthropic is the Anthropic Messages API; its base URL has no version.
type Anthropic struct{}

// AnthropicVersion is sent as the anthropic-version header unless the
// client sent its own.
const AnthropicVersion = "2023-06-01"

func (Anthropic) Name() string           { return "anthropic" }
func (Anthropic) Format() string         { return "anthropic" }
func (Anthropic) DefaultBaseURL() string { return "https://api.anthropic.com" }

func (Anthropic) Authorize(req *http.Request, secret string) {
	req.Header.Set("x-api-key", secret)
	if req.Header.Get("anthropic-version") == "" {
		req.Header.Set("anthropic-version", AnthropicVersion)
	}
}

func (Anthropic) GenerateURL(base, _ string, _ bool) string { return Join(base, "/v1/messages") }
func (Anthropic) CountTokensURL(base, _ string) string {
	return Join(base, "/v1/messages/count_tokens")
}
func (Anthropic) ModelsURL(base string) string     { return Join(base, "/v1/models") }
func (Anthropic) ParseModels(body []byte) []string { return collect(body, "data.#.id", "") }

func (Anthropic) Classify(status int, body []byte) Verdict {
	// Anthropic reports a spent credit balance as a 400 whose message says so.
	if status == http.StatusBadRequest &&
		strings.Contains(strings.ToLower(gjson.GetBytes(body, "error.message").Str), "credit balance") {
		return QuotaSpent
	}
	return ClassifyStatus(status)
}
