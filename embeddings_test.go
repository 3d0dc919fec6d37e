package llmproxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"github.com/llmproxy/caddy-llm-proxy/admin"
	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

const (
	embOAIKey = "sk-embed-oai-0001"
	embGemKey = "AIzaSy-embed-gem-0001"
	embAntKey = "sk-ant-embed-0001"
)

// embedProxy runs an instance with an OpenAI, a Gemini and an Anthropic
// upstream, each serving its own models; extra goes into the Gemini key's
// block (limits).
func embedProxy(t *testing.T, gemLimits string) (name string, oai, gem *fakeupstream.Server) {
	t.Helper()
	oai = fakeupstream.NewOpenAI(t, embOAIKey)
	gem = fakeupstream.NewGemini(t, embGemKey)
	ant := fakeupstream.NewAnthropic(t, embAntKey)
	name = instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key %s
			models text-embedding-3-small text-embedding-3-large gpt-4o
		}
		upstream gem {
			provider gemini
			base_url %s
			key %s {
				%s
			}
			models gemini-embedding-001 text-embedding-004
			alias vectors gemini-embedding-001
		}
		upstream ant {
			provider anthropic
			base_url %s
			key %s
			models claude-sonnet-4-5
		}
	}`, name, oai.URL, embOAIKey, gem.URL, embGemKey, gemLimits, ant.URL, embAntKey))
	return name, oai, gem
}

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out
}

// estimate is the proxy's local count of text inputs (translate.EstimateEmbedTokens).
func estimate(texts ...string) int64 {
	var n int64
	for _, s := range texts {
		n += max(int64((len(s)+3)/4), 1)
	}
	return n
}

func newGenai(t *testing.T) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: "unused", Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: proxyBase},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func postPath(t *testing.T, path, body string) rawResult {
	req, _ := http.NewRequest(http.MethodPost, proxyBase+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func TestEmbeddingsOpenAIClient(t *testing.T) {
	name, oai, gem := embedProxy(t, "")
	client := openaiClient()
	ctx := context.Background()
	texts := []string{"the first text", "a second, longer text to embed", "3"}

	// Same format: passed through, usage as OpenAI counted it.
	res, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
	})
	if err != nil {
		t.Fatal(err)
	}
	last := oai.LastRequest()
	if last.Path != "/v1/embeddings" || gjson.GetBytes(last.Body, "input.#").Int() != 3 {
		t.Errorf("upstream got %s %s", last.Path, last.Body)
	}
	var want int64
	for i, s := range texts {
		want += int64(len(s)/4 + 1)
		if !slices.Equal(res.Data[i].Embedding, float64s(fakeupstream.EmbeddingOf(s, 1536))) {
			t.Errorf("vector %d is not the one of %q", i, s)
		}
	}
	if res.Usage.PromptTokens != want || res.Model != "text-embedding-3-small" {
		t.Errorf("usage %+v model %q, want %d tokens", res.Usage, res.Model, want)
	}
	if st := keyStatus(t, name, "oai", embOAIKey); st.Usage.Total != 1 || st.Usage.TokensTotal != want {
		t.Errorf("key usage %+v, want 1 request and %d tokens", st.Usage, want)
	}

	// base64 passes through too (the SDK decodes it).
	res, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "text-embedding-3-large", Dimensions: openai.Int(32),
		Input:          openai.EmbeddingNewParamsInputUnion{OfString: openai.String("just one")},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
	})
	if err != nil {
		t.Fatal(err)
	}
	if gjson.Get(res.RawJSON(), "data.0.embedding").Type != gjson.String ||
		!slices.Equal(res.Data[0].Embedding, float64s(fakeupstream.EmbeddingOf("just one", 32))) {
		t.Errorf("base64 pass-through: %s", res.RawJSON())
	}

	// Translated to Gemini: several inputs, dimensions, float then base64.
	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
		res, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "gemini-embedding-001", Dimensions: openai.Int(24), EncodingFormat: format,
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: texts},
		})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		last := gem.LastRequest()
		if last.Path != "/v1beta/models/gemini-embedding-001:batchEmbedContents" ||
			gjson.GetBytes(last.Body, "requests.#").Int() != 3 ||
			gjson.GetBytes(last.Body, "requests.1.outputDimensionality").Int() != 24 ||
			gjson.GetBytes(last.Body, "requests.2.model").Str != "models/gemini-embedding-001" {
			t.Errorf("%s: Gemini got %s %s", format, last.Path, last.Body)
		}
		if len(res.Data) != 3 || res.Object != "list" || res.Model != "gemini-embedding-001" {
			t.Fatalf("%s: answer %s", format, res.RawJSON())
		}
		for i, s := range texts {
			if res.Data[i].Index != int64(i) || !slices.Equal(res.Data[i].Embedding, float64s(fakeupstream.EmbeddingOf(s, 24))) {
				t.Errorf("%s: vector %d is not the one of %q", format, i, s)
			}
		}
		isString := gjson.Get(res.RawJSON(), "data.0.embedding").Type == gjson.String
		if isString != (format == openai.EmbeddingNewParamsEncodingFormatBase64) {
			t.Errorf("%s: embedding encoded as %s", format, gjson.Get(res.RawJSON(), "data.0.embedding").Raw[:10])
		}
		// Gemini counts no tokens: the local estimate, never 0.
		if want := estimate(texts...); res.Usage.PromptTokens != want || res.Usage.TotalTokens != want {
			t.Errorf("%s: usage %+v, want the estimate %d", format, res.Usage, want)
		}
	}
	if st := keyStatus(t, name, "gem", embGemKey); st.Usage.Total != 2 || st.Usage.TokensTotal != 2*estimate(texts...) {
		t.Errorf("Gemini key usage %+v", st.Usage)
	}

	// An alias, and the <upstream>/<model> form, reach the model behind them.
	for _, model := range []string{"vectors", "gem/text-embedding-004"} {
		res, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: model, Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")},
		})
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		up := strings.TrimPrefix(model, "gem/")
		if up == "vectors" {
			up = "gemini-embedding-001"
		}
		if res.Model != up || !strings.Contains(gem.LastRequest().Path, "/"+up+":") {
			t.Errorf("%s: model %q, upstream path %s", model, res.Model, gem.LastRequest().Path)
		}
	}
}

func TestEmbeddingsOpenAIClientRefusals(t *testing.T) {
	name, oai, gem := embedProxy(t, "")
	for _, tc := range []struct{ body, want string }{
		{`{"model":"claude-sonnet-4-5","input":"x"}`, "only by upstreams without an embeddings API (anthropic)"},
		{`{"model":"text-embedding-3-small"}`, "`input` is required"},
		{`{"model":"text-embedding-3-small","input":[]}`, "must not be an empty array"},
		{`{"model":"text-embedding-3-small","input":["a",3]}`, "input[1]"},
		{`{"model":"text-embedding-3-small","input":"a","encoding_format":"int8"}`, "encoding_format"},
		{`{"model":"gemini-embedding-001","input":[[1,2,3]]}`, "cannot embed token ids"},
		{`{"model":"gemini-embedding-001","input":"a","dimensions":0}`, "`dimensions` must be a positive integer"},
		{`{"input":"a"}`, "`model` is required"},
		{`{"model":"text-embedding-3-small","input":"a"`, "not valid JSON"},
	} {
		res := postPath(t, "/v1/embeddings", tc.body)
		if res.status != 400 || gjson.Get(res.body, "error.type").Str != "invalid_request_error" ||
			!strings.Contains(gjson.Get(res.body, "error.message").Str, tc.want) {
			t.Errorf("%s: %d %s, want a 400 in OpenAI's shape saying %q", tc.body, res.status, res.body, tc.want)
		}
	}
	if oai.TotalRequests()+gem.TotalRequests() != 0 {
		t.Errorf("refused requests reached upstreams: %d", oai.TotalRequests()+gem.TotalRequests())
	}
	// Token ids go to OpenAI, as they are.
	res := postPath(t, "/v1/embeddings", `{"model":"text-embedding-3-small","input":[[5,6,7]]}`)
	if res.status != 200 || gjson.Get(res.body, "usage.prompt_tokens").Int() != 3 ||
		gjson.GetBytes(oai.LastRequest().Body, "input.0.2").Int() != 7 {
		t.Errorf("token ids: %d %s", res.status, res.body)
	}
	// The upstream's own refusal of a same-format body reaches the client as it is.
	res = postPath(t, "/v1/embeddings", `{"model":"text-embedding-3-small","input":"a","dimensions":5000}`)
	if res.status != 400 || !strings.Contains(gjson.Get(res.body, "error.message").Str, "Must be between 1 and 1536") {
		t.Errorf("upstream refusal: %d %s", res.status, res.body)
	}
	// The log says which requests were embeddings.
	var logs struct{ Logs []admin.LogEntry }
	adminOK(t, 200, "GET", "/llm_proxy/"+name+"/logs?limit=100", nil).decode(t, &logs)
	if len(logs.Logs) == 0 {
		t.Fatal("no log entries")
	}
	for _, e := range logs.Logs {
		if e.API != "openai-chat" || e.Endpoint != "embeddings" {
			t.Errorf("log entry %+v", e)
		}
	}
}

func TestEmbeddingsGeminiClient(t *testing.T) {
	name, oai, gem := embedProxy(t, "")
	c := newGenai(t)
	ctx := context.Background()
	contents := []*genai.Content{genai.NewContentFromText("alpha beta", genai.RoleUser), genai.NewContentFromText("gamma", genai.RoleUser)}
	dims := int32(16)

	// Same format: genai calls batchEmbedContents, passed through.
	res, err := c.Models.EmbedContent(ctx, "gemini-embedding-001", contents,
		&genai.EmbedContentConfig{OutputDimensionality: &dims, TaskType: "RETRIEVAL_DOCUMENT", Title: "doc"})
	if err != nil {
		t.Fatal(err)
	}
	if got := gem.LastRequest(); got.Path != "/v1beta/models/gemini-embedding-001:batchEmbedContents" ||
		gjson.GetBytes(got.Body, "requests.0.title").Str != "doc" {
		t.Errorf("upstream got %s %s", got.Path, got.Body)
	}
	for i, s := range []string{"alpha beta", "gamma"} {
		if !slices.Equal(res.Embeddings[i].Values, fakeupstream.EmbeddingOf(s, 16)) {
			t.Errorf("vector %d is not the one of %q", i, s)
		}
	}
	// The alias is named in each request of the batch as the upstream model
	// (the fake, like Gemini, refuses a model that differs from the URL's).
	if _, err = c.Models.EmbedContent(ctx, "vectors", contents, nil); err != nil {
		t.Fatalf("alias: %v", err)
	}
	if got := gem.LastRequest(); gjson.GetBytes(got.Body, "requests.1.model").Str != "models/gemini-embedding-001" {
		t.Errorf("alias: upstream got %s", got.Body)
	}
	// embedContent, one content.
	raw := postPath(t, "/v1beta/models/text-embedding-004:embedContent", `{"content":{"parts":[{"text":"solo"}]}}`)
	if raw.status != 200 || gjson.Get(raw.body, "embedding.values.#").Int() != 768 {
		t.Errorf("embedContent: %d %s", raw.status, raw.body)
	}
	if st := keyStatus(t, name, "gem", embGemKey); st.Usage.Total != 3 ||
		st.Usage.TokensTotal != 2*estimate("alpha beta", "gamma")+estimate("solo") {
		t.Errorf("Gemini key usage %+v", st.Usage)
	}

	// Translated to OpenAI: the batch, and embedContent.
	res, err = c.Models.EmbedContent(ctx, "text-embedding-3-small", contents, &genai.EmbedContentConfig{OutputDimensionality: &dims})
	if err != nil {
		t.Fatal(err)
	}
	last := oai.LastRequest()
	if last.Path != "/v1/embeddings" || gjson.GetBytes(last.Body, "dimensions").Int() != 16 ||
		gjson.GetBytes(last.Body, "input.1").Str != "gamma" || gjson.GetBytes(last.Body, "encoding_format").Str != "float" {
		t.Errorf("OpenAI got %s %s", last.Path, last.Body)
	}
	for i, s := range []string{"alpha beta", "gamma"} {
		if !slices.Equal(res.Embeddings[i].Values, fakeupstream.EmbeddingOf(s, 16)) {
			t.Errorf("translated vector %d is not the one of %q", i, s)
		}
	}
	raw = postPath(t, "/v1beta/models/text-embedding-3-large:embedContent",
		`{"content":{"parts":[{"text":"two"},{"text":"parts"}]},"outputDimensionality":4}`)
	if raw.status != 200 || gjson.Get(raw.body, "embeddings").Exists() ||
		!slices.Equal(valuesOf(gjson.Get(raw.body, "embedding.values")), fakeupstream.EmbeddingOf("two\nparts", 4)) {
		t.Errorf("embedContent to OpenAI: %d %s", raw.status, raw.body)
	}
	tokens := int64(len("alpha beta")/4+1+len("gamma")/4+1) + int64(len("two\nparts")/4+1)
	if st := keyStatus(t, name, "oai", embOAIKey); st.Usage.Total != 2 || st.Usage.TokensTotal != tokens {
		t.Errorf("OpenAI key usage %+v, want 2 requests and %d tokens", st.Usage, tokens)
	}

	// Refusals, in Gemini's shape.
	_, err = c.Models.EmbedContent(ctx, "claude-sonnet-4-5", contents, nil)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 400 || ae.Status != "INVALID_ARGUMENT" || !strings.Contains(ae.Message, "without an embeddings API") {
		t.Errorf("Anthropic-only model: %v", err)
	}
	for _, tc := range []struct{ path, body, want string }{
		{"text-embedding-004:batchEmbedContents", `{"requests":[]}`, "non-empty array"},
		{"text-embedding-004:batchEmbedContents", `{"content":{"parts":[{"text":"x"}]}}`, "`requests` is required"},
		{"text-embedding-004:embedContent", `{"content":{"parts":[]}}`, "content.parts"},
		{"text-embedding-004:embedContent", `{"content":{"parts":[{"text":"x"}]},"outputDimensionality":"8"}`, "positive integer"},
		{"text-embedding-3-small:embedContent", `{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]}}`, "embeds only text"},
		{"text-embedding-3-small:batchEmbedContents", `{"requests":[{"model":"models/text-embedding-3-small","content":{"parts":[{"text":"a"}]},"outputDimensionality":8},` +
			`{"model":"models/text-embedding-3-small","content":{"parts":[{"text":"b"}]}}]}`, "different outputDimensionality"},
	} {
		res := postPath(t, "/v1beta/models/"+tc.path, tc.body)
		if res.status != 400 || gjson.Get(res.body, "error.status").Str != "INVALID_ARGUMENT" || gjson.Get(res.body, "error.code").Int() != 400 ||
			!strings.Contains(gjson.Get(res.body, "error.message").Str, tc.want) {
			t.Errorf("%s %s: %d %s, want a 400 in Gemini's shape saying %q", tc.path, tc.body, res.status, res.body, tc.want)
		}
	}
	// The upstream's own refusal of a same-format body, as it is.
	res2 := postPath(t, "/v1beta/models/text-embedding-004:embedContent", `{"content":{"parts":[{"text":"x"}]},"title":"t"}`)
	if res2.status != 400 || !strings.Contains(gjson.Get(res2.body, "error.message").Str, "RETRIEVAL_DOCUMENT") {
		t.Errorf("upstream refusal: %d %s", res2.status, res2.body)
	}

	var logs struct{ Logs []admin.LogEntry }
	adminOK(t, 200, "GET", "/llm_proxy/"+name+"/logs?limit=3", nil).decode(t, &logs)
	for _, e := range logs.Logs {
		if e.API != "gemini" || e.Endpoint != "embeddings" {
			t.Errorf("log entry %+v", e)
		}
	}
}

// valuesOf reads a JSON array of numbers.
func valuesOf(arr gjson.Result) []float32 {
	var out []float32
	for _, v := range arr.Array() {
		out = append(out, float32(v.Num))
	}
	return out
}

// TestEmbeddingsCountUnderKeyLimits: embeddings take a request and their
// input tokens from the key's rpm and tpm, and show in the usage
// statistics.
func TestEmbeddingsCountUnderKeyLimits(t *testing.T) {
	name, _, gem := embedProxy(t, "rpm 2\n\t\t\t\ttpm 30")
	long := strings.Repeat("abcd", 25) // 25 tokens by the estimate
	res := postPath(t, "/v1/embeddings", fmt.Sprintf(`{"model":"gemini-embedding-001","input":%q}`, long))
	if res.status != 200 || gjson.Get(res.body, "usage.prompt_tokens").Int() != 25 {
		t.Fatalf("%d %s", res.status, res.body)
	}
	// 25 of 30 tokens used: a request of 6 more does not fit this minute...
	res = postPath(t, "/v1beta/models/gemini-embedding-001:embedContent", `{"content":{"parts":[{"text":"abcdefghijklmnopqrstuvw"}]}}`)
	if res.status != 429 || res.retryAfter == "" || gjson.Get(res.body, "error.status").Str != "RESOURCE_EXHAUSTED" {
		t.Errorf("over tpm: %d %s", res.status, res.body)
	}
	// ...one of 1 does, and then rpm 2 is reached with the next.
	for i := range 2 {
		res = postPath(t, "/v1beta/models/gemini-embedding-001:embedContent", `{"content":{"parts":[{"text":"a"}]}}`)
		if res.status != 200 && i == 0 || i == 1 && res.status != 429 {
			t.Errorf("request %d: %d %s", i, res.status, res.body)
		}
	}
	if gem.TotalRequests() != 2 {
		t.Errorf("Gemini saw %d requests, want 2", gem.TotalRequests())
	}
	var g admin.UsageGroup
	eventually(t, 5*time.Second, "the embeddings in the usage statistics", func() bool {
		var u admin.Usage
		adminOK(t, 200, "GET", "/llm_proxy/"+name+"/usage?by=upstream", nil).decode(t, &u)
		for _, g = range u.Groups {
			if g.Group == "gem" && g.Successes == 2 {
				return true
			}
		}
		return false
	})
	if g.InputTokens != 26 || g.OutputTokens != 0 || g.Failures != 0 {
		t.Errorf("usage %+v", g)
	}
}

// TestEmbeddingsOpenAIResponsesUpstream: an openai_responses upstream's
// base URL serves OpenAI's /embeddings too, in OpenAI's format; an
// Anthropic upstream that admits every model, tried first for generations,
// is passed over.
func TestEmbeddingsOpenAIResponsesUpstream(t *testing.T) {
	up := fakeupstream.NewOpenAI(t, embOAIKey)
	ant := fakeupstream.NewAnthropic(t, embAntKey)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream ant {
			provider anthropic
			base_url %s
			key %s
		}
		upstream resp {
			provider openai_responses
			base_url %s
			key %s
			priority 1
		}
	}`, instanceName(t), ant.URL, embAntKey, up.URL, embOAIKey))
	client := openaiClient()
	res, err := client.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "text-embedding-3-small", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("via responses")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.LastRequest().Path != "/v1/embeddings" || !slices.Equal(res.Data[0].Embedding, float64s(fakeupstream.EmbeddingOf("via responses", 1536))) {
		t.Errorf("upstream got %s", up.LastRequest().Path)
	}
	got, err := newGenai(t).Models.EmbedContent(context.Background(), "text-embedding-3-small",
		[]*genai.Content{genai.NewContentFromText("from gemini", genai.RoleUser)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Embeddings[0].Values, fakeupstream.EmbeddingOf("from gemini", 1536)) {
		t.Error("translated vector differs")
	}
	if ant.TotalRequests() != 0 {
		t.Errorf("the Anthropic upstream got %d embeddings requests", ant.TotalRequests())
	}
}

