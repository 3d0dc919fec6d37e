// Package clientapi is the room of the client APIs the proxy answers:
// OpenAI Chat Completions, OpenAI Responses, Anthropic Messages and Gemini.
// Each one is a file here that says which paths are its own, what a request
// must carry, and how its errors, model lists and token counts read; it
// names the wire format (a translate format) its bodies are in. The engine
// asks the registry, never switches on an API.
package clientapi

import (
	"io"
	"net/http"
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// API is one client API.
type API interface {
	// Name is the API's name in logs and the admin API ("openai-chat",
	// "openai-responses", "anthropic", "gemini").
	Name() string
	// Format is the translate format its bodies are in.
	Format() string
	// Route recognizes a request for one of the API's endpoints by the end
	// of its path (so the handler works under handle_path).
	Route(r *http.Request) (Endpoint, bool)
	// Claims reports whether a request no API routes should be answered in
	// this API's error shape.
	Claims(r *http.Request) bool
	// Parse reads what routing needs from a body the engine has checked
	// to be valid JSON, and refuses what no upstream could take. Full
	// validation happens where a body is decoded for translation; a
	// same-format body is validated by its provider.
	Parse(body []byte, ep Endpoint) (Fields, *Error)
	// ModelList renders the model list.
	ModelList(models []ModelEntry) []byte
}

// Counting is an API with a token-counting endpoint.
type Counting interface {
	// CountAnswer renders a token count.
	CountAnswer(n int64) []byte
}

// UsageAsking is an API whose streams carry usage only when asked
// (OpenAI Chat's stream_options.include_usage): the proxy asks for it
// itself, and swallows the extra chunk when the client did not ask.
type UsageAsking interface {
	// AskStreamUsage sets the option on a streaming body; added reports
	// that the client had not asked.
	AskStreamUsage(body []byte) (out []byte, added bool, err error)
	// IsUsageOnlyChunk reports a stream chunk that only carries usage.
	IsUsageOnlyChunk(data []byte) bool
}

// Conversing is an API whose requests belong to conversations, for
// `affinity`: the proxy keeps a conversation on one key.
type Conversing interface {
	// Conversation reads what identifies the conversation of a body
	// checked by Parse: the id the client gave it where the API has a field
	// for one, or else (id "") the raw JSON of its opening, the system
	// prompt and the first user message, written to opening for the
	// engine to hash. Neither: a request that belongs to no conversation.
	Conversation(body []byte, opening io.Writer) (id string)
}

// writeOpening writes the raw JSON of messages (an array) to w, up to the
// first user message: those whose role system says is a system one, and
// the first one whose role user says is a user's (whose raw is also
// written).
func writeOpening(w io.Writer, messages gjson.Result, system, user func(role string) bool) {
	messages.ForEach(func(_, m gjson.Result) bool {
		role := m.Get("role").Str
		switch {
		case user(role):
			_, _ = io.WriteString(w, m.Raw)
			return false
		case system(role):
			_, _ = io.WriteString(w, m.Raw)
		}
		return true
	})
}

func isSystemOrDeveloper(role string) bool { return role == "system" || role == "developer" }
func isUser(role string) bool              { return role == "user" }
func isNone(string) bool                   { return false }

// Kind is what a request asks an endpoint for.
type Kind uint8

const (
	Generate Kind = iota + 1
	Count
	Models
	// Embed is an embeddings request (see embeddings.go).
	Embed
)

// Endpoint is a routed request.
type Endpoint struct {
	Kind Kind
	// Method is the one HTTP method the endpoint takes.
	Method string
	// Model and Stream come from the path, for APIs that put them there.
	Model  string
	Stream bool
	// Batch: Gemini's batchEmbedContents rather than embedContent.
	Batch bool
}

// Fields are what Parse read from a body.
type Fields struct {
	Model  string
	Stream bool
	// IncludeUsage: the client asked for the usage chunk of a stream.
	IncludeUsage bool
}

// ModelEntry is one line of a model list.
type ModelEntry struct {
	ID       string
	Upstream string
}

// Error is an error answered to a client in its own API's shape.
type Error struct {
	Status     int
	Message    string
	Code       string // OpenAI error.code; "" = by status
	RetryAfter int    // seconds; sent as Retry-After when > 0
	Allow      string // sent as Allow with a 405
}

func (e *Error) Error() string { return e.Message }

var apis []API

// Register adds an API; each API's file registers itself from init.
func Register(a API) { apis = append(apis, a) }

// All lists the registered APIs.
func All() []API { return apis }

// Lookup returns the API by name, or nil.
func Lookup(name string) API {
	for _, a := range apis {
		if a.Name() == name {
			return a
		}
	}
	return nil
}

// Route finds the API and endpoint of a request. For a path no API
// routes, ok is false and api is the one whose error shape fits (Anthropic
// when the request carries anthropic-version, Gemini under /v1beta/,
// OpenAI Chat otherwise).
func Route(r *http.Request) (api API, ep Endpoint, ok bool) {
	for _, a := range apis {
		if ep, ok := a.Route(r); ok {
			return a, ep, true
		}
	}
	for _, a := range apis {
		if a.Claims(r) {
			return a, Endpoint{}, false
		}
	}
	return Lookup(chatName), Endpoint{}, false
}

// WriteError answers e in a's error shape.
func WriteError(w http.ResponseWriter, a API, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Allow != "" {
		h.Set("Allow", e.Allow)
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(ErrorBody(a, e))
}

// ErrorBody renders e in a's error shape, by its format's one error table.
func ErrorBody(a API, e *Error) []byte {
	return translate.Lookup(a.Format()).ErrorBody(e.Status, e.Message, e.Code)
}

// StreamError is the event that ends a same-format stream with an error,
// in a's streaming format.
func StreamError(a API, status int, msg, code string) []byte {
	return translate.Lookup(a.Format()).StreamError(status, msg, code)
}

func badRequest(msg string) *Error { return &Error{Status: http.StatusBadRequest, Message: msg} }

// modelAndStream reads the `model` and `stream` fields every body-named
// model API has. gjson.GetBytes reads the body in place and copies only
// what it returns (GetManyBytes would copy the whole body first, and every
// string read from it would keep that copy alive).
func modelAndStream(body []byte) (Fields, *Error) {
	model, stream := gjson.GetBytes(body, "model"), gjson.GetBytes(body, "stream")
	if model.Type != gjson.String || model.Str == "" {
		return Fields{}, badRequest("`model` is required and must be a string")
	}
	if stream.Exists() && stream.Type != gjson.True && stream.Type != gjson.False {
		return Fields{}, badRequest("`stream` must be a boolean")
	}
	return Fields{Model: model.Str, Stream: stream.Bool()}, nil
}

// peek reads path in the body in place, without the copy of its text
// that gjson.GetBytes makes (of a whole conversation, for "messages"): for
// what is checked or hashed and dropped, never kept.
func peek(body []byte, path string) gjson.Result { return gjson.Get(translate.InPlace(body), path) }

func requireArray(body []byte, field string) *Error {
	if !peek(body, field).IsArray() {
		return badRequest("`" + field + "` is required and must be an array")
	}
	return nil
}

func hasSuffix(path, suffix string) bool {
	return len(path) >= len(suffix) && path[len(path)-len(suffix):] == suffix
}

var post = Endpoint{Kind: Generate, Method: http.MethodPost}

// Every client API tells its conversations apart.
var (
	_ Conversing = Chat{}
	_ Conversing = Responses{}
	_ Conversing = Anthropic{}
	_ Conversing = Gemini{}
)
