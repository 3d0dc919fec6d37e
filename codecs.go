package llmproxy

import (
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// sameFormat reports whether a client API and a provider speak the same
// wire format, so the body can pass through with only the model changed.
func sameFormat(a api, provider string) bool {
	switch a {
	case apiOpenAIChat:
		return provider == "openai"
	case apiAnthropic:
		return provider == "anthropic"
	case apiGemini:
		return provider == "gemini"
	}
	return false // nothing speaks Responses upstream: it is always translated
}

// decodeInbound decodes a client request into canonical form.
func decodeInbound(c *call) (*translate.Request, error) {
	switch c.api {
	case apiAnthropic:
		if c.ep == epCountTokens {
			return translate.DecodeAnthropicCountTokens(c.body)
		}
		return translate.DecodeAnthropicRequest(c.body)
	case apiGemini:
		if c.ep == epCountTokens {
			return translate.DecodeGeminiCountTokens(c.body, c.model)
		}
		r, err := translate.DecodeGeminiRequest(c.body, c.model)
		if r != nil {
			r.Stream = c.stream
		}
		return r, err
	case apiOpenAIResponses:
		return translate.DecodeResponsesRequest(c.body)
	}
	return translate.DecodeChatRequest(c.body)
}

// encodeInboundResponse renders a canonical answer for the client's API.
func encodeInboundResponse(a api, r *translate.Response) []byte {
	switch a {
	case apiAnthropic:
		return translate.EncodeAnthropicResponse(r)
	case apiGemini:
		return translate.EncodeGeminiResponse(r)
	case apiOpenAIResponses:
		return translate.EncodeResponsesResponse(r)
	}
	return translate.EncodeChatResponse(r)
}

// newInboundStreamEncoder renders canonical stream events for the client.
func newInboundStreamEncoder(a api, o translate.StreamOptions) translate.StreamEncoder {
	switch a {
	case apiAnthropic:
		return translate.NewAnthropicStreamEncoder(o)
	case apiGemini:
		return translate.NewGeminiStreamEncoder(o)
	case apiOpenAIResponses:
		return translate.NewResponsesStreamEncoder(o)
	}
	return translate.NewChatStreamEncoder(o)
}

// codec is how the proxy speaks one provider's format.
type codec struct {
	encodeRequest    func(*translate.Request) ([]byte, error)
	decodeResponse   func([]byte) (*translate.Response, error)
	newStreamDecoder func() translate.StreamDecoder
	patch            func([]byte, translate.Overrides) ([]byte, error)
	readUsage        func([]byte) (translate.Usage, bool)
}

var codecs = map[string]*codec{
	"openai": {
		encodeRequest:    translate.EncodeChatRequest,
		decodeResponse:   translate.DecodeChatResponse,
		newStreamDecoder: translate.NewChatStreamDecoder,
		patch:            translate.PatchChatRequest,
		readUsage:        translate.OpenAIChatUsage,
	},
	"anthropic": {
		encodeRequest:    translate.EncodeAnthropicRequest,
		decodeResponse:   translate.DecodeAnthropicResponse,
		newStreamDecoder: translate.NewAnthropicStreamDecoder,
		patch:            translate.PatchAnthropicRequest,
		readUsage:        translate.ReadAnthropicUsage,
	},
	"gemini": {
		encodeRequest:    translate.EncodeGeminiRequest,
		decodeResponse:   translate.DecodeGeminiResponse,
		newStreamDecoder: translate.NewGeminiStreamDecoder,
		patch:            translate.PatchGeminiRequest,
		readUsage:        translate.ReadGeminiUsage,
	},
}
