package fakeupstream

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"
	"google.golang.org/genai"
)

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out
}

func TestOpenAIEmbeddingsSDK(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	ctx := context.Background()
	res, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: openai.EmbeddingModelTextEmbedding3Small,
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha", "beta gamma"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 || res.Model != "text-embedding-3-small" || res.Usage.PromptTokens != int64(len("alpha")/4+1+len("beta gamma")/4+1) {
		t.Fatalf("answer: %+v", res)
	}
	for i, text := range []string{"alpha", "beta gamma"} {
		if res.Data[i].Index != int64(i) || !slices.Equal(res.Data[i].Embedding, f64(EmbeddingOf(text, 1536))) {
			t.Errorf("embedding %d is not EmbeddingOf(%q)", i, text)
		}
	}
	// base64 with dimensions: the SDK decodes it to the same numbers.
	res, err = c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model:          openai.EmbeddingModelTextEmbedding3Large,
		Input:          openai.EmbeddingNewParamsInputUnion{OfString: openai.String("delta")},
		Dimensions:     openai.Int(8),
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.RawJSON(), `"embedding": "`) || !slices.Equal(res.Data[0].Embedding, f64(EmbeddingOf("delta", 8))) {
		t.Errorf("base64 answer: %s", res.RawJSON())
	}
	// Token ids are embedded as their TokensText and counted one each.
	res, err = c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: openai.EmbeddingModelTextEmbedding3Small,
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokenArrays: [][]int64{{1, 2, 3}, {4}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Usage.PromptTokens != 4 || !slices.Equal(res.Data[1].Embedding, f64(EmbeddingOf(TokensText([]int64{4}), 1536))) {
		t.Errorf("token answer: %+v", res.Usage)
	}
}

func TestOpenAIEmbeddingsRefusals(t *testing.T) {
	s := NewOpenAI(t, key)
	for _, tc := range []struct{ body, want string }{
		{`{"model":"text-embedding-3-small"}`, "'input' is a required property"},
		{`{"model":"text-embedding-3-small","input":""}`, "'$.input' is invalid"},
		{`{"model":"text-embedding-3-small","input":[]}`, "'$.input' is invalid"},
		{`{"model":"text-embedding-3-small","input":[1,"a"]}`, "'$.input' is invalid"},
		{`{"model":"text-embedding-3-small","input":{"text":"a"}}`, "'$.input' is invalid"},
		{`{"model":"text-embedding-3-small","input":"a","taskType":"X"}`, "Unrecognized request argument supplied: taskType"},
		{`{"model":"text-embedding-3-small","input":"a","encoding_format":"int8"}`, "Invalid value: 'int8'"},
		{`{"model":"text-embedding-3-small","input":"a","dimensions":"8"}`, "Invalid type for 'dimensions'"},
		{`{"model":"text-embedding-3-small","input":"a","dimensions":5000}`, "Must be between 1 and 1536"},
		{`{"model":"text-embedding-ada-002","input":"a","dimensions":8}`, "does not support specifying dimensions"},
		{`{"model":"gpt-4o","input":"a"}`, "does not support embeddings"},
		{`{"input":"a"}`, "you must provide a model parameter"},
	} {
		req, _ := http.NewRequest("POST", s.URL+"/embeddings", strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 400 || !strings.Contains(gjson.GetBytes(b, "error.message").Str, tc.want) {
			t.Errorf("%s: %d %s, want 400 %q", tc.body, res.StatusCode, b, tc.want)
		}
	}
}

func TestGeminiEmbeddingsSDK(t *testing.T) {
	s := NewGemini(t, gemKey)
	c := newGemClient(t, s, gemKey)
	dims := int32(16)
	res, err := c.Models.EmbedContent(context.Background(), "gemini-embedding-001",
		[]*genai.Content{genai.NewContentFromText("one", genai.RoleUser), genai.NewContentFromText("two", genai.RoleUser)},
		&genai.EmbedContentConfig{OutputDimensionality: &dims, TaskType: "RETRIEVAL_DOCUMENT", Title: "doc"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.LastRequest().Path; got != "/v1beta/models/gemini-embedding-001:batchEmbedContents" {
		t.Errorf("the SDK called %s", got)
	}
	if len(res.Embeddings) != 2 || !slices.Equal(res.Embeddings[1].Values, EmbeddingOf("two", 16)) {
		t.Errorf("answer: %+v", res.Embeddings)
	}
}

func TestGeminiEmbeddingsRefusals(t *testing.T) {
	s := NewGemini(t, gemKey)
	const text = `{"parts":[{"text":"a"}]}`
	for _, tc := range []struct{ method, body, want string }{
		{"text-embedding-004:embedContent", `{"content":` + text + `}`, ""},
		{"text-embedding-004:embedContent", `{}`, "content: contents is not specified"},
		{"text-embedding-004:embedContent", `{"content":{"parts":[{"text":[1,2]}]}}`, "Invalid value at 'content.parts[0].text'"},
		{"text-embedding-004:embedContent", `{"content":` + text + `,"dimensions":8}`, `Unknown name "dimensions"`},
		{"text-embedding-004:embedContent", `{"content":` + text + `,"taskType":"SEARCH"}`, "task_type"},
		{"text-embedding-004:embedContent", `{"content":` + text + `,"title":"t"}`, "only applicable to task type RETRIEVAL_DOCUMENT"},
		{"text-embedding-004:embedContent", `{"content":` + text + `,"outputDimensionality":769}`, "between 1 and 768"},
		{"gemini-2.5-flash:embedContent", `{"content":` + text + `}`, "not supported for embedContent"},
		{"text-embedding-004:batchEmbedContents", `{"requests":[]}`, "contents is not specified"},
		{"text-embedding-004:batchEmbedContents", `{"requests":[{"content":` + text + `}]}`, "model is not specified"},
		{"text-embedding-004:batchEmbedContents", `{"requests":[{"model":"models/other-embedding","content":` + text + `}]}`, "does not match"},
	} {
		res := gemRaw(t, s, tc.method, tc.body)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if tc.want == "" {
			if res.StatusCode != 200 || len(gjson.GetBytes(b, "embedding.values").Array()) != 768 {
				t.Errorf("%s: %d %s", tc.body, res.StatusCode, b)
			}
			continue
		}
		code := 400
		if strings.HasPrefix(tc.method, "gemini-2.5") {
			code = 404
		}
		if res.StatusCode != code || !strings.Contains(gjson.GetBytes(b, "error.message").Str, tc.want) {
			t.Errorf("%s %s: %d %s, want %d %q", tc.method, tc.body, res.StatusCode, b, code, tc.want)
		}
	}
}
