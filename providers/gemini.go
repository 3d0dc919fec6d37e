package providers

import (
	"bytes"
	"net/http"
	"net/url"
)

// Gemini is Google's Generative Language API; its base URL has no version.
type Gemini struct{}

func (Gemini) Name() string           { return "gemini" }
func (Gemini) Format() string         { return "gemini" }
func (Gemini) DefaultBaseURL() string { return "https://generativelanguage.googleapis.com" }

func (Gemini) Authorize(req *http.Request, secret string) {
	req.Header.Set("x-goog-api-key", secret)
}

func (Gemini) GenerateURL(base, model string, stream bool) string {
	if stream {
		return Join(base, "/v1beta/models/"+url.PathEscape(model)+":streamGenerateContent?alt=sse")
	}
	return Join(base, "/v1beta/models/"+url.PathEscape(model)+":generateContent")
}

func (Gemini) EmbedFormat() string { return "gemini" }

func (Gemini) EmbedURL(base, model string, batch bool) string {
	if batch {
		return Join(base, "/v1beta/models/"+url.PathEscape(model)+":batchEmbedContents")
	}
	return Join(base, "/v1beta/models/"+url.PathEscape(model)+":embedContent")
}

func (Gemini) CountTokensURL(base, model string) string {
	return Join(base, "/v1beta/models/"+url.PathEscape(model)+":countTokens")
}

func (Gemini) ModelsURL(base string) string     { return Join(base, "/v1beta/models?pageSize=1000") }
func (Gemini) ParseModels(body []byte) []string { return collect(body, "models.#.name", "models/") }

var (
	geminiKeyInvalid  = []byte("API_KEY_INVALID")
	geminiKeyNotValid = []byte("API key not valid")
	geminiPerDay      = []byte("PerDay")
)

func (Gemini) Classify(status int, body []byte) Verdict {
	switch status {
	case http.StatusBadRequest:
		// Gemini answers an invalid key with 400.
		if bytes.Contains(body, geminiKeyInvalid) || bytes.Contains(body, geminiKeyNotValid) {
			return KeyRefused
		}
	case http.StatusTooManyRequests:
		// RESOURCE_EXHAUSTED for both; a daily quota names "PerDay".
		if bytes.Contains(body, geminiPerDay) {
			return QuotaSpent
		}
	}
	return ClassifyStatus(status)
}
