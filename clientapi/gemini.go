package clientapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

func init() { Register(Gemini{}) }

// Gemini is Google's Generative Language API: POST
// /v1beta/models/{model}:generateContent, :streamGenerateContent,
// :countTokens, :embedContent and :batchEmbedContents, and GET
// /v1beta/models. The model, possibly
// `<upstream>/<model>`, is in the path.
type Gemini struct{}

func (Gemini) Name() string   { return "gemini" }
func (Gemini) Format() string { return "gemini" }

const geminiModels = "/v1beta/models/"

func (Gemini) Route(r *http.Request) (Endpoint, bool) {
	path := r.URL.Path
	if hasSuffix(path, "/v1beta/models") {
		return Endpoint{Kind: Models, Method: http.MethodGet}, true
	}
	i := strings.Index(path, geminiModels)
	if i < 0 {
		return Endpoint{}, false
	}
	rest := path[i+len(geminiModels):]
	colon := strings.LastIndexByte(rest, ':')
	if colon <= 0 {
		return Endpoint{}, false
	}
	ep := Endpoint{Method: http.MethodPost, Model: rest[:colon]}
	switch rest[colon+1:] {
	case "generateContent":
		ep.Kind = Generate
	case "streamGenerateContent":
		ep.Kind, ep.Stream = Generate, true
	case "countTokens":
		ep.Kind = Count
	case "embedContent":
		ep.Kind = Embed
	case "batchEmbedContents":
		ep.Kind, ep.Batch = Embed, true
	default:
		return Endpoint{}, false
	}
	return ep, true
}

func (Gemini) Claims(r *http.Request) bool { return strings.Contains(r.URL.Path, "/v1beta/") }

func (Gemini) Parse(body []byte, ep Endpoint) (Fields, *Error) {
	f := Fields{Model: ep.Model, Stream: ep.Stream}
	if ep.Model == "" {
		return f, &Error{Status: http.StatusNotFound, Message: "the path names no model"}
	}
	switch ep.Kind {
	case Generate:
		return f, requireArray(body, "contents")
	case Embed:
		return f, parseGeminiEmbed(body, ep)
	}
	return f, nil
}

// Conversation: Gemini has no conversation id; its opening is the system
// instruction and the first user content (a content without a role is the
// user's).
func (Gemini) Conversation(body []byte, opening io.Writer) string {
	sys := peek(body, "systemInstruction")
	if !sys.Exists() {
		sys = peek(body, "system_instruction")
	}
	if sys.Exists() {
		_, _ = io.WriteString(opening, sys.Raw)
	}
	writeOpening(opening, peek(body, "contents"), isNone, func(role string) bool { return role == "" || role == "user" })
	return ""
}

func (Gemini) CountAnswer(n int64) []byte {
	return []byte(`{"totalTokens":` + strconv.FormatInt(n, 10) + `}`)
}

func (Gemini) ModelList(models []ModelEntry) []byte {
	type model struct {
		Name                       string   `json:"name"`
		BaseModelID                string   `json:"baseModelId"`
		DisplayName                string   `json:"displayName"`
		SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
	}
	list := struct {
		Models []model `json:"models"`
	}{Models: make([]model, 0, len(models))}
	for _, e := range models {
		list.Models = append(list.Models, model{Name: "models/" + e.ID, BaseModelID: e.ID, DisplayName: e.ID,
			SupportedGenerationMethods: []string{"generateContent", "streamGenerateContent", "countTokens"}})
	}
	b, _ := json.Marshal(list)
	return b
}
