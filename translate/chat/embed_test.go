package chat

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestDecodeEmbedRequest(t *testing.T) {
	for _, tc := range []struct {
		body   string
		texts  []string
		tokens [][]int64
		dims   int
		b64    bool
		err    string
	}{
		{body: `{"model":"m","input":"hi"}`, texts: []string{"hi"}},
		{body: `{"model":"m","input":["a","b"],"dimensions":8,"encoding_format":"base64","user":"u"}`, texts: []string{"a", "b"}, dims: 8, b64: true},
		{body: `{"model":"m","input":[1,2,3]}`, tokens: [][]int64{{1, 2, 3}}},
		{body: `{"model":"m","input":[[1],[2,3]]}`, tokens: [][]int64{{1}, {2, 3}}},
		{body: `{"model":"m"}`, err: "`input` is required"},
		{body: `{"model":"m","input":""}`, err: "empty string"},
		{body: `{"model":"m","input":[]}`, err: "empty array"},
		{body: `{"model":"m","input":[1,"a"]}`, err: "mixes token ids"},
		{body: `{"model":"m","input":["a",[1]]}`, err: "mixes strings"},
		{body: `{"model":"m","input":[[1.5]]}`, err: "input[0]"},
		{body: `{"model":"m","input":"a","dimensions":0}`, err: "`dimensions`"},
		{body: `{"model":"m","input":"a","encoding_format":"int8"}`, err: "`encoding_format`"},
		{body: `{"model":"m","input":"a","user":5}`, err: "`user`"},
	} {
		r, err := Format{}.DecodeEmbedRequest([]byte(tc.body), translate.EmbedOptions{})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.body, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		n := max(len(tc.texts), len(tc.tokens))
		if len(r.Inputs) != n || r.Dimensions != tc.dims || r.Base64 != tc.b64 || r.Model != "m" {
			t.Errorf("%s: %+v", tc.body, r)
			continue
		}
		for i := range n {
			if tc.texts != nil && r.Inputs[i].Text != tc.texts[i] || tc.tokens != nil && len(r.Inputs[i].Tokens) != len(tc.tokens[i]) {
				t.Errorf("%s: input %d %+v", tc.body, i, r.Inputs[i])
			}
		}
	}
}

func TestEmbedEncodeAndAnswers(t *testing.T) {
	f := Format{}
	body, err := f.EncodeEmbedRequest(&translate.EmbedRequest{Model: "text-embedding-3-small", User: "me",
		Inputs: []translate.EmbedInput{{Text: "a\"b", Dimensions: 4, TaskType: "CLUSTERING"}, {Text: "c", Dimensions: 4}}})
	if err != nil || string(body) != `{"model":"text-embedding-3-small","input":["a\"b","c"],"encoding_format":"float","dimensions":4,"user":"me"}` {
		t.Errorf("request %s %v", body, err)
	}
	if _, err := f.EncodeEmbedRequest(&translate.EmbedRequest{Inputs: []translate.EmbedInput{{Text: "a", Dimensions: 4}, {Text: "b"}}}); err == nil {
		t.Error("different dimensions accepted")
	}
	if _, err := f.EncodeEmbedRequest(&translate.EmbedRequest{Inputs: []translate.EmbedInput{{Parts: 1}}}); err == nil {
		t.Error("non-text parts accepted")
	}
	// Answers in index order; base64 decoded.
	res, err := f.DecodeEmbedResponse([]byte(`{"object":"list","model":"m","data":[{"index":1,"embedding":"AACAPw=="},{"index":0,"embedding":[0.25, -1]}],"usage":{"prompt_tokens":7,"total_tokens":7}}`))
	if err != nil || len(res.Vectors) != 2 || string(res.Vectors[0]) != `[0.25, -1]` || string(res.Vectors[1]) != `[1]` || res.Usage.Input != 7 {
		t.Fatalf("decoded %+v %v", res, err)
	}
	for _, bad := range []string{`{}`, `{"data":[{"index":0,"embedding":{}}]}`, `{"data":[{"index":3,"embedding":[1]}]}`} {
		if _, err := f.DecodeEmbedResponse([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	out, err := f.EncodeEmbedResponse(res, &translate.EmbedRequest{Base64: true})
	if err != nil || gjson.GetBytes(out, "data.1.embedding").Str != "AACAPw==" || gjson.GetBytes(out, "usage.total_tokens").Int() != 7 ||
		gjson.GetBytes(out, "data.1.index").Int() != 1 || gjson.GetBytes(out, "object").Str != "list" {
		t.Errorf("base64 answer %s %v", out, err)
	}
	out, _ = f.EncodeEmbedResponse(res, &translate.EmbedRequest{})
	if !gjson.ValidBytes(out) || gjson.GetBytes(out, "data.0.embedding").Raw != `[0.25, -1]` {
		t.Errorf("float answer %s", out)
	}
	if u, ok := f.ReadEmbedUsage([]byte(`{"usage":{"total_tokens":5}}`)); !ok || u.Input != 5 {
		t.Errorf("usage %+v %v", u, ok)
	}
	if _, ok := f.ReadEmbedUsage([]byte(`{"data":[]}`)); ok {
		t.Error("usage read from an answer without one")
	}
}

func FuzzEmbed(f *testing.F) {
	f.Add([]byte(`{"model":"m","input":["a","b"],"dimensions":8,"encoding_format":"base64"}`), []byte(`{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":"AACAPw=="}],"usage":{"prompt_tokens":2}}`))
	f.Add([]byte(`{"model":"m","input":[[1,2],[3]]}`), []byte(`{"data":[]}`))
	f.Fuzz(func(t *testing.T, body, answer []byte) {
		fm := Format{}
		if !gjson.ValidBytes(body) {
			return
		}
		r, err := fm.DecodeEmbedRequest(body, translate.EmbedOptions{})
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
