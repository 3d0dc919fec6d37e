// Package gemini is the Gemini generateContent wire format, "gemini"
// (generativelanguage.googleapis.com v1beta), both halves, with token
// counting. Bodies carry no model: it is in the URL path
// (models/{model}:generateContent, :streamGenerateContent?alt=sse,
// :countTokens), so the decoders take it as an argument and the request
// encoder leaves it out for the caller to put in the URL.
//
// Gemini's REST surface accepts both lowerCamel and snake_case field names
// (its own docs use both: "system_instruction", "inline_data"), so the
// decoders read either spelling.
package gemini

import (
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Name is the format's registered name.
const Name = "gemini"

// Format is the format, both halves, with token counting; it is registered
// under Name.
type Format struct{}

var (
	_ translate.ClientCodec   = Format{}
	_ translate.ProviderCodec = Format{}
	_ translate.Counter       = Format{}
)

func init() { translate.Register(Format{}) }

func (Format) Name() string { return Name }

func (Format) ErrorBody(status int, message, code string) []byte {
	return ErrorBody(status, message, code)
}

func (Format) StreamError(status int, message, code string) []byte {
	return StreamError(status, message, code)
}

// DecodeRequest decodes a generateContent or streamGenerateContent
// request (o.Stream tells which), or a countTokens one, for the model of
// the URL path.
func (Format) DecodeRequest(body []byte, o translate.DecodeOptions) (*translate.Request, error) {
	if o.Count {
		return DecodeCountTokens(body, o.Model)
	}
	r, err := DecodeRequest(body, o.Model)
	if r != nil {
		r.Stream = o.Stream
	}
	return r, err
}

func (Format) EncodeResponse(r *translate.Response) []byte { return EncodeResponse(r) }

func (Format) NewStreamEncoder(o translate.StreamOptions) translate.StreamEncoder {
	return NewStreamEncoder(o)
}

func (Format) EncodeRequest(r *translate.Request) ([]byte, error) { return EncodeRequest(r) }

func (Format) DecodeResponse(body []byte) (*translate.Response, error) { return DecodeResponse(body) }

func (Format) NewStreamDecoder() translate.StreamDecoder { return NewStreamDecoder() }

func (Format) NewWatch() translate.Watch { return NewWatch() }

// SetModel returns the body unchanged: Gemini's model is in the URL.
func (Format) SetModel(body []byte, _ string) ([]byte, error) { return body, nil }

func (Format) Patch(body []byte, o translate.Overrides) ([]byte, error) { return Patch(body, o) }

func (Format) ReadUsage(body []byte) (translate.Usage, bool) { return ReadUsage(body) }

func (Format) EncodeCountRequest(r *translate.Request) ([]byte, error) { return EncodeCountTokens(r) }

// ReadCount reads totalTokens, the count of :countTokens's answer.
func (Format) ReadCount(body []byte) (int64, bool) {
	n := gjson.GetBytes(body, "totalTokens")
	return n.Int(), n.Type == gjson.Number
}
