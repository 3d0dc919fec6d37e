package fakeupstream

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// DefaultGeminiModels is what a Gemini server's GET /v1beta/models lists
// (as "models/<name>") until SetModels is called.
var DefaultGeminiModels = []string{"gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview"}

// NewGemini starts a fake Gemini API (generativelanguage.googleapis.com)
// upstream accepting the given API keys, sent as x-goog-api-key or ?key=;
// t.Cleanup closes it. Its URL is the bare origin: clients post to
// URL+"/v1beta/models/{model}:generateContent".
//
// It serves POST /v1beta/models/{model}:generateContent,
// :streamGenerateContent (SSE with ?alt=sse, a streamed JSON array
// without), :countTokens, :embedContent, :batchEmbedContents, GET
// /v1beta/models and GET /v1beta/models/{model}.
// As Google does, a bad API key is answered 400 INVALID_ARGUMENT with reason
// API_KEY_INVALID (not 401), a missing one 403 PERMISSION_DENIED.
func NewGemini(t testing.TB, keys ...string) *Server {
	t.Helper()
	return newServer(t, geminiDialect, keys)
}

var geminiDialect = &dialect{
	defaultModels: func() []string { return DefaultGeminiModels },
	credential: func(r *http.Request) (string, bool) {
		k := strings.TrimSpace(r.Header.Get("X-Goog-Api-Key"))
		if k == "" {
			k = strings.TrimSpace(r.URL.Query().Get("key"))
		}
		return k, k != ""
	},
	headers: func(h http.Header, _ int) {
		h.Set("Vary", "Origin, X-Origin, Referer")
		h.Set("Server", "scaffolding on HTTPServer2")
		h.Set("X-Content-Type-Options", "nosniff")
	},
	route: (*Server).geminiRoute,
	notFound: func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1beta/") {
			writeGemError(w, gemError{Code: http.StatusNotFound, Message: "Method not found."})
			return
		}
		// Google's front end answers paths outside the API with HTML.
		body := "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n" +
			"  <p><b>404.</b> <ins>That’s an error.</ins>\n  <p>The requested URL <code>" + r.URL.Path +
			"</code> was not found on this server.  <ins>That’s all we know.</ins>\n"
		writeBody(w, http.StatusNotFound, "text/html; charset=UTF-8", []byte(body), 0)
	},
	noKey: func(w http.ResponseWriter, _ *http.Request) {
		writeGemError(w, gemError{Code: http.StatusForbidden, Message: "Method doesn't allow unregistered callers (callers without " +
			"established identity). Please use API Key or other form of API consumer identity to call this API."})
	},
	invalidKey: func(w http.ResponseWriter, _ *http.Request, _ string) {
		writeGemError(w, gemBadKey())
	},
	failure: func(w http.ResponseWriter, r *http.Request, b Behavior, _ string, _ []byte) {
		writeGemError(w, gemBehaviorError(b, gemModelOf(r.URL.Path)))
	},
}

// gemError is a Google API error: {"error":{code,message,status,details?}}.
type gemError struct {
	Code    int
	Status  string // derived from Code if empty
	Message string
	Details []any
}

var gemStatuses = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 409: "ABORTED",
	429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

func gemStatus(code int) string {
	if s, ok := gemStatuses[code]; ok {
		return s
	}
	if code >= 500 {
		return "UNKNOWN"
	}
	return "FAILED_PRECONDITION"
}

// writeGemError writes the error pretty-printed, as Google does.
func writeGemError(w http.ResponseWriter, e gemError) {
	if e.Status == "" {
		e.Status = gemStatus(e.Code)
	}
	inner := obj{{"code", e.Code}, {"message", e.Message}, {"status", e.Status}}
	if len(e.Details) > 0 {
		inner = append(inner, kv{"details", e.Details})
	}
	writeBody(w, e.Code, "application/json; charset=UTF-8", indent(jsonBytes(obj{{"error", inner}}), "  "), 0)
}

func gemInvalid(msg string) *gemError { return &gemError{Code: http.StatusBadRequest, Message: msg} }

const gemKeyMessage = "API key not valid. Please pass a valid API key."

