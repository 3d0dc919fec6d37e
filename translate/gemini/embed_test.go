package gemini

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestDecodeEmbedRequest(t *testing.T) {
	f := Format{}
	r, err := f.DecodeEmbedRequest([]byte(`{"content":{"parts":[{"text":"a"},{"inline_data":{"mime_type":"image/png","data":"AA=="}},{"text":"b"}]},"task_type":"CLUSTERING","output_dimensionality":8}`),
		translate.EmbedOptions{Model: "models/e"})
	if err != nil || r.Model != "e" || r.Batch || len(r.Inputs) != 1 {
		t.Fatalf("%+v %v", r, err)
	}
	if in := r.Inputs[0]; in.Text != "a\nb" || in.Parts != 1 || in.TaskType != "CLUSTERING" || in.Dimensions != 8 {
		t.Errorf("input %+v", in)
	}
	r, err = f.DecodeEmbedRequest([]byte(`{"requests":[{"model":"models/e","content":{"parts":[{"text":"x"}]},"title":"T","taskType":"RETRIEVAL_DOCUMENT"},{"model":"models/e","content":{"parts":[{"text":"y"}]}}]}`),
		translate.EmbedOptions{Model: "e", Batch: true})
	if err != nil || !r.Batch || len(r.Inputs) != 2 || r.Inputs[0].Title != "T" || r.Inputs[1].Text != "y" {
		t.Fatalf("batch %+v %v", r, err)
	}
	for _, tc := range []struct {
		body  string
		batch bool
		want  string
	}{
		{`{}`, false, "`content` is required"},
		{`{"content":{"parts":[]}}`, false, "`content.parts`"},
		{`{"content":{"parts":[{"text":5}]}}`, false, "text must be a string"},
		{`{"content":{"parts":[{"text":""}]}}`, false, "no text"},
		{`{"content":{"parts":[{"text":"a"}]},"outputDimensionality":-1}`, false, "positive integer"},
		{`{"requests":[]}`, true, "non-empty array"},
		{`{"requests":[{"content":{"parts":[{"text":"a"}]}},{"content":{}}]}`, true, "`requests[1].content.parts`"},
		{`[1]`, false, "JSON object"},
	} {
		if _, err := f.DecodeEmbedRequest([]byte(tc.body), translate.EmbedOptions{Model: "e", Batch: tc.batch}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.body, err, tc.want)
		}
	}
}

func TestEmbedEncodeAndAnswers(t *testing.T) {
	f := Format{}
	body, err := f.EncodeEmbedRequest(&translate.EmbedRequest{Model: "gemini-embedding-001", Dimensions: 16, User: "dropped",
		Inputs: []translate.EmbedInput{{Text: "one"}, {Text: "two"}}})
	want := `{"requests":[{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"one"}]},"outputDimensionality":16},` +
		`{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"two"}]},"outputDimensionality":16}]}`
	if err != nil || string(body) != want {
		t.Errorf("request\n got %s %v\nwant %s", body, err, want)
	}
	if _, err := f.EncodeEmbedRequest(&translate.EmbedRequest{Inputs: []translate.EmbedInput{{Tokens: []int64{1}}}}); err == nil ||
		!strings.Contains(err.Error(), "token ids") {
		t.Errorf("token ids: %v", err)
	}
	many := &translate.EmbedRequest{Inputs: make([]translate.EmbedInput, MaxEmbedBatch+1)}
	if err := f.CheckEmbed(many); err == nil || !strings.Contains(err.Error(), "at most 100 inputs") {
		t.Errorf("101 inputs: %v", err)
	}
	res, err := f.DecodeEmbedResponse([]byte(`{"embeddings":[{"values":[0.5,1]},{"values":[2]}]}`))
	if err != nil || len(res.Vectors) != 2 || string(res.Vectors[1]) != `[2]` || res.Usage.Input != 0 {
		t.Fatalf("batch answer %+v %v", res, err)
	}
	if one, err := f.DecodeEmbedResponse([]byte(`{"embedding":{"values":[3]}}`)); err != nil || string(one.Vectors[0]) != `[3]` {
		t.Errorf("single answer %+v %v", one, err)
	}
	for _, bad := range []string{`{}`, `{"embeddings":[{"values":"x"}]}`} {
		if _, err := f.DecodeEmbedResponse([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	out, _ := f.EncodeEmbedResponse(res, &translate.EmbedRequest{Batch: true})
	if string(out) != `{"embeddings":[{"values":[0.5,1]},{"values":[2]}]}` {
		t.Errorf("batch %s", out)
	}
	if _, err := f.EncodeEmbedResponse(res, &translate.EmbedRequest{}); err == nil {
		t.Error("two embeddings rendered as embedContent's one")
	}
	res.Vectors = res.Vectors[:1]
	if out, _ = f.EncodeEmbedResponse(res, &translate.EmbedRequest{}); string(out) != `{"embedding":{"values":[0.5,1]}}` {
		t.Errorf("single %s", out)
	}
	// The model is named in each request of a batch.
	b, err := f.SetEmbedModel([]byte(`{"requests":[{"model":"models/alias","content":{}},{"model":"models/alias"}]}`), "real")
	if err != nil || gjson.GetBytes(b, "requests.1.model").Str != "models/real" || gjson.GetBytes(b, "requests.0.model").Str != "models/real" {
		t.Errorf("SetEmbedModel %s %v", b, err)
	}
}

func FuzzEmbed(f *testing.F) {
	f.Add([]byte(`{"requests":[{"model":"models/e","content":{"parts":[{"text":"x"},{"inlineData":{}}]},"outputDimensionality":3}]}`), true,
		[]byte(`{"embeddings":[{"values":[1,2]}]}`))
	f.Add([]byte(`{"content":{"parts":[{"text":"x"}]},"task_type":"CLUSTERING"}`), false, []byte(`{"embedding":{"values":[1e3]}}`))
	f.Fuzz(func(t *testing.T, body []byte, batch bool, answer []byte) {
		fm := Format{}
		if !gjson.ValidBytes(body) {
			return
		}
		r, err := fm.DecodeEmbedRequest(body, translate.EmbedOptions{Model: "e", Batch: batch})
		if err != nil {
			if _, ok := err.(*translate.RequestError); !ok {
				t.Fatalf("non-RequestError: %v", err)
			}
			return
		}
		out, err := fm.EncodeEmbedRequest(r)
		if err == nil && !gjson.ValidBytes(out) {
			t.Fatalf("encoded invalid JSON: %s", out)
		}
		if _, err := fm.SetEmbedModel(body, "x"); err != nil {
			t.Fatalf("SetEmbedModel: %v", err)
		}
		if !gjson.ValidBytes(answer) {
			return
		}
		res, err := fm.DecodeEmbedResponse(answer)
		if err != nil {
			return
		}
		if out, err := fm.EncodeEmbedResponse(res, r); err == nil && !gjson.ValidBytes(out) {
			t.Fatalf("answer encoded as invalid JSON: %s", out)
		}
	})
}
