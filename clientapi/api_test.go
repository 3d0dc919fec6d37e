package clientapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRoute(t *testing.T) {
	for _, tc := range []struct {
		method, path, header string
		api                  string
		kind                 Kind
		model                string
		stream, routed       bool
	}{
		{"POST", "/v1/chat/completions", "", "openai-chat", Generate, "", false, true},
		{"POST", "/llm/v1/chat/completions", "", "openai-chat", Generate, "", false, true},
		{"POST", "/v1/responses", "", "openai-responses", Generate, "", false, true},
		{"POST", "/v1/messages", "", "anthropic", Generate, "", false, true},
		{"POST", "/v1/messages/count_tokens", "", "anthropic", Count, "", false, true},
		{"GET", "/v1/models", "", "openai-chat", Models, "", false, true},
		{"GET", "/v1/models", "2023-06-01", "anthropic", Models, "", false, true},
		{"GET", "/v1beta/models", "", "gemini", Models, "", false, true},
		{"POST", "/v1beta/models/gemini-2.5-pro:generateContent", "", "gemini", Generate, "gemini-2.5-pro", false, true},
		{"POST", "/v1beta/models/up/m:streamGenerateContent", "", "gemini", Generate, "up/m", true, true},
		{"POST", "/v1beta/models/m:countTokens", "", "gemini", Count, "m", false, true},
		{"POST", "/v1beta/models/m:unknownMethod", "", "gemini", 0, "", false, false},
		{"POST", "/v1/embeddings", "", "openai-chat", Embed, "", false, true},
		{"POST", "/llm/v1/embeddings", "", "openai-chat", Embed, "", false, true},
		{"POST", "/v1beta/models/text-embedding-004:embedContent", "", "gemini", Embed, "text-embedding-004", false, true},
		{"POST", "/v1beta/models/up/e:batchEmbedContents", "", "gemini", Embed, "up/e", false, true},
		{"POST", "/v1beta/models/:generateContent", "", "gemini", 0, "", false, false},
		{"GET", "/nothing", "", "openai-chat", 0, "", false, false},
		{"GET", "/nothing", "2023-06-01", "anthropic", 0, "", false, false},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.header != "" {
			r.Header.Set("anthropic-version", tc.header)
		}
		a, ep, ok := Route(r)
		batch := strings.HasSuffix(tc.path, ":batchEmbedContents")
		if a.Name() != tc.api || ok != tc.routed || ep.Kind != tc.kind || ep.Model != tc.model || ep.Stream != tc.stream || ep.Batch != batch {
			t.Errorf("%s %s: got %s %+v %v", tc.method, tc.path, a.Name(), ep, ok)
		}
		if ok && Lookup(a.Name()) != a {
			t.Errorf("Lookup(%q) is not the routed API", a.Name())
		}
	}
}

func TestParse(t *testing.T) {
	gen := Endpoint{Kind: Generate, Method: http.MethodPost}
	for _, tc := range []struct {
		api, body string
		ep        Endpoint
		status    int
		want      Fields
	}{
		{"openai-chat", `{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}`, gen, 0, Fields{Model: "m", Stream: true, IncludeUsage: true}},
		{"openai-chat", `{"messages":[]}`, gen, 400, Fields{}},
		{"openai-chat", `{"model":"m","messages":{}}`, gen, 400, Fields{}},
		{"openai-chat", `{"model":"m","messages":[],"stream":"yes"}`, gen, 400, Fields{}},
		{"openai-responses", `{"model":"m","input":"hi"}`, gen, 0, Fields{Model: "m"}},
		{"openai-responses", `{"model":"m"}`, gen, 400, Fields{}},
		{"anthropic", `{"model":"m","max_tokens":5,"messages":[]}`, gen, 0, Fields{Model: "m"}},
		{"anthropic", `{"model":"m","messages":[]}`, gen, 400, Fields{}},
		{"anthropic", `{"model":"m","messages":[]}`, Endpoint{Kind: Count}, 0, Fields{Model: "m"}},
		{"gemini", `{"contents":[]}`, Endpoint{Kind: Generate, Model: "g", Stream: true}, 0, Fields{Model: "g", Stream: true}},
		{"gemini", `{}`, Endpoint{Kind: Generate, Model: "g"}, 400, Fields{}},
		{"gemini", `{}`, Endpoint{Kind: Count, Model: "g"}, 0, Fields{Model: "g"}},
		{"openai-chat", `{"model":"e","input":["a"]}`, Endpoint{Kind: Embed}, 0, Fields{Model: "e"}},
		{"openai-chat", `{"model":"e"}`, Endpoint{Kind: Embed}, 400, Fields{}},
		{"openai-chat", `{"input":"a"}`, Endpoint{Kind: Embed}, 400, Fields{}},
		{"gemini", `{"content":{"parts":[]}}`, Endpoint{Kind: Embed, Model: "e"}, 0, Fields{Model: "e"}},
		{"gemini", `{"requests":[]}`, Endpoint{Kind: Embed, Model: "e"}, 400, Fields{}},
		{"gemini", `{"requests":[]}`, Endpoint{Kind: Embed, Model: "e", Batch: true}, 0, Fields{Model: "e"}},
		{"gemini", `{"content":{}}`, Endpoint{Kind: Embed, Model: "e", Batch: true}, 400, Fields{}},
		{"gemini", `{"content":{}}`, Endpoint{Kind: Embed}, 404, Fields{}},
	} {
		f, err := Lookup(tc.api).Parse([]byte(tc.body), tc.ep)
		switch {
		case tc.status != 0 && (err == nil || err.Status != tc.status):
			t.Errorf("%s %s: want %d, got %v", tc.api, tc.body, tc.status, err)
		case tc.status == 0 && err != nil:
			t.Errorf("%s %s: %v", tc.api, tc.body, err)
		case tc.status == 0 && f != tc.want:
			t.Errorf("%s %s: got %+v, want %+v", tc.api, tc.body, f, tc.want)
		}
	}
}

func TestCountAnswersAndModelLists(t *testing.T) {
	if got := string(Anthropic{}.CountAnswer(12)); got != `{"input_tokens":12}` {
		t.Error(got)
	}
	if got := string(Gemini{}.CountAnswer(12)); got != `{"totalTokens":12}` {
		t.Error(got)
	}
	models := []ModelEntry{{ID: "a", Upstream: "u"}, {ID: "b", Upstream: "v"}}
	for api, want := range map[string]string{
		"openai-chat": `{"object":"list","data":[{"id":"a","object":"model","created":0,"owned_by":"u"},{"id":"b","object":"model","created":0,"owned_by":"v"}]}`,
		"anthropic":   `{"data":[{"type":"model","id":"a","display_name":"a","created_at":"1970-01-01T00:00:00Z"},{"type":"model","id":"b","display_name":"b","created_at":"1970-01-01T00:00:00Z"}],"has_more":false,"first_id":"a","last_id":"b"}`,
		"gemini":      `{"models":[{"name":"models/a","baseModelId":"a","displayName":"a","supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"]},{"name":"models/b","baseModelId":"b","displayName":"b","supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"]}]}`,
	} {
		if got := string(Lookup(api).ModelList(models)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", api, got, want)
		}
	}
}
