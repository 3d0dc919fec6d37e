package chat

import (
	"sort"
	"strconv"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// OpenAI's embeddings API, POST /embeddings, lives with the Chat format:
// the same clients, the same providers (and the Responses providers, whose
// base URL serves it too).

var _ translate.Embedder = Format{}

// DecodeEmbedRequest reads an OpenAI embeddings request: `input` is a
// string, an array of strings, an array of token ids (one input) or an
// array of such arrays.
func (Format) DecodeEmbedRequest(body []byte, _ translate.EmbedOptions) (*translate.EmbedRequest, error) {
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, translate.Errorf("request body must be a JSON object")
	}
	r := &translate.EmbedRequest{}
	var err error
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			r.Model = v.Str
		case "input":
			r.Inputs, err = decodeEmbedInput(v)
		case "encoding_format":
			switch {
			case v.Type == gjson.Null:
			case v.Type == gjson.String && (v.Str == "float" || v.Str == "base64"):
				r.Base64 = v.Str == "base64"
			default:
				err = &translate.RequestError{Param: "encoding_format", Message: "`encoding_format` must be \"float\" or \"base64\""}
			}
		case "dimensions":
			switch {
			case v.Type == gjson.Null:
			case v.Type == gjson.Number && v.Num == float64(int(v.Num)) && v.Num >= 1:
				r.Dimensions = int(v.Num)
			default:
				err = &translate.RequestError{Param: "dimensions", Message: "`dimensions` must be a positive integer"}
			}
		case "user":
			if v.Type != gjson.String && v.Type != gjson.Null {
				err = &translate.RequestError{Param: "user", Message: "`user` must be a string"}
			}
			r.User = v.Str
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if r.Inputs == nil {
		return nil, &translate.RequestError{Param: "input", Message: "`input` is required"}
	}
	return r, nil
}

func decodeEmbedInput(v gjson.Result) ([]translate.EmbedInput, error) {
	bad := func(msg string) error { return &translate.RequestError{Param: "input", Message: msg} }
	switch {
	case v.Type == gjson.String:
		if v.Str == "" {
			return nil, bad("`input` must not be an empty string")
		}
		return []translate.EmbedInput{{Text: v.Str}}, nil
	case !v.IsArray():
		return nil, bad("`input` must be a string, an array of strings, an array of token ids or an array of token-id arrays")
	}
	list := v.Array()
	if len(list) == 0 {
		return nil, bad("`input` must not be an empty array")
	}
	if list[0].Type == gjson.Number {
		toks, ok := tokenIDs(v)
		if !ok {
			return nil, bad("`input` mixes token ids with other values")
		}
		return []translate.EmbedInput{{Tokens: toks}}, nil
	}
	out := make([]translate.EmbedInput, len(list))
	for i, e := range list {
		switch {
		case e.Type == gjson.String && e.Str != "":
			out[i].Text = e.Str
		case e.Type == gjson.String:
			return nil, bad("`input[" + strconv.Itoa(i) + "]` must not be an empty string")
		case e.IsArray():
			toks, ok := tokenIDs(e)
			if !ok || len(toks) == 0 {
				return nil, bad("`input[" + strconv.Itoa(i) + "]` must be a non-empty array of token ids")
			}
			out[i].Tokens = toks
		default:
			return nil, bad("`input[" + strconv.Itoa(i) + "]` must be a string or an array of token ids")
		}
		if (out[i].Tokens != nil) != (out[0].Tokens != nil) {
			return nil, bad("`input` mixes strings with token-id arrays")
		}
	}
	return out, nil
}

// tokenIDs reads an array of non-negative integers.
func tokenIDs(v gjson.Result) ([]int64, bool) {
	var toks []int64
	ok := true
	v.ForEach(func(_, t gjson.Result) bool {
		ok = t.Type == gjson.Number && t.Num >= 0 && t.Num == float64(int64(t.Num))
		toks = append(toks, int64(t.Num))
		return ok
	})
	return toks, ok
}

