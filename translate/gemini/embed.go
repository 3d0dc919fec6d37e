package gemini

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Gemini's embeddings: POST models/{model}:embedContent (one content, one
// embedding) and :batchEmbedContents (a list of such requests, each naming
// the model as "models/{model}"). The model is in the URL.

var _ translate.Embedder = Format{}

// DecodeEmbedRequest reads an embedContent body, or a batchEmbedContents
// one when o.Batch. A content's text parts make one input, joined by
// newlines; its other parts are counted, for a Gemini upstream only.
func (Format) DecodeEmbedRequest(body []byte, o translate.EmbedOptions) (*translate.EmbedRequest, error) {
	root, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	r := &translate.EmbedRequest{Model: strings.TrimPrefix(o.Model, "models/"), Batch: o.Batch}
	if !o.Batch {
		in, err := decodeEmbedContent(root, "")
		if err != nil {
			return nil, err
		}
		r.Inputs = []translate.EmbedInput{in}
		return r, nil
	}
	reqs := root.Get("requests")
	if !reqs.IsArray() || len(reqs.Array()) == 0 {
		return nil, &translate.RequestError{Param: "requests", Message: "`requests` is required and must be a non-empty array"}
	}
	reqs.ForEach(func(_, q gjson.Result) bool {
		var in translate.EmbedInput
		in, err = decodeEmbedContent(q, "requests["+strconv.Itoa(len(r.Inputs))+"].")
		r.Inputs = append(r.Inputs, in)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// decodeEmbedContent reads one EmbedContentRequest; at prefixes the field
// names in messages.
func decodeEmbedContent(q gjson.Result, at string) (translate.EmbedInput, error) {
	var in translate.EmbedInput
	bad := func(f, msg string) error {
		return &translate.RequestError{Param: at + f, Message: "`" + at + f + "` " + msg}
	}
	if !q.IsObject() {
		return in, &translate.RequestError{Param: strings.TrimSuffix(at, "."), Message: "`" + strings.TrimSuffix(at, ".") + "` must be an object"}
	}
	content := q.Get("content")
	if !content.IsObject() {
		return in, bad("content", "is required and must be an object")
	}
	parts := content.Get("parts")
	if !parts.IsArray() || len(parts.Array()) == 0 {
		return in, bad("content.parts", "is required and must be a non-empty array")
	}
	var sb strings.Builder
	var perr error
	parts.ForEach(func(_, p gjson.Result) bool {
		if !p.IsObject() {
			perr = bad("content.parts", "must hold objects")
			return false
		}
		t := p.Get("text")
		switch {
		case t.Type == gjson.String:
			if sb.Len() > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(t.Str)
		case t.Exists():
			perr = bad("content.parts", "text must be a string")
		default:
			in.Parts++
		}
		return perr == nil
	})
	if perr != nil {
		return in, perr
	}
	in.Text = sb.String()
	if in.Text == "" && in.Parts == 0 {
		return in, bad("content", "has no text to embed")
	}
	if t := field(q, "taskType", "task_type"); t.Exists() && t.Type != gjson.Null {
		if t.Type != gjson.String {
			return in, bad("taskType", "must be a string")
		}
		in.TaskType = t.Str
	}
	if t := q.Get("title"); t.Exists() && t.Type != gjson.Null {
		if t.Type != gjson.String {
			return in, bad("title", "must be a string")
		}
		in.Title = t.Str
	}
	if d := field(q, "outputDimensionality", "output_dimensionality"); d.Exists() && d.Type != gjson.Null {
		if d.Type != gjson.Number || d.Num != float64(int(d.Num)) || d.Num < 1 {
			return in, bad("outputDimensionality", "must be a positive integer")
		}
		in.Dimensions = int(d.Num)
	}
	return in, nil
}

// EncodeEmbedResponse renders embedContent's answer, or
// batchEmbedContents's when the client called that.
func (Format) EncodeEmbedResponse(r *translate.EmbedResponse, req *translate.EmbedRequest) ([]byte, error) {
	size := 32
	for _, v := range r.Vectors {
		size += 16 + len(v)
	}
	b := make([]byte, 0, size)
	if !req.Batch {
		if len(r.Vectors) != 1 {
			return nil, translate.Errorf("embedContent takes one embedding; the answer has %d", len(r.Vectors))
		}
		b = append(b, `{"embedding":{"values":`...)
		b = append(b, r.Vectors[0]...)
		return append(b, `}}`...), nil
	}
	b = append(b, `{"embeddings":[`...)
	for i, v := range r.Vectors {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"values":`...)
		b = append(b, v...)
		b = append(b, '}')
	}
	return append(b, `]}`...), nil
}

// MaxEmbedBatch is the most requests Gemini takes in one
// batchEmbedContents call.
const MaxEmbedBatch = 100

// CheckEmbed refuses token ids (Gemini embeds text only, and its tokenizer
// is not OpenAI's) and more inputs than one batch takes.
func (Format) CheckEmbed(r *translate.EmbedRequest) error {
	if len(r.Inputs) > MaxEmbedBatch {
		return &translate.RequestError{Param: "input", Message: "a Gemini upstream embeds at most " + strconv.Itoa(MaxEmbedBatch) +
			" inputs in one request; this one has " + strconv.Itoa(len(r.Inputs))}
	}
	for i := range r.Inputs {
		if r.Inputs[i].Tokens != nil {
			return &translate.RequestError{Param: "input", Message: "a Gemini upstream cannot embed token ids; send the text instead"}
		}
	}
	return nil
}

// EncodeEmbedRequest renders a batchEmbedContents body, which takes one
// input or many: a translated request always goes to that endpoint.
func (f Format) EncodeEmbedRequest(r *translate.EmbedRequest) ([]byte, error) {
	if err := f.CheckEmbed(r); err != nil {
		return nil, err
	}
	name := "models/" + r.Model
	b := make([]byte, 0, 32+len(r.Inputs)*(64+len(name)))
	b = append(b, `{"requests":[`...)
	for i := range r.Inputs {
		in := &r.Inputs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"model":`...)
		b = translate.AppendJSONString(b, name)
		b = append(b, `,"content":{"parts":[{"text":`...)
		b = translate.AppendJSONString(b, in.Text)
		b = append(b, `}]}`...)
		if in.TaskType != "" {
			b = append(b, `,"taskType":`...)
			b = translate.AppendJSONString(b, in.TaskType)
		}
		if in.Title != "" {
			b = append(b, `,"title":`...)
			b = translate.AppendJSONString(b, in.Title)
		}
		dims := in.Dimensions
		if dims == 0 {
			dims = r.Dimensions
		}
		if dims > 0 {
			b = append(b, `,"outputDimensionality":`...)
			b = strconv.AppendInt(b, int64(dims), 10)
		}
		b = append(b, '}')
	}
	return append(b, `]}`...), nil
}

// DecodeEmbedResponse reads embedContent's or batchEmbedContents's answer.
func (Format) DecodeEmbedResponse(body []byte) (*translate.EmbedResponse, error) {
	root := gjson.ParseBytes(body)
	r := &translate.EmbedResponse{}
	var list []gjson.Result
	if one := root.Get("embedding"); one.Exists() {
		list = []gjson.Result{one}
	} else if many := root.Get("embeddings"); many.IsArray() {
		list = many.Array()
	} else {
		return nil, translate.Errorf("the answer has no embeddings")
	}
	r.Vectors = make([][]byte, len(list))
	for i, e := range list {
		v := e.Get("values")
		if !translate.IsNumberArray(v) {
			return nil, translate.Errorf("embedding %d has no array of values", i)
		}
		r.Vectors[i] = []byte(v.Raw)
	}
	r.Usage, _ = readEmbedUsage(root)
	return r, nil
}

// SetEmbedModel names model in a batch's requests (and in an
// embedContent body that names one): the URL carries it too, and Gemini
// wants the two to agree.
func (Format) SetEmbedModel(body []byte, model string) ([]byte, error) {
	name := "models/" + model
	var err error
	if gjson.GetBytes(body, "model").Exists() {
		if body, err = sjson.SetBytes(body, "model", name); err != nil {
			return nil, err
		}
	}
	n := len(gjson.GetBytes(body, "requests").Array())
	for i := range n {
		path := "requests." + strconv.Itoa(i) + ".model"
		if gjson.GetBytes(body, path).Exists() {
			if body, err = sjson.SetBytes(body, path, name); err != nil {
				return nil, err
			}
		}
	}
	return body, nil
}

func (Format) ReadEmbedUsage(body []byte) (translate.Usage, bool) {
	return readEmbedUsage(gjson.ParseBytes(body))
}

// readEmbedUsage reads usageMetadata.promptTokenCount, which the
// Generative Language API does not send for embeddings today (the caller
// then estimates); it is read so that a count, where one comes, is used.
func readEmbedUsage(root gjson.Result) (translate.Usage, bool) {
	n := root.Get("usageMetadata.promptTokenCount")
	return translate.Usage{Input: n.Int()}, n.Type == gjson.Number && n.Int() > 0
}