func gemBadKey() gemError {
	return gemError{Code: http.StatusBadRequest, Message: gemKeyMessage, Details: []any{
		obj{{"@type", "type.googleapis.com/google.rpc.ErrorInfo"}, {"reason", "API_KEY_INVALID"}, {"domain", "googleapis.com"},
			{"metadata", obj{{"service", "generativelanguage.googleapis.com"}}}},
		obj{{"@type", "type.googleapis.com/google.rpc.LocalizedMessage"}, {"locale", "en-US"}, {"message", gemKeyMessage}},
	}}
}

func gemNotFound(model string) *gemError {
	return &gemError{Code: http.StatusNotFound, Message: fmt.Sprintf("models/%s is not found for API version v1beta, or is not "+
		"supported for generateContent. Call ListModels to see the list of available models and their supported methods.", model)}
}

// gemQuota is a 429 RESOURCE_EXHAUSTED for a per-minute or per-day quota.
func gemQuota(code int, model, retryAfter string, perDay bool) gemError {
	limit, quotaID := "10", "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
	if perDay {
		limit, quotaID = "250", "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
	}
	const metric = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
	msg := "You exceeded your current quota, please check your plan and billing details. For more information on this error, " +
		"head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: " +
		"https://ai.dev/usage?tab=rate-limit. \n* Quota exceeded for metric: " + metric + ", limit: " + limit + ", model: " + model
	details := []any{
		obj{{"@type", "type.googleapis.com/google.rpc.Help"}, {"links", []any{obj{
			{"description", "Learn more about Gemini API quotas"}, {"url", "https://ai.google.dev/gemini-api/docs/rate-limits"},
		}}}},
		obj{{"@type", "type.googleapis.com/google.rpc.QuotaFailure"}, {"violations", []any{obj{
			{"quotaMetric", metric},
			{"quotaId", quotaID},
			{"quotaDimensions", obj{{"location", "global"}, {"model", model}}},
			{"quotaValue", limit},
		}}}},
	}
	if n, err := strconv.ParseFloat(retryAfter, 64); err == nil && n >= 0 {
		delay := strconv.FormatFloat(n, 'f', -1, 64) + "s"
		msg += "\nPlease retry in " + delay + "."
		details = append(details, obj{{"@type", "type.googleapis.com/google.rpc.RetryInfo"}, {"retryDelay", delay}})
	}
	return gemError{Code: code, Status: "RESOURCE_EXHAUSTED", Message: msg, Details: details}
}

