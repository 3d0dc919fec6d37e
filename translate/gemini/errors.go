package gemini

import (
	"github.com/tidwall/sjson"
)

// statusText is the google.rpc status name of an HTTP status, as Gemini's
// error answers carry it (ai.google.dev, "API troubleshooting", and the
// google.rpc.Code mapping).
func statusText(code int) string {
	switch code {
	case 400, 413:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 405, 501:
		return "UNIMPLEMENTED"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL" // 500, and whatever has no closer name
}

// ErrorBody renders an error answer in Gemini's shape,
// {"error":{"code","message","status"}}. Gemini has no error code besides
// the status: code is ignored.
func ErrorBody(status int, message, _ string) []byte {
	b, _ := sjson.SetBytes([]byte(`{"error":{}}`), "error.code", status)
	b, _ = sjson.SetBytes(b, "error.message", message)
	b, _ = sjson.SetBytes(b, "error.status", statusText(status))
	return b
}

// StreamError renders the chunk that ends a streamGenerateContent stream
// with an error.
func StreamError(status int, message, code string) []byte {
	b := append([]byte("data: "), ErrorBody(status, message, code)...)
	return append(b, "\n\n"...)
}
