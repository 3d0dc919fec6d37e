package providers

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestVerdicts(t *testing.T) {
	for _, tc := range []struct {
		provider string
		status   int
		body     string
		want     Verdict
	}{
		{"openai", 400, `{"error":{"message":"bad"}}`, Fault},
		{"openai", 401, `{}`, KeyRefused},
		{"openai", 403, `{}`, KeyRefused},
		{"openai", 402, `{}`, QuotaSpent},
		{"openai", 429, `{"error":{"code":"rate_limit_exceeded"}}`, RateLimited},
		{"openai", 429, `{"error":{"code":"insufficient_quota"}}`, QuotaSpent},
		{"openai", 429, `{"error":{"type":"insufficient_quota"}}`, QuotaSpent},
		{"openai", 408, `{}`, Failed},
		{"openai", 500, `{}`, Failed},
		{"openai", 404, `{}`, Fault},
		{"anthropic", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}`, QuotaSpent},
		{"anthropic", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}}`, Fault},
		{"anthropic", 529, `{}`, Failed},
		{"anthropic", 429, `{}`, RateLimited},
		{"gemini", 400, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}`, KeyRefused},
		{"gemini", 400, `{"error":{"code":400,"message":"contents is required","status":"INVALID_ARGUMENT"}}`, Fault},
		{"gemini", 429, `{"error":{"details":[{"violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel"}]}]}}`, QuotaSpent},
		{"gemini", 429, `{"error":{"details":[{"violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel"}]}]}}`, RateLimited},
		{"openai_responses", 400, `{"error":{"message":"No tool call found for function call output with call_id call_1.","type":"invalid_request_error","param":"input","code":null}}`, Fault},
		{"openai_responses", 401, `{"error":{"code":"invalid_api_key"}}`, KeyRefused},
		{"openai_responses", 404, `{"error":{"message":"Previous response with id 'resp_1' not found.","code":"previous_response_not_found"}}`, Fault},
		{"openai_responses", 429, `{"error":{"code":"rate_limit_exceeded"}}`, RateLimited},
		{"openai_responses", 429, `{"error":{"code":"insufficient_quota"}}`, QuotaSpent},
		{"openai_responses", 500, `{}`, Failed},
	} {
		p := Lookup(tc.provider)
		if got := p.Classify(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("%s %d %s: got verdict %d, want %d", tc.provider, tc.status, tc.body, got, tc.want)
		}
		if got := p.Classify(tc.status, []byte(tc.body)).Retryable(); got != (tc.want != Fault) {
			t.Errorf("%s %d: Retryable() = %v", tc.provider, tc.status, got)
		}
	}
}

func TestAuthorizeOnTheWholeRequest(t *testing.T) {
	for name, check := range map[string]func(h http.Header) bool{
		"openai":           func(h http.Header) bool { return h.Get("Authorization") == "Bearer sk-test" },
		"openai_responses": func(h http.Header) bool { return h.Get("Authorization") == "Bearer sk-test" },
		"anthropic": func(h http.Header) bool {
			return h.Get("x-api-key") == "sk-test" && h.Get("anthropic-version") == AnthropicVersion
		},
		"gemini": func(h http.Header) bool { return h.Get("x-goog-api-key") == "sk-test" },
	} {
		req := httptest.NewRequest(http.MethodPost, "http://upstream/x", nil)
		Lookup(name).Authorize(req, "sk-test")
		if !check(req.Header) {
			t.Errorf("%s: headers %v", name, req.Header)
		}
	}
	// A client's own anthropic-version is kept.
	req := httptest.NewRequest(http.MethodPost, "http://upstream/x", nil)
	req.Header.Set("anthropic-version", "2099-01-01")
	Anthropic{}.Authorize(req, "k")
	if got := req.Header.Get("anthropic-version"); got != "2099-01-01" {
		t.Errorf("anthropic-version = %q", got)
	}
}

// exampleVendor is what adding an OpenAI-compatible vendor takes: one
// type that embeds OpenAI and says its own name and default URL.
type exampleVendor struct{ OpenAI }

func (exampleVendor) Name() string           { return "example-vendor" }
func (exampleVendor) DefaultBaseURL() string { return "https://api.example-vendor.test/v1" }

func TestAVendorOfAnExistingFormatIsOneType(t *testing.T) {
	Register(exampleVendor{})
	defer Unregister("example-vendor")
	p := Lookup("example-vendor")
	if p == nil || p.Format() != "openai-chat" {
		t.Fatalf("lookup = %v", p)
	}
	if got := p.GenerateURL(p.DefaultBaseURL(), "m", true); got != "https://api.example-vendor.test/v1/chat/completions" {
		t.Errorf("GenerateURL = %q", got)
	}
	found := false
	for _, n := range Names() {
		found = found || n == "example-vendor"
	}
	if !found {
		t.Errorf("Names() = %v", Names())
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a name twice did not panic")
		}
	}()
	Register(exampleVendor{})
}

func TestUnregister(t *testing.T) {
	before := len(Names())
	Register(exampleVendor{})
	Unregister("example-vendor")
	if Lookup("example-vendor") != nil || len(Names()) != before {
		t.Errorf("after Unregister: %v", Names())
	}
}

func TestURLs(t *testing.T) {
	if got := (Gemini{}).GenerateURL("http://g/", "models x", true); got != "http://g/v1beta/models/models%20x:streamGenerateContent?alt=sse" {
		t.Errorf("gemini stream URL %q", got)
	}
	if got := (Anthropic{}).CountTokensURL("http://a", "m"); got != "http://a/v1/messages/count_tokens" {
		t.Errorf("anthropic count URL %q", got)
	}
	if got := (OpenAI{}).CountTokensURL("http://o/v1", "m"); got != "" {
		t.Errorf("openai count URL %q", got)
	}
	r := Lookup("openai_responses")
	if r == nil || r.Format() != "openai-responses" || r.DefaultBaseURL() != "https://api.openai.com/v1" {
		t.Fatalf("openai_responses: %v", r)
	}
	if got := r.GenerateURL("https://api.openai.com/v1/", "gpt-5", true); got != "https://api.openai.com/v1/responses" {
		t.Errorf("openai_responses URL %q", got)
	}
	if r.CountTokensURL("http://o/v1", "m") != "" || r.ModelsURL("http://o/v1") != "http://o/v1/models" {
		t.Errorf("openai_responses count / models URLs")
	}
	if got := r.ParseModels([]byte(`{"object":"list","data":[{"id":"gpt-5"},{"id":"o3"}]}`)); len(got) != 2 || got[0] != "gpt-5" {
		t.Errorf("openai_responses models %v", got)
	}
	if got := (Gemini{}).ParseModels([]byte(`{"models":[{"name":"models/gemini-2.5-pro"},{"name":"models/x"}]}`)); len(got) != 2 || got[0] != "gemini-2.5-pro" {
		t.Errorf("gemini models %v", got)
	}
}

func TestEmbedURLs(t *testing.T) {
	for _, tc := range []struct {
		provider, format, base string
		batch                  bool
		want                   string
	}{
		{"openai", "openai-chat", "https://api.openai.com/v1/", false, "https://api.openai.com/v1/embeddings"},
		{"openai_responses", "openai-chat", "http://vllm:8000/v1", true, "http://vllm:8000/v1/embeddings"},
		{"gemini", "gemini", "https://g", false, "https://g/v1beta/models/text-embedding-004:embedContent"},
		{"gemini", "gemini", "https://g", true, "https://g/v1beta/models/text-embedding-004:batchEmbedContents"},
	} {
		e, ok := Lookup(tc.provider).(Embedding)
		if !ok {
			t.Fatalf("%s has no embeddings", tc.provider)
		}
		if got := e.EmbedURL(tc.base, "text-embedding-004", tc.batch); got != tc.want || e.EmbedFormat() != tc.format {
			t.Errorf("%s: %s (%s), want %s (%s)", tc.provider, got, e.EmbedFormat(), tc.want, tc.format)
		}
	}
	if _, ok := Lookup("anthropic").(Embedding); ok {
		t.Error("Anthropic has no embeddings API")
	}
}
