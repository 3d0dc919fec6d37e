package fakeupstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// obj is a JSON object that keeps its keys in order, as OpenAI's bodies do.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonBytes(p.k))
		b.WriteByte(':')
		b.Write(jsonBytes(p.v))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// jsonBytes marshals v compactly without HTML escaping (OpenAI sends '<'
// as is).
func jsonBytes(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("fakeupstream: marshal: %v", err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// writeJSON writes a pretty-printed JSON body, as OpenAI does for
// non-streaming responses.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body := indent(jsonBytes(v), "  ")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func indent(b []byte, in string) []byte {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", in); err != nil {
		panic(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// apiError is OpenAI's error object; empty Param and Code are sent as null.
type apiError struct {
	Status  int
	Message string
	Type    string
	Param   string
	Code    string
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writeError writes {"error":{message,type,param,code}}, indented by four
// spaces like OpenAI's error bodies.
func writeError(w http.ResponseWriter, e apiError) {
	body := indent(jsonBytes(obj{{"error", obj{
		{"message", e.Message},
		{"type", e.Type},
		{"param", nullable(e.Param)},
		{"code", nullable(e.Code)},
	}}}), "    ")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

func errNoKey() apiError {
	return apiError{
		Status: http.StatusUnauthorized,
		Message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth " +
			"(i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API " +
			"from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.",
		Type: "invalid_request_error",
	}
}

func errInvalidKey(key string) apiError {
	return apiError{
		Status: http.StatusUnauthorized,
		Message: "Incorrect API key provided: " + maskKey(key) +
			". You can find your API key at https://platform.openai.com/account/api-keys.",
		Type: "invalid_request_error",
		Code: "invalid_api_key",
	}
}

// maskKey shows a key the way OpenAI's 401 does: a few leading and the last
// four characters, the rest as '*'.
func maskKey(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	head := min(len(k)-8, 8)
	return k[:head] + strings.Repeat("*", len(k)-head-4) + k[len(k)-4:]
}

func errQuota() apiError {
	return apiError{
		Status: http.StatusTooManyRequests,
		Message: "You exceeded your current quota, please check your plan and billing details. For more information on this error, " +
			"read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
		Type: "insufficient_quota",
		Code: "insufficient_quota",
	}
}

func errModelNotFound(model string) apiError {
	return apiError{
		Status:  http.StatusNotFound,
		Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model),
		Type:    "invalid_request_error",
		Code:    "model_not_found",
	}
}

// behaviorError is the body answered for Behavior.Status.
func behaviorError(b Behavior, key, model string) apiError {
	var e apiError
	switch st := b.Status; {
	case st == http.StatusPaymentRequired || b.ErrorCode == "insufficient_quota":
		e = errQuota()
	case st == http.StatusUnauthorized:
		e = errInvalidKey(key)
	case st == http.StatusForbidden:
		e = apiError{Message: "Country, region, or territory not supported", Type: "request_forbidden", Code: "unsupported_country_region_territory"}
	case st == http.StatusNotFound:
		e = errModelNotFound(model)
	case st == http.StatusTooManyRequests:
		wait := "20s"
		if n, err := strconv.ParseFloat(b.RetryAfter, 64); err == nil && n >= 0 {
			wait = strconv.FormatFloat(n, 'f', -1, 64) + "s"
		}
		e = apiError{
			Message: fmt.Sprintf("Rate limit reached for %s in organization org-fakeupstream on requests per min (RPM): "+
				"Limit 3, Used 3, Requested 1. Please try again in %s. Visit https://platform.openai.com/account/rate-limits to learn more.", model, wait),
			Type: "requests",
			Code: "rate_limit_exceeded",
		}
	case st == http.StatusServiceUnavailable:
		e = apiError{Message: "The server is overloaded or not ready yet.", Type: "server_error"}
	case st >= 500:
		e = apiError{
			Message: "The server had an error while processing your request. Sorry about that!",
			Type:    "server_error",
		}
	default:
		msg := http.StatusText(st)
		if msg == "" {
			msg = fmt.Sprintf("Error %d", st)
		}
		e = apiError{Message: msg + ".", Type: "invalid_request_error"}
	}
	e.Status = b.Status
	if b.ErrorCode != "" {
		e.Code = b.ErrorCode
	}
	return e
}

// modelOf is the requested model, for error messages.
func modelOf(body []byte) string {
	if m := gjson.GetBytes(body, "model"); m.Type == gjson.String && m.Str != "" {
		return m.Str
	}
	return "gpt-4o"
}

// Validation errors, worded as OpenAI words them.

func badRequest(msg, param, code string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Message: msg, Type: "invalid_request_error", Param: param, Code: code}
}

func errMissing(param string) *apiError {
	return badRequest(fmt.Sprintf("Missing required parameter: '%s'.", param), param, "missing_required_parameter")
}

func errType(param, want string, got gjson.Result) *apiError {
	return badRequest(fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.", param, want, typeName(got)), param, "invalid_type")
}

func errEmpty(param string) *apiError {
	return badRequest(fmt.Sprintf("Invalid '%s': empty array. Expected an array with minimum length 1, but got an empty array instead.", param), param, "empty_array")
}

func errValue(param, got string, supported ...string) *apiError {
	return badRequest(fmt.Sprintf("Invalid value: '%s'. Supported values are: %s.", got, listQuoted(supported)), param, "invalid_value")
}

// listQuoted renders 'a', 'b', and 'c' (or 'a' and 'b').
func listQuoted(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = "'" + v + "'"
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	case 2:
		return q[0] + " and " + q[1]
	}
	return strings.Join(q[:len(q)-1], ", ") + ", and " + q[len(q)-1]
}

func typeName(r gjson.Result) string {
	switch r.Type {
	case gjson.Null:
		return "null"
	case gjson.True, gjson.False:
		return "a boolean"
	case gjson.Number:
		if isInteger(r) {
			return "an integer"
		}
		return "a decimal"
	case gjson.String:
		return "a string"
	}
	if r.IsArray() {
		return "an array"
	}
	return "an object"
}

func isInteger(r gjson.Result) bool {
	return r.Type == gjson.Number && !strings.ContainsAny(r.Raw, ".eE")
}
