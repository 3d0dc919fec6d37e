package providers

import (
	"net/http"

	"github.com/tidwall/gjson"
)

// OpenAI is the OpenAI API and every OpenAI-compatible service (OpenRouter,
// DeepSeek, vLLM, Ollama, ...) on its Chat Completions endpoint. Its base
// URL includes the version, e.g. https://api.openai.com/v1.
//
// A vendor that speaks this format with its own name or default URL embeds
// OpenAI and overrides Name and DefaultBaseURL (see the README).
type OpenAI struct{}

func (OpenAI) Name() string           { return "openai" }
func (OpenAI) Format() string         { return "openai-chat" }
func (OpenAI) DefaultBaseURL() string { return "https://api.openai.com/v1" }

func (OpenAI) Authorize(req *http.Request, secret string) {
	req.Header.Set("Authorization", "Bearer "+secret)
}

func (OpenAI) GenerateURL(base, _ string, _ bool) string { return Join(base, "/chat/completions") }

// OpenAI's embeddings are POST {base}/embeddings, for both OpenAI kinds.
func (OpenAI) EmbedFormat() string                    { return "openai-chat" }
func (OpenAI) EmbedURL(base, _ string, _ bool) string { return Join(base, "/embeddings") }

func (OpenAI) CountTokensURL(string, string) string { return "" }
func (OpenAI) ModelsURL(base string) string         { return Join(base, "/models") }
func (OpenAI) ParseModels(body []byte) []string     { return collect(body, "data.#.id", "") }

func (OpenAI) Classify(status int, body []byte) Verdict {
	// OpenAI answers a spent balance with 429 and code insufficient_quota:
	// not a rate limit, and retrying soon will not help.
	if status == http.StatusTooManyRequests {
		e := gjson.GetBytes(body, "error")
		if e.Get("code").Str == "insufficient_quota" || e.Get("type").Str == "insufficient_quota" {
			return QuotaSpent
		}
	}
	return ClassifyStatus(status)
}