// TestEmbeddingsRetryOnAnotherKey: an embeddings answer that is no answer
// (invalid JSON, a 503) is retried on another key, same format or not.
func TestEmbeddingsRetryOnAnotherKey(t *testing.T) {
	const bad, good = "AIzaSy-embed-bad-0001", "AIzaSy-embed-good-0001"
	gem := fakeupstream.NewGemini(t, bad, good)
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream gem {
			provider gemini
			base_url %s
			key %s {
				weight 1000
			}
			key %s
		}
	}`, name, gem.URL, bad, good))
	for _, b := range []fakeupstream.Behavior{{InvalidJSON: true}, {Status: 503}, {Truncate: true}} {
		// Failures in a row cool a key down: each case starts afresh.
		adminOK(t, 200, "POST", "/llm_proxy/"+name+"/keys/"+pool.KeyID("gem", bad)+"/reset", nil)
		gem.Reset()
		gem.SetBehavior(bad, b)
		for _, path := range []string{"/v1/embeddings", "/v1beta/models/text-embedding-004:embedContent"} {
			body := `{"model":"text-embedding-004","input":"retry me"}`
			if strings.HasPrefix(path, "/v1beta") {
				body = `{"content":{"parts":[{"text":"retry me"}]}}`
			}
			res := postPath(t, path, body)
			vec := gjson.Get(res.body, "data.0.embedding")
			if !vec.Exists() {
				vec = gjson.Get(res.body, "embedding.values")
			}
			if res.status != 200 || !slices.Equal(valuesOf(vec), fakeupstream.EmbeddingOf("retry me", 768)) {
				t.Errorf("%+v %s: %d %s", b, path, res.status, res.body)
			}
		}
		if gem.Requests(bad) == 0 || gem.Requests(good) != 2 {
			t.Errorf("%+v: bad key %d requests, good key %d", b, gem.Requests(bad), gem.Requests(good))
		}
	}
}
