package llmproxy

import (
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// apiFormats are the wire formats of the inbound client APIs, by the names
// their translate packages register (see imports.go).
var apiFormats = [...]string{
	apiOpenAIChat:      "openai-chat",
	apiOpenAIResponses: "openai-responses",
	apiAnthropic:       "anthropic",
	apiGemini:          "gemini",
}

// providerFormat is the wire format a provider speaks.
func providerFormat(provider string) string {
	if provider == "openai" {
		return "openai-chat"
	}
	return provider // "anthropic", "gemini"
}

// sameFormat reports whether a client API and a provider speak the same
// wire format, so the body can pass through with only the model changed.
// Nothing speaks Responses upstream: it is always translated.
func sameFormat(a api, provider string) bool {
	return apiFormats[a] == providerFormat(provider)
}

// clientCodec is the client half of an inbound API's format.
func clientCodec(a api) translate.ClientCodec {
	return translate.Client(apiFormats[a])
}

// decodeInbound decodes a client request into canonical form.
func decodeInbound(c *call) (*translate.Request, error) {
	return clientCodec(c.api).DecodeRequest(c.body, translate.DecodeOptions{
		Model: c.model, Stream: c.stream, Count: c.ep == epCountTokens,
	})
}

// encodeInboundResponse renders a canonical answer for the client's API.
func encodeInboundResponse(a api, r *translate.Response) []byte {
	return clientCodec(a).EncodeResponse(r)
}

// newInboundStreamEncoder renders canonical stream events for the client.
func newInboundStreamEncoder(a api, o translate.StreamOptions) translate.StreamEncoder {
	return clientCodec(a).NewStreamEncoder(o)
}
