package fakeupstream

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Embeddings: OpenAI's POST /v1/embeddings and Gemini's
// models/{model}:embedContent and :batchEmbedContents. Vectors are
// EmbeddingOf the input's text, so a test can tell which vector answers
// which input; a token-id input (OpenAI only) is embedded as the text
// TokensText of its ids. Input tokens are bytes/4+1 per text input and
// one per token id; OpenAI reports them in usage, Gemini reports none (as
// the real Generative Language API).

// EmbeddingOf is the fake's embedding of text with dims values: each in
// [-1, 1) and a multiple of 1/128, so it is exact in float32, in JSON and
// in base64.
func EmbeddingOf(text string, dims int) []float32 {
	out := make([]float32, dims)
	var sum [32]byte
	for i := range out {
		if i%32 == 0 {
			sum = sha256.Sum256([]byte(strconv.Itoa(i/32) + "\x00" + text))
		}
		out[i] = float32(int(sum[i%32])-128) / 128
	}
	return out
}

// TokensText is the text a token-id input is embedded as.
func TokensText(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return "tokens:" + strings.Join(s, ",")
}

// isEmbeddingModel: the fakes embed only with embedding models, as the
// real APIs do.
func isEmbeddingModel(m string) bool { return strings.Contains(m, "embedding") }

// openaiEmbedDims is an OpenAI embedding model's native size.
func openaiEmbedDims(model string) int {
	if strings.Contains(model, "3-large") {
		return 3072
	}
	return 1536
}

// OpenAI.

var openaiEmbedFields = map[string]bool{"model": true, "input": true, "encoding_format": true, "dimensions": true, "user": true}

func (s *Server) embeddings(w http.ResponseWriter, r *http.Request, body []byte, b Behavior) {
	root := gjson.ParseBytes(body)
	if !gjson.ValidBytes(body) || !root.IsObject() {
		writeError(w, *badRequest("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "+
			"HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", "", ""))
		return
	}
	var unknown string
	root.ForEach(func(k, _ gjson.Result) bool {
		if !openaiEmbedFields[k.Str] {
			unknown = k.Str
		}
		return unknown == ""
	})
	if unknown != "" {
		writeError(w, *badRequest("Unrecognized request argument supplied: "+unknown, "", ""))
		return
	}
	model := root.Get("model")
	switch {
	case !present(model) || model.Str == "":
		writeError(w, *badRequest("you must provide a model parameter", "", ""))
		return
	case model.Type != gjson.String:
		writeError(w, *errType("model", "a string", model))
		return
	case strings.HasPrefix(model.Str, "unknown"):
		writeError(w, errModelNotFound(model.Str))
		return
	case !isEmbeddingModel(model.Str):
		writeError(w, *badRequest(fmt.Sprintf("The model '%s' does not support embeddings.", model.Str), "model", "invalid_model"))
		return
	}
	texts, tokens, e := openaiEmbedInputs(root.Get("input"))
	if e != nil {
		writeError(w, *e)
		return
	}
	base64Out := false
	if f := root.Get("encoding_format"); present(f) {
		if f.Type != gjson.String || (f.Str != "float" && f.Str != "base64") {
			writeError(w, *errValue("encoding_format", f.String(), "float", "base64"))
			return
		}
		base64Out = f.Str == "base64"
	}
	dims := openaiEmbedDims(model.Str)
	if d := root.Get("dimensions"); present(d) {
		switch {
		case !isInteger(d):
			writeError(w, *errType("dimensions", "an integer", d))
			return
		case strings.Contains(model.Str, "ada-002"):
			writeError(w, *badRequest("This model does not support specifying dimensions.", "", ""))
			return
		case d.Int() < 1 || d.Int() > int64(dims):
			writeError(w, *badRequest(fmt.Sprintf("Invalid value for 'dimensions' = %d. Must be between 1 and %d.", d.Int(), dims), "dimensions", "invalid_value"))
			return
		}
		dims = int(d.Int())
	}
	if u := root.Get("user"); present(u) && u.Type != gjson.String {
		writeError(w, *errType("user", "a string", u))
		return
	}
	data := make([]any, len(texts))
	for i, t := range texts {
		v := EmbeddingOf(t, dims)
		var emb any = v
		if base64Out {
			emb = float32Base64(v)
		}
		data[i] = obj{{"object", "embedding"}, {"index", i}, {"embedding", emb}}
	}
	resp := obj{
		{"object", "list"},
		{"data", data},
		{"model", model.Str},
		{"usage", obj{{"prompt_tokens", tokens}, {"total_tokens", tokens}}},
	}
	s.writeAnswer(w, r, "application/json", indent(jsonBytes(resp), "  "), b)
}

