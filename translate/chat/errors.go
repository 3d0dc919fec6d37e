package chat

import (
	"net/http"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// OpenAI's error table: the error.type and error.code of an answer by its
// HTTP status. The proxy's own codes (upstream_error, no_available_keys)
// name what the proxy adds to OpenAI's; 402 is a billing failure, which
// OpenAI reports as insufficient_quota.

// ErrorType is OpenAI's error.type for an HTTP status.
func ErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "insufficient_quota"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusBadGateway:
		return "upstream_error"
	case http.StatusServiceUnavailable:
		return "service_unavailable_error"
	}
	if status >= 500 {
		return "server_error"
	}
	return "invalid_request_error"
}

// ErrorCode is OpenAI's error.code for an HTTP status, where the caller
// names none.
func ErrorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request"
	case http.StatusUnauthorized:
		return "invalid_api_key"
	case http.StatusPaymentRequired:
		return "insufficient_quota"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case http.StatusBadGateway:
		return "upstream_error"
	case http.StatusServiceUnavailable:
		return "no_available_keys"
	case http.StatusGatewayTimeout:
		return "timeout"
	}
	return "server_error"
}

// ErrorBody renders an error answer in OpenAI's shape,
// {"error":{"message","type","code"}}; code "" is the status's.
func ErrorBody(status int, message, code string) []byte {
	if code == "" {
		code = ErrorCode(status)
	}
	b, _ := sjson.SetBytes([]byte(`{"error":{}}`), "error.message", message)
	b, _ = sjson.SetBytes(b, "error.type", ErrorType(status))
	b, _ = sjson.SetBytes(b, "error.code", code)
	return b
}

// StreamError renders the event that ends a Chat Completions stream with
// an error: the error object as a chunk, with no [DONE] after it.
func StreamError(status int, message, code string) []byte {
	return appendStreamError(nil, status, message, code)
}

func appendStreamError(dst []byte, status int, message, code string) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, ErrorBody(status, message, code)...)
	return append(dst, "\n\n"...)
}

// errorInfo reads an error value: {"message","code",...} or a string.
func errorInfo(e gjson.Result) (msg string, status int) {
	if e.Type == gjson.String {
		return e.Str, 0
	}
	msg = e.Get("message").String()
	if msg == "" {
		msg = e.Raw
	}
	for _, k := range [...]string{"code", "status"} {
		if c := e.Get(k); c.Type == gjson.Number && c.Num >= 100 && c.Num < 600 {
			return msg, int(c.Num)
		}
	}
	return msg, 0
}
