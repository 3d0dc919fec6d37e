package llmproxy

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/tidwall/sjson"
)

// api is an inbound client API; it decides the shape of errors and streams.
type api uint8

const (
	apiOpenAIChat api = iota
	apiOpenAIResponses
	apiAnthropic
	apiGemini
)

// String is the name used in logs and the admin API.
func (a api) String() string {
	switch a {
	case apiOpenAIResponses:
		return "openai-responses"
	case apiAnthropic:
		return "anthropic"
	case apiGemini:
		return "gemini"
	}
	return "openai-chat"
}

// apiError is an error answered to a client in its own API's shape.
type apiError struct {
	Status     int
	Message    string
	Code       string // OpenAI error.code; optional
	RetryAfter int    // seconds; sent as Retry-After when > 0
	Allow      string // sent as Allow with a 405
}

func (e *apiError) Error() string { return e.Message }

// writeError is the one error writer every inbound API goes through.
func writeError(w http.ResponseWriter, a api, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Allow != "" {
		h.Set("Allow", e.Allow)
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(errorBody(a, e))
}

// errorBody renders e in the API's error shape:
//
//	OpenAI    {"error":{"message","type","code"}}
//	Anthropic {"type":"error","error":{"type","message"}}
//	Gemini    {"error":{"code","message","status"}}
func errorBody(a api, e *apiError) []byte {
	var b []byte
	switch a {
	case apiAnthropic:
		b, _ = sjson.SetBytes([]byte(`{"type":"error","error":{}}`), "error.type", anthropicErrorType(e.Status))
		b, _ = sjson.SetBytes(b, "error.message", e.Message)
	case apiGemini:
		b, _ = sjson.SetBytes([]byte(`{"error":{}}`), "error.code", e.Status)
		b, _ = sjson.SetBytes(b, "error.message", e.Message)
		b, _ = sjson.SetBytes(b, "error.status", geminiStatus(e.Status))
	default:
		b, _ = sjson.SetBytes([]byte(`{"error":{}}`), "error.message", e.Message)
		b, _ = sjson.SetBytes(b, "error.type", openAIErrorType(e.Status))
		code := e.Code
		if code == "" {
			code = openAIErrorCode(e.Status)
		}
		b, _ = sjson.SetBytes(b, "error.code", code)
	}
	return b
}

func openAIErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
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

func openAIErrorCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request"
	case http.StatusUnauthorized:
		return "invalid_api_key"
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
	}
	return "server_error"
}

func anthropicErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusServiceUnavailable:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

func geminiStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusMethodNotAllowed:
		return "UNIMPLEMENTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	}
	return "INTERNAL"
}

// secretLike matches what API keys look like, so an upstream error message
// that quotes (part of) a key never reaches a client, log or admin answer.
var secretLike = regexp.MustCompile(`(sk|pk|rk|key)[-_][A-Za-z0-9_\-*.]{6,}|AIza[A-Za-z0-9_\-]{10,}`)

// scrub removes secrets from upstream text before it is shown to anyone.
func scrub(msg, secret string) string {
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
	}
	return secretLike.ReplaceAllString(msg, "[redacted]")
}

// maskSecret shows at most the first 3 and last 4 characters of a secret.
func maskSecret(s string) string {
	if len(s) <= 8 {
		return strings.Repeat("*", len(s))
	}
	if len(s) < 12 {
		return s[:1] + "…" + s[len(s)-2:]
	}
	return s[:3] + "…" + s[len(s)-4:]
}