func gemBehaviorError(b Behavior, model string) gemError {
	var e gemError
	switch st := b.Status; {
	case st == http.StatusPaymentRequired || b.ErrorCode == "insufficient_quota":
		e = gemQuota(st, model, b.RetryAfter, true)
		return e
	case st == http.StatusTooManyRequests:
		e = gemQuota(st, model, b.RetryAfter, false)
	case st == http.StatusBadRequest:
		e = gemError{Message: "Request contains an invalid argument."}
	case st == http.StatusUnauthorized:
		e = gemError{Message: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other " +
			"valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."}
	case st == http.StatusForbidden:
		e = gemError{Message: "Permission denied: Consumer 'projects/000000000000' has been suspended.", Details: []any{obj{
			{"@type", "type.googleapis.com/google.rpc.ErrorInfo"}, {"reason", "CONSUMER_SUSPENDED"}, {"domain", "googleapis.com"},
			{"metadata", obj{{"consumer", "projects/000000000000"}, {"service", "generativelanguage.googleapis.com"}}},
		}}}
	case st == http.StatusNotFound:
		e = *gemNotFound(model)
	case st == http.StatusServiceUnavailable:
		e = gemError{Message: "The model is overloaded. Please try again later."}
	case st == http.StatusGatewayTimeout:
		e = gemError{Message: "Deadline expired before operation could complete."}
	case st >= 500:
		e = gemError{Message: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"}
	default:
		msg := http.StatusText(st)
		if msg == "" {
			msg = fmt.Sprintf("Error %d", st)
		}
		e = gemError{Message: msg + "."}
	}
	e.Code = b.Status
	if b.ErrorCode != "" {
		e.Status = b.ErrorCode
	}
	return e
}

// gemModelOf is the model named in a request path, for error messages.
func gemModelOf(path string) string {
	rest, ok := strings.CutPrefix(path, "/v1beta/models/")
	if !ok {
		return "gemini-2.5-flash"
	}
	m, _, _ := strings.Cut(rest, ":")
	return m
}

// gemSplitPath splits /v1beta/models/{model}[:{method}].
func gemSplitPath(p string) (model, method string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/v1beta/models/")
	if !ok {
		return "", "", false
	}
	model, method, _ = strings.Cut(rest, ":")
	if model == "" || strings.Contains(model, "/") {
		return "", "", false
	}
	return model, method, true
}

func (s *Server) geminiRoute(r *http.Request) handlerFunc {
	p := r.URL.Path
	if p == "/v1beta/models" {
		if r.Method == http.MethodGet {
			return s.gemListModels
		}
		return nil
	}
	_, method, ok := gemSplitPath(p)
	if !ok {
		return nil
	}
	switch {
	case r.Method == http.MethodGet && method == "":
		return s.gemGetModel
	case r.Method != http.MethodPost:
		return nil
	case method == "generateContent":
		return s.gemGenerate
	case method == "streamGenerateContent":
		return s.gemGenerate
	case method == "countTokens":
		return s.gemCountTokens
	case method == "embedContent" || method == "batchEmbedContents":
		return s.gemEmbed
	}
	return nil
}

// Models.

func gemName(m string) string {
	if strings.HasPrefix(m, "models/") {
		return m
	}
	return "models/" + m
}

// gemDisplayName turns "gemini-2.5-flash" into "Gemini 2.5 Flash".
func gemDisplayName(id string) string {
	parts := strings.Split(strings.TrimPrefix(id, "models/"), "-")
	for i, p := range parts {
		if p != "" {
			r := []rune(p)
			r[0] = unicode.ToUpper(r[0])
			parts[i] = string(r)
		}
	}
	return strings.Join(parts, " ")
}

func gemModelObject(m string) obj {
	name := gemName(m)
	id := strings.TrimPrefix(name, "models/")
	if strings.Contains(id, "embedding") {
		return obj{
			{"name", name}, {"version", "001"}, {"displayName", gemDisplayName(id)},
			{"description", "Obtain a distributed representation of a text."},
			{"inputTokenLimit", 2048}, {"outputTokenLimit", 1},
			{"supportedGenerationMethods", []string{"embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"}},
		}
	}
	return obj{
		{"name", name}, {"version", "001"}, {"displayName", gemDisplayName(id)},
		{"description", "Fake " + gemDisplayName(id) + " served by fakeupstream."},
		{"inputTokenLimit", 1048576}, {"outputTokenLimit", 65536},
		{"supportedGenerationMethods", []string{"generateContent", "countTokens", "createCachedContent", "batchGenerateContent"}},
		{"temperature", 1}, {"topP", 0.95}, {"topK", 64}, {"maxTemperature", 2}, {"thinking", true},
	}
}

func writeGemJSON(w http.ResponseWriter, v any) {
	writeBody(w, http.StatusOK, "application/json; charset=UTF-8", indent(jsonBytes(v), "  "), 0)
}

func (s *Server) gemListModels(w http.ResponseWriter, r *http.Request, _ []byte, _ Behavior) {
	models := s.modelList()
	q := r.URL.Query()
	size := 50
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeGemError(w, *gemInvalid(fmt.Sprintf("Invalid value at 'page_size' (TYPE_INT32), %q", v)))
			return
		}
		if n > 0 {
			size = min(n, 1000)
		}
	}
	start := 0
	if tok := q.Get("pageToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
		if err != nil || err2 != nil || n < 0 || n > len(models) {
			writeGemError(w, *gemInvalid("Invalid page token."))
			return
		}
		start = n
	}
	end := min(start+size, len(models))
	list := make([]any, 0, end-start)
	for _, m := range models[start:end] {
		list = append(list, gemModelObject(m))
	}
	resp := obj{{"models", list}}
	if end < len(models) {
		resp = append(resp, kv{"nextPageToken", base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))})
	}
	writeGemJSON(w, resp)
}

func (s *Server) gemGetModel(w http.ResponseWriter, r *http.Request, _ []byte, _ Behavior) {
	model, _, _ := gemSplitPath(r.URL.Path)
	for _, m := range s.modelList() {
		if gemName(m) == gemName(model) {
			writeGemJSON(w, gemModelObject(m))
			return
		}
	}
	writeGemError(w, *gemNotFound(model))
}
