package fakeupstream

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// DefaultModels is what an OpenAI server's GET /v1/models lists until
// SetModels is called.
var DefaultModels = []string{"gpt-4o", "gpt-4o-mini", "o3-mini"}

// NewOpenAI starts a fake OpenAI upstream accepting the given bearer tokens;
// t.Cleanup closes it (ending any request still delayed or streaming). Its
// URL includes /v1.
func NewOpenAI(t testing.TB, keys ...string) *Server {
	t.Helper()
	return newServer(t, openaiDialect, keys)
}

var openaiDialect = &dialect{
	urlSuffix:     "/v1",
	defaultModels: func() []string { return DefaultModels },
	credential: func(r *http.Request) (string, bool) {
		return bearer(r.Header.Get("Authorization"))
	},
	headers: func(h http.Header, id int) {
		h.Set("X-Request-Id", fmt.Sprintf("req_%032x", id))
		h.Set("Openai-Version", "2020-10-01")
		h.Set("Openai-Organization", "user-fakeupstream")
		h.Set("Openai-Project", "proj_fakeupstream")
		h.Set("Openai-Processing-Ms", "1")
		h.Set("X-Ratelimit-Limit-Requests", "10000")
		h.Set("X-Ratelimit-Remaining-Requests", "9999")
		h.Set("Set-Cookie", "__cf_bm=fake; path=/; domain=.api.openai.com; HttpOnly; Secure")
	},
	route: (*Server).openaiRoute,
	notFound: func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apiError{
			Status:  http.StatusNotFound,
			Message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path),
			Type:    "invalid_request_error",
		})
	},
	noKey: func(w http.ResponseWriter, _ *http.Request) { writeError(w, errNoKey()) },
	invalidKey: func(w http.ResponseWriter, _ *http.Request, key string) {
		writeError(w, errInvalidKey(key))
	},
	failure: func(w http.ResponseWriter, _ *http.Request, b Behavior, key string, body []byte) {
		writeError(w, behaviorError(b, key, modelOf(body)))
	},
}

func (s *Server) openaiRoute(r *http.Request) handlerFunc {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/v1/chat/completions":
		return s.chatCompletions
	case r.Method == http.MethodPost && p == "/v1/responses":
		return s.responses
	case r.Method == http.MethodPost && p == "/v1/embeddings":
		return s.embeddings
	case r.Method == http.MethodGet && p == "/v1/models":
		return s.listModels
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/v1/models/") && len(p) > len("/v1/models/"):
		return s.retrieveModel
	}
	return nil
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// modelCreated is the "created" of every listed model (gpt-4o's real one).
const modelCreated = 1715367049

func modelObject(id string) obj {
	return obj{{"id", id}, {"object", "model"}, {"created", modelCreated}, {"owned_by", "system"}}
}

func (s *Server) listModels(w http.ResponseWriter, _ *http.Request, _ []byte, _ Behavior) {
	models := s.modelList()
	data := make([]any, 0, len(models))
	for _, m := range models {
		data = append(data, modelObject(m))
	}
	writeJSON(w, http.StatusOK, obj{{"object", "list"}, {"data", data}})
}

func (s *Server) retrieveModel(w http.ResponseWriter, r *http.Request, _ []byte, _ Behavior) {
	id := strings.TrimPrefix(r.URL.Path, "/v1/models/")
	if !slices.Contains(s.modelList(), id) {
		writeError(w, apiError{
			Status:  http.StatusNotFound,
			Message: fmt.Sprintf("The model '%s' does not exist", id),
			Type:    "invalid_request_error",
			Param:   "model",
			Code:    "model_not_found",
		})
		return
	}
	writeJSON(w, http.StatusOK, modelObject(id))
}
