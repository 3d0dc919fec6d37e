package fakeupstream

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/tidwall/gjson"
)

// DefaultAnthropicModels is what an Anthropic server's GET /v1/models lists
// until SetModels is called.
var DefaultAnthropicModels = []string{"claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805"}

// NewAnthropic starts a fake Anthropic upstream accepting the given
// x-api-key values; t.Cleanup closes it. Its URL is the bare origin (as
// https://api.anthropic.com): clients post to URL+"/v1/messages".
//
// It serves POST /v1/messages (plain and streamed), POST
// /v1/messages/count_tokens, GET /v1/models and GET /v1/models/{id}, and,
// like the real API, requires the anthropic-version header on all of them.
func NewAnthropic(t testing.TB, keys ...string) *Server {
	t.Helper()
	return newServer(t, anthropicDialect, keys)
}

// anthropicVersions are the anthropic-version values the API accepts.
var anthropicVersions = []string{"2023-06-01", "2023-01-01"}

var anthropicDialect = &dialect{
	defaultModels: func() []string { return DefaultAnthropicModels },
	credential: func(r *http.Request) (string, bool) {
		k := strings.TrimSpace(r.Header.Get("X-Api-Key"))
		return k, k != ""
	},
	headers: func(h http.Header, id int) {
		h.Set("Request-Id", fmt.Sprintf("req_011CFake%016d", id))
		h.Set("Anthropic-Organization-Id", "00000000-0000-4000-8000-00000000fa4e")
		h.Set("Anthropic-Ratelimit-Requests-Limit", "4000")
		h.Set("Anthropic-Ratelimit-Requests-Remaining", "3999")
	},
	route: (*Server).anthropicRoute,
	notFound: func(w http.ResponseWriter, _ *http.Request) {
		writeAntError(w, antError{http.StatusNotFound, "not_found_error", "Not Found"})
	},
	noKey: func(w http.ResponseWriter, r *http.Request) {
		msg := "x-api-key header is required"
		if r.Header.Get("Authorization") != "" {
			msg = "OAuth authentication is currently not supported."
		}
		writeAntError(w, antError{http.StatusUnauthorized, "authentication_error", msg})
	},
	invalidKey: func(w http.ResponseWriter, _ *http.Request, _ string) {
		writeAntError(w, antError{http.StatusUnauthorized, "authentication_error", "invalid x-api-key"})
	},
	failure: func(w http.ResponseWriter, _ *http.Request, b Behavior, _ string, body []byte) {
		writeAntError(w, antBehaviorError(b, antModelOf(body)))
	},
}

func (s *Server) anthropicRoute(r *http.Request) handlerFunc {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/v1/messages":
		return s.antMessages
	case r.Method == http.MethodPost && p == "/v1/messages/count_tokens":
		return s.antCountTokens
	case r.Method == http.MethodGet && p == "/v1/models":
		return s.antListModels
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/v1/models/") && len(p) > len("/v1/models/"):
		return s.antGetModel
	}
	return nil
}

// antError is an Anthropic error: {"type":"error","error":{type,message},"request_id"}.
type antError struct {
	Status  int
	Type    string
	Message string
}

func writeAntError(w http.ResponseWriter, e antError) {
	body := jsonBytes(obj{
		{"type", "error"},
		{"error", obj{{"type", e.Type}, {"message", e.Message}}},
		{"request_id", w.Header().Get("Request-Id")},
	})
	retry := e.Status == http.StatusRequestTimeout || e.Status == http.StatusConflict ||
		e.Status == http.StatusTooManyRequests || e.Status >= 500
	w.Header().Set("X-Should-Retry", strconv.FormatBool(retry))
	writeBody(w, e.Status, "application/json", body, 0)
}

// antInvalid is a 400 invalid_request_error whose message is "<path>: <msg>"
// (or just msg without a path), as the API's validation words it.
func antInvalid(path, msg string) *antError {
	if path != "" {
		msg = path + ": " + msg
	}
	return &antError{http.StatusBadRequest, "invalid_request_error", msg}
}

const antCreditMessage = "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."

func antBehaviorError(b Behavior, model string) antError {
	if b.ErrorCode == "insufficient_quota" {
		return antError{http.StatusBadRequest, "invalid_request_error", antCreditMessage}
	}
	var e antError
	switch st := b.Status; {
	case st == http.StatusBadRequest:
		e = antError{Type: "invalid_request_error", Message: "Invalid request."}
	case st == http.StatusUnauthorized:
		e = antError{Type: "authentication_error", Message: "invalid x-api-key"}
	case st == http.StatusPaymentRequired:
		e = antError{Type: "billing_error", Message: antCreditMessage}
	case st == http.StatusForbidden:
		e = antError{Type: "permission_error", Message: "Your API key does not have permission to use the specified resource."}
	case st == http.StatusNotFound:
		e = antError{Type: "not_found_error", Message: "model: " + model}
	case st == http.StatusRequestEntityTooLarge:
		e = antError{Type: "request_too_large", Message: "Request exceeds the maximum allowed number of bytes."}
	case st == http.StatusTooManyRequests:
		e = antError{Type: "rate_limit_error", Message: "This request would exceed the rate limit for your organization " +
			"(00000000-0000-4000-8000-00000000fa4e) of 50 requests per minute. For details, refer to: " +
			"https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the " +
			"prompt length or the maximum tokens requested, or try again later. You may also contact sales at " +
			"https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase."}
	case st == http.StatusGatewayTimeout:
		e = antError{Type: "timeout_error", Message: "Request timed out"}
	case st == http.StatusServiceUnavailable || st == 529:
		e = antError{Type: "overloaded_error", Message: "Overloaded"}
	case st >= 500:
		e = antError{Type: "api_error", Message: "Internal server error"}
	default:
		msg := http.StatusText(st)
		if msg == "" {
			msg = fmt.Sprintf("Error %d", st)
		}
		e = antError{Type: "invalid_request_error", Message: msg}
	}
	e.Status = b.Status
	if b.ErrorCode != "" {
		e.Type = b.ErrorCode
	}
	return e
}

