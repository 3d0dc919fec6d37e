package anthropic

import (
	"github.com/tidwall/sjson"
)

// The Anthropic error table (docs.anthropic.com, "Errors"): the
// error.type of an answer by its HTTP status, and back. 503 is what the
// proxy answers when every key is disabled: overloaded_error, as for 529.

// errorType is the error.type of an HTTP status.
func errorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 500:
		return "api_error"
	case 503, 529:
		return "overloaded_error"
	case 504:
		return "timeout_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// errorStatus is the HTTP status of an error.type, 0 if unknown.
func errorStatus(typ string) int {
	switch typ {
	case "invalid_request_error":
		return 400
	case "authentication_error":
		return 401
	case "billing_error":
		return 402
	case "permission_error":
		return 403
	case "not_found_error":
		return 404
	case "request_too_large":
		return 413
	case "rate_limit_error":
		return 429
	case "api_error":
		return 500
	case "timeout_error":
		return 504
	case "overloaded_error":
		return 529
	}
	return 0
}

// ErrorBody renders an error answer in Anthropic's shape,
// {"type":"error","error":{"type","message"}}. Anthropic has no error
// code: code is ignored.
func ErrorBody(status int, message, _ string) []byte {
	b, _ := sjson.SetBytes([]byte(`{"type":"error","error":{}}`), "error.type", errorType(status))
	b, _ = sjson.SetBytes(b, "error.message", message)
	return b
}

// StreamError renders the error event that ends a Messages stream.
func StreamError(status int, message, code string) []byte {
	return appendEvent(nil, "error", ErrorBody(status, message, code))
}
