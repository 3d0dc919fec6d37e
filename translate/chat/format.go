// Package chat is the OpenAI Chat Completions wire format, "openai-chat":
// clients speaking /v1/chat/completions, and OpenAI and the
// OpenAI-compatible servers (DeepSeek, vLLM, Ollama, OpenRouter, Groq...)
// as providers. Reasoning text travels as `reasoning_content` (the
// DeepSeek/vLLM convention); `reasoning` (OpenRouter) is read too.
//
// OpenAI has no token-counting endpoint, so the format is no
// translate.Counter: the proxy estimates counts locally.
package chat

import (
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Name is the format's registered name.
const Name = "openai-chat"

// Format is the format, both halves; it is registered under Name.
type Format struct{}

var (
	_ translate.ClientCodec   = Format{}
	_ translate.ProviderCodec = Format{}
)

func init() { translate.Register(Format{}) }

func (Format) Name() string { return Name }

func (Format) ErrorBody(status int, message, code string) []byte {
	return ErrorBody(status, message, code)
}

func (Format) StreamError(status int, message, code string) []byte {
	return StreamError(status, message, code)
}

func (Format) DecodeRequest(body []byte, _ translate.DecodeOptions) (*translate.Request, error) {
	return DecodeRequest(body)
}

func (Format) EncodeResponse(r *translate.Response) []byte { return EncodeResponse(r) }

func (Format) NewStreamEncoder(o translate.StreamOptions) translate.StreamEncoder {
	return NewStreamEncoder(o)
}

func (Format) EncodeRequest(r *translate.Request) ([]byte, error) { return EncodeRequest(r) }

func (Format) DecodeResponse(body []byte) (*translate.Response, error) { return DecodeResponse(body) }

func (Format) NewStreamDecoder() translate.StreamDecoder { return NewStreamDecoder() }

func (Format) NewWatch() translate.Watch { return NewWatch() }

func (Format) SetModel(body []byte, model string) ([]byte, error) { return SetModel(body, model) }

func (Format) Patch(body []byte, o translate.Overrides) ([]byte, error) { return Patch(body, o) }

func (Format) ReadUsage(body []byte) (translate.Usage, bool) { return ReadUsage(body) }