func antModelOf(body []byte) string {
	if m := gjson.GetBytes(body, "model"); m.Type == gjson.String && m.Str != "" {
		return m.Str
	}
	return "claude-sonnet-4-5"
}

// antCheckVersion enforces the anthropic-version header.
func antCheckVersion(r *http.Request) *antError {
	v := strings.TrimSpace(r.Header.Get("Anthropic-Version"))
	switch {
	case v == "":
		return antInvalid("", "anthropic-version: header is required")
	case !slices.Contains(anthropicVersions, v):
		return antInvalid("", fmt.Sprintf("anthropic-version: invalid version %q", v))
	}
	return nil
}

// Models.

// antModelMaxTokens is the largest max_tokens the API accepts for a model.
func antModelMaxTokens(model string) int {
	switch {
	case strings.HasPrefix(model, "claude-3-haiku"), strings.HasPrefix(model, "claude-3-opus"):
		return 4096
	case strings.HasPrefix(model, "claude-3-5-"):
		return 8192
	case strings.HasPrefix(model, "claude-opus-4-0"), strings.HasPrefix(model, "claude-opus-4-1"),
		strings.HasPrefix(model, "claude-opus-4-2025"):
		return 32000
	}
	return 64000
}

var dateSuffix = regexp.MustCompile(`-(\d{4})(\d{2})(\d{2})$`)

// antDisplayName turns "claude-sonnet-4-5-20250929" into "Claude Sonnet 4.5".
func antDisplayName(id string) string {
	id = dateSuffix.ReplaceAllString(id, "")
	var out []string
	for _, p := range strings.Split(id, "-") {
		if p == "" {
			continue
		}
		if n := len(out); n > 0 && isDigits(p) && isDigits(strings.ReplaceAll(out[n-1], ".", "")) {
			out[n-1] += "." + p
			continue
		}
		r := []rune(p)
		r[0] = unicode.ToUpper(r[0])
		out = append(out, string(r))
	}
	return strings.Join(out, " ")
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func antModelObject(id string) obj {
	created := "2025-05-14T00:00:00Z"
	if m := dateSuffix.FindStringSubmatch(id); m != nil {
		created = m[1] + "-" + m[2] + "-" + m[3] + "T00:00:00Z"
	}
	return obj{
		{"type", "model"},
		{"id", id},
		{"display_name", antDisplayName(id)},
		{"created_at", created},
		{"max_input_tokens", 200000},
		{"max_tokens", antModelMaxTokens(id)},
	}
}

func (s *Server) antListModels(w http.ResponseWriter, r *http.Request, _ []byte, _ Behavior) {
	if e := antCheckVersion(r); e != nil {
		writeAntError(w, *e)
		return
	}
	models := s.modelList()
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			writeAntError(w, *antInvalid("limit", "Input should be a valid integer, unable to parse string as an integer"))
			return
		case n < 1:
			writeAntError(w, *antInvalid("limit", "Input should be greater than or equal to 1"))
			return
		case n > 1000:
			writeAntError(w, *antInvalid("limit", "Input should be less than or equal to 1000"))
			return
		}
		limit = n
	}
	var page []string
	var more bool
	switch after, before := q.Get("after_id"), q.Get("before_id"); {
	case before != "":
		end := slices.Index(models, before)
		if end < 0 {
			end = 0
		}
		start := max(0, end-limit)
		page, more = models[start:end], start > 0
	default:
		start := 0
		if after != "" {
			start = slices.Index(models, after) + 1
			if start == 0 {
				start = len(models)
			}
		}
		rest := models[start:]
		more = len(rest) > limit
		page = rest[:min(limit, len(rest))]
	}
	data := make([]any, 0, len(page))
	for _, m := range page {
		data = append(data, antModelObject(m))
	}
	var first, last any
	if len(page) > 0 {
		first, last = page[0], page[len(page)-1]
	}
	writeBody(w, http.StatusOK, "application/json", jsonBytes(obj{
		{"data", data}, {"has_more", more}, {"first_id", first}, {"last_id", last},
	}), 0)
}

func (s *Server) antGetModel(w http.ResponseWriter, r *http.Request, _ []byte, _ Behavior) {
	if e := antCheckVersion(r); e != nil {
		writeAntError(w, *e)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/v1/models/")
	if !slices.Contains(s.modelList(), id) {
		writeAntError(w, antError{http.StatusNotFound, "not_found_error", "model: " + id})
		return
	}
	writeBody(w, http.StatusOK, "application/json", jsonBytes(antModelObject(id)), 0)
}