// EncodeEmbedResponse renders an OpenAI embeddings answer, in base64 when
// the client asked for it (little-endian float32, as OpenAI encodes).
func (Format) EncodeEmbedResponse(r *translate.EmbedResponse, req *translate.EmbedRequest) ([]byte, error) {
	size := 128 + len(r.Model)
	for _, v := range r.Vectors {
		size += 48 + len(v)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"object":"list","data":[`...)
	for i, v := range r.Vectors {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		if req.Base64 {
			s, ok := translate.FloatsToBase64(v)
			if !ok {
				return nil, translate.Errorf("embedding %d is not an array of numbers", i)
			}
			b = translate.AppendJSONString(b, s)
		} else {
			b = append(b, v...)
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = translate.AppendJSONString(b, r.Model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, r.Usage.Input, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, r.Usage.Input, 10)
	return append(b, `}}`...), nil
}

// CheckEmbed refuses what OpenAI's embeddings cannot take: content that
// is not text, and Gemini requests asking for different dimensions.
func (Format) CheckEmbed(r *translate.EmbedRequest) error {
	for i := range r.Inputs {
		in := &r.Inputs[i]
		if in.Parts > 0 {
			return &translate.RequestError{Param: "content", Message: "an OpenAI upstream embeds only text; the content has parts that are not text"}
		}
		if in.Dimensions != r.Inputs[0].Dimensions {
			return &translate.RequestError{Param: "outputDimensionality", Message: "the requests ask for different outputDimensionality; an OpenAI upstream takes one for all"}
		}
	}
	return nil
}

// EncodeEmbedRequest renders a request for an OpenAI-kind provider, asking
// for float vectors (the proxy re-encodes for a base64 client).
func (f Format) EncodeEmbedRequest(r *translate.EmbedRequest) ([]byte, error) {
	if err := f.CheckEmbed(r); err != nil {
		return nil, err
	}
	dims := r.Dimensions
	if dims == 0 && len(r.Inputs) > 0 {
		dims = r.Inputs[0].Dimensions
	}
	b := make([]byte, 0, 128+len(r.Model)+embedInputSize(r.Inputs))
	b = append(b, `{"model":`...)
	b = translate.AppendJSONString(b, r.Model)
	b = append(b, `,"input":[`...)
	for i := range r.Inputs {
		in := &r.Inputs[i]
		if i > 0 {
			b = append(b, ',')
		}
		if in.Tokens != nil {
			b = append(b, '[')
			for j, t := range in.Tokens {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, t, 10)
			}
			b = append(b, ']')
		} else {
			b = translate.AppendJSONString(b, in.Text)
		}
	}
	b = append(b, `],"encoding_format":"float"`...)
	if dims > 0 {
		b = append(b, `,"dimensions":`...)
		b = strconv.AppendInt(b, int64(dims), 10)
	}
	if r.User != "" {
		b = append(b, `,"user":`...)
		b = translate.AppendJSONString(b, r.User)
	}
	return append(b, '}'), nil
}

func embedInputSize(in []translate.EmbedInput) int {
	n := 0
	for i := range in {
		n += 4 + len(in[i].Text) + 8*len(in[i].Tokens)
	}
	return n
}

// DecodeEmbedResponse reads an OpenAI embeddings answer, vectors put in
// `index` order, base64 ones turned back into numbers.
func (Format) DecodeEmbedResponse(body []byte) (*translate.EmbedResponse, error) {
	root := gjson.ParseBytes(body)
	data := root.Get("data")
	if !data.IsArray() {
		return nil, translate.Errorf("the answer has no `data` array")
	}
	type indexed struct {
		i int64
		v []byte
	}
	var list []indexed
	var err error
	data.ForEach(func(_, d gjson.Result) bool {
		e := d.Get("embedding")
		var v []byte
		switch {
		case e.Type == gjson.String:
			var ok bool
			if v, ok = translate.Base64ToFloats(e.Str); !ok {
				err = translate.Errorf("embedding %d is not valid base64 float32", len(list))
			}
		case translate.IsNumberArray(e):
			v = []byte(e.Raw)
		default:
			err = translate.Errorf("embedding %d is not an array of numbers", len(list))
		}
		idx := d.Get("index")
		if idx.Type != gjson.Number {
			idx.Num = float64(len(list))
		}
		list = append(list, indexed{int64(idx.Num), v})
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(list, func(a, b int) bool { return list[a].i < list[b].i })
	r := &translate.EmbedResponse{Model: root.Get("model").Str, Vectors: make([][]byte, len(list))}
	for i, e := range list {
		if e.i != int64(i) {
			return nil, translate.Errorf("the answer's embedding indexes are not 0..%d", len(list)-1)
		}
		r.Vectors[i] = e.v
	}
	r.Usage, _ = readEmbedUsage(root)
	return r, nil
}

func (Format) SetEmbedModel(body []byte, model string) ([]byte, error) {
	return sjson.SetBytes(body, "model", model)
}

func (Format) ReadEmbedUsage(body []byte) (translate.Usage, bool) {
	return readEmbedUsage(gjson.ParseBytes(body))
}

// readEmbedUsage reads usage.prompt_tokens (total_tokens where an
// OpenAI-compatible server sends only that).
func readEmbedUsage(root gjson.Result) (translate.Usage, bool) {
	u := root.Get("usage")
	n := u.Get("prompt_tokens")
	if n.Type != gjson.Number {
		n = u.Get("total_tokens")
	}
	return translate.Usage{Input: n.Int()}, n.Type == gjson.Number && n.Int() > 0
}