// openaiEmbedInputs checks `input` as OpenAI does and returns the texts to
// embed and their token count.
func openaiEmbedInputs(in gjson.Result) (texts []string, tokens int, e *apiError) {
	invalid := badRequest("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "", "")
	if !present(in) {
		return nil, 0, badRequest("'input' is a required property", "", "")
	}
	if in.Type == gjson.String {
		if in.Str == "" {
			return nil, 0, invalid
		}
		return []string{in.Str}, len(in.Str)/4 + 1, nil
	}
	if !in.IsArray() {
		return nil, 0, invalid
	}
	list := in.Array()
	if len(list) == 0 || len(list) > 2048 {
		return nil, 0, invalid
	}
	if list[0].Type == gjson.Number {
		ids, ok := embedTokenIDs(in)
		if !ok {
			return nil, 0, invalid
		}
		return []string{TokensText(ids)}, len(ids), nil
	}
	for _, e := range list {
		switch {
		case e.Type == gjson.String && e.Str != "":
			texts = append(texts, e.Str)
			tokens += len(e.Str)/4 + 1
		case e.IsArray():
			ids, ok := embedTokenIDs(e)
			if !ok || len(ids) == 0 {
				return nil, 0, invalid
			}
			texts = append(texts, TokensText(ids))
			tokens += len(ids)
		default:
			return nil, 0, invalid
		}
	}
	return texts, tokens, nil
}

func embedTokenIDs(a gjson.Result) ([]int64, bool) {
	var ids []int64
	ok := true
	a.ForEach(func(_, t gjson.Result) bool {
		ok = isInteger(t) && t.Int() >= 0
		ids = append(ids, t.Int())
		return ok
	})
	return ids, ok
}

func float32Base64(v []float32) string {
	b := make([]byte, 0, 4*len(v))
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Gemini.

// gemEmbedDims is a Gemini embedding model's native size.
func gemEmbedDims(model string) int {
	if strings.HasPrefix(model, "gemini-embedding") {
		return 3072
	}
	return 768
}

func (s *Server) gemEmbed(w http.ResponseWriter, r *http.Request, body []byte, b Behavior) {
	model, method, _ := gemSplitPath(r.URL.Path)
	batch := method == "batchEmbedContents"
	msg := gemEmbedRequest
	if batch {
		msg = gemBatchEmbedRequest
	}
	root, e := parseGeminiBody(body, msg)
	if e != nil {
		writeGemError(w, *e)
		return
	}
	if strings.HasPrefix(model, "unknown") || !isEmbeddingModel(model) {
		e := gemNotFound(model)
		e.Message = strings.Replace(e.Message, "generateContent", method, 1)
		writeGemError(w, *e)
		return
	}
	var reqs []gjson.Result
	if batch {
		reqs = asList(gemGet(root, "requests"))
		if len(reqs) == 0 {
			writeGemError(w, *gemInvalid("* BatchEmbedContentsRequest.requests: contents is not specified\n"))
			return
		}
		if len(reqs) > 100 {
			writeGemError(w, *gemInvalid("* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n"))
			return
		}
	} else {
		reqs = []gjson.Result{root}
	}
	values := make([][]float32, len(reqs))
	for i, q := range reqs {
		at := "EmbedContentRequest"
		if batch {
			at = fmt.Sprintf("BatchEmbedContentsRequest.requests[%d]", i)
			m := gemGet(q, "model")
			if !present(m) {
				writeGemError(w, *gemInvalid("* " + at + ".model: model is not specified\n"))
				return
			}
			if gemName(m.Str) != gemName(model) {
				writeGemError(w, *gemInvalid(fmt.Sprintf("* %s.model: the model %q does not match the model of the URL, models/%s\n", at, m.Str, model)))
				return
			}
		}
		text, e := gemEmbedText(q, at)
		if e != nil {
			writeGemError(w, *e)
			return
		}
		dims := gemEmbedDims(model)
		if d := gemGet(q, "outputDimensionality"); present(d) {
			if d.Int() < 1 || d.Int() > int64(dims) {
				writeGemError(w, *gemInvalid(fmt.Sprintf("* %s.output_dimensionality: must be between 1 and %d\n", at, dims)))
				return
			}
			dims = int(d.Int())
		}
		if present(gemGet(q, "title")) && gemGet(q, "taskType").Str != "RETRIEVAL_DOCUMENT" {
			writeGemError(w, *gemInvalid("* " + at + ".title: title is only applicable to task type RETRIEVAL_DOCUMENT\n"))
			return
		}
		values[i] = EmbeddingOf(text, dims)
	}
	if !batch {
		s.writeAnswer(w, r, "application/json; charset=UTF-8", indent(jsonBytes(obj{{"embedding", obj{{"values", values[0]}}}}), "  "), b)
		return
	}
	list := make([]any, len(values))
	for i, v := range values {
		list[i] = obj{{"values", v}}
	}
	s.writeAnswer(w, r, "application/json; charset=UTF-8", indent(jsonBytes(obj{{"embeddings", list}}), "  "), b)
}

// gemEmbedText is the text of one EmbedContentRequest's content: its text
// parts joined by newlines (the proxy's translation of one input is one
// part). The fake embeds text only.
func gemEmbedText(q gjson.Result, at string) (string, *gemError) {
	content := gemGet(q, "content")
	if !present(content) {
		return "", gemInvalid("* " + at + ".content: contents is not specified\n")
	}
	var texts []string
	for _, p := range asList(gemGet(content, "parts")) {
		t := gemGet(p, "text")
		if !present(t) {
			return "", gemInvalid("* " + at + ".content.parts: only text parts can be embedded\n")
		}
		texts = append(texts, t.Str)
	}
	text := strings.Join(texts, "\n")
	if strings.TrimSpace(text) == "" {
		return "", gemInvalid("* " + at + ".content: contents must not be empty\n")
	}
	return text, nil
}
