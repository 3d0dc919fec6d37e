package responses

import (
	"github.com/llmproxy/caddy-llm-proxy/translate"
	"github.com/llmproxy/caddy-llm-proxy/translate/chat"
)

// ErrorBody renders an error answer for a Responses client: the Responses
// API answers errors with OpenAI's error object, so this is OpenAI's shape
// and table (chat.ErrorBody).
func ErrorBody(status int, message, code string) []byte {
	return chat.ErrorBody(status, message, code)
}

// StreamError renders the response.failed event that ends a Responses
// stream with an error, for a stream this encoder did not write (one it
// writes ends the same way, on an EvError).
func StreamError(status int, message, code string) []byte {
	e := streamEncoder{started: true}
	e.obj = object{id: responseID(""), created: translate.Now().Unix()}
	return e.fail(nil, status, message, code)
}

// failedCode is the error.code of a failed response. The Responses API
// allows a fixed set of codes there, of which server_error and
// rate_limit_exceeded are the ones a proxy can mean: the given code or
// OpenAI's code for the status (chat.ErrorCode) where it is one of them,
// else server_error.
func failedCode(status int, code string) string {
	for _, c := range [...]string{code, chat.ErrorCode(status)} {
		switch c {
		case "server_error", "rate_limit_exceeded":
			return c
		}
	}
	return "server_error"
}
