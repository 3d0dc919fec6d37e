package translate

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/tidwall/gjson"
)

// EmbedRequest is an embeddings request in canonical form: what OpenAI's
// POST /embeddings and Gemini's embedContent and batchEmbedContents have
// in common, plus what only one of them says (kept so a same-format
// provider loses nothing, dropped or refused when translating).
type EmbedRequest struct {
	Model  string
	Inputs []EmbedInput
	// Dimensions is OpenAI's `dimensions`, Gemini's outputDimensionality
	// when every input asks the same; 0 = the model's own.
	Dimensions int
	// Base64: an OpenAI client asked for `encoding_format: base64`.
	Base64 bool
	// Batch: a Gemini client called batchEmbedContents (its answer is a
	// list), rather than embedContent (one embedding).
	Batch bool
	// User is OpenAI's `user`; Gemini has none.
	User string
}

// EmbedInput is one text to embed.
type EmbedInput struct {
	Text string
	// Tokens is an OpenAI input given as token ids instead of text; only an
	// OpenAI-kind provider can take it.
	Tokens []int64
	// Parts counts a Gemini content's parts that are not text (images...),
	// which only a Gemini provider can take.
	Parts int
	// Gemini's per-request fields.
	TaskType   string
	Title      string
	Dimensions int
}

// EmbedResponse is an embeddings answer in canonical form.
type EmbedResponse struct {
	Model string
	// Vectors are raw JSON arrays of numbers, in input order: a float
	// answer is copied into another format as written, never re-printed.
	Vectors [][]byte
	// Usage.Input is the provider's count, or 0 when it sent none.
	Usage Usage
}

// EmbedOptions carry what an embeddings request's path says.
type EmbedOptions struct {
	Model string // Gemini: the model in the path
	Batch bool   // Gemini: batchEmbedContents
}

// Embedder is a format with an embeddings API, registered with its Format
// (the engine finds it with AsEmbedder). The client half decodes requests
// and encodes answers; the provider half the other way round.
type Embedder interface {
	DecodeEmbedRequest(body []byte, o EmbedOptions) (*EmbedRequest, error)
	EncodeEmbedResponse(r *EmbedResponse, req *EmbedRequest) ([]byte, error)
	// CheckEmbed reports what of a request from another format the
	// provider cannot take (token ids to Gemini, images to OpenAI), as a
	// RequestError; EncodeEmbedRequest refuses the same.
	CheckEmbed(r *EmbedRequest) error
	EncodeEmbedRequest(r *EmbedRequest) ([]byte, error)
	DecodeEmbedResponse(body []byte) (*EmbedResponse, error)
	// SetEmbedModel rewrites the model of a same-format request body.
	SetEmbedModel(body []byte, model string) ([]byte, error)
	// ReadEmbedUsage reads a same-format answer's token count; ok is false
	// when the answer has none (Gemini's never has).
	ReadEmbedUsage(body []byte) (Usage, bool)
}

// AsEmbedder returns the embeddings half of a format, or nil.
func AsEmbedder(name string) Embedder {
	e, _ := Lookup(name).(Embedder)
	return e
}

// EstimateEmbedTokens is the input token count of an embeddings request
// when the provider reports none (Gemini): a token per id of a token
// input, about four bytes of text per token otherwise, at least one per
// input, so never 0 for a request with any input.
func EstimateEmbedTokens(r *EmbedRequest) int64 {
	var n int64
	for i := range r.Inputs {
		in := &r.Inputs[i]
		k := int64(len(in.Tokens)) + int64((len(in.Text)+3)/4)
		n += max(k, 1)
	}
	return n
}

// FloatsToBase64 turns a JSON array of numbers into OpenAI's base64
// encoding: the little-endian float32 bytes, standard base64.
func FloatsToBase64(vector []byte) (string, bool) {
	arr := gjson.ParseBytes(vector)
	if !arr.IsArray() {
		return "", false
	}
	buf := make([]byte, 0, 64)
	ok := true
	arr.ForEach(func(_, v gjson.Result) bool {
		if v.Type != gjson.Number {
			ok = false
			return false
		}
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(float32(v.Num)))
		return true
	})
	return base64.StdEncoding.EncodeToString(buf), ok
}

// Base64ToFloats turns OpenAI's base64 vector into a JSON array of numbers.
func Base64ToFloats(s string) ([]byte, bool) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw)%4 != 0 {
		return nil, false
	}
	out := make([]byte, 0, 2+len(raw)*3)
	out = append(out, '[')
	for i := 0; i < len(raw); i += 4 {
		if i > 0 {
			out = append(out, ',')
		}
		f := math.Float32frombits(binary.LittleEndian.Uint32(raw[i:]))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, false
		}
		out = strconv.AppendFloat(out, float64(f), 'g', -1, 32)
	}
	return append(out, ']'), true
}

// IsNumberArray reports whether raw is a JSON array of numbers.
func IsNumberArray(raw gjson.Result) bool {
	if !raw.IsArray() {
		return false
	}
	ok := true
	raw.ForEach(func(_, v gjson.Result) bool {
		ok = v.Type == gjson.Number
		return ok
	})
	return ok
}
