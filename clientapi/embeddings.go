package clientapi

import (
	"github.com/tidwall/gjson"
)

// Embeddings are served by two APIs: OpenAI's POST /v1/embeddings (routed
// by Chat, whose name and error shape it shares) and Gemini's
// :embedContent and :batchEmbedContents (routed by Gemini). The bodies are
// read whole by the translate formats' embedders; Parse only checks what
// routing needs.

// parseOpenAIEmbed reads the model of an OpenAI embeddings body and
// checks it carries an input.
func parseOpenAIEmbed(body []byte) (Fields, *Error) {
	model := gjson.GetBytes(body, "model")
	if model.Type != gjson.String || model.Str == "" {
		return Fields{}, badRequest("`model` is required and must be a string")
	}
	if in := gjson.GetBytes(body, "input"); !in.Exists() || in.Type == gjson.Null {
		return Fields{}, badRequest("`input` is required: a string, an array of strings or an array of token-id arrays")
	}
	return Fields{Model: model.Str}, nil
}

// parseGeminiEmbed checks an embedContent body has its content, a
// batchEmbedContents body its requests.
func parseGeminiEmbed(body []byte, ep Endpoint) *Error {
	if ep.Batch {
		return requireArray(body, "requests")
	}
	if !gjson.GetBytes(body, "content").IsObject() {
		return badRequest("`content` is required and must be an object")
	}
	return nil
}
