package clientapi

import (
	"io"
	"net/http"

	"github.com/tidwall/gjson"
)

func init() { Register(Responses{}) }

// Responses is the OpenAI Responses API: POST /v1/responses. Its model
// list is OpenAI's, served by Chat at the same path.
type Responses struct{}

func (Responses) Name() string   { return "openai-responses" }
func (Responses) Format() string { return "openai-responses" }

func (Responses) Route(r *http.Request) (Endpoint, bool) {
	if hasSuffix(r.URL.Path, "/v1/responses") {
		return post, true
	}
	return Endpoint{}, false
}

func (Responses) Claims(*http.Request) bool { return false }

func (Responses) Parse(body []byte, _ Endpoint) (Fields, *Error) {
	f, err := modelAndStream(body)
	if err != nil {
		return f, err
	}
	if !peek(body, "input").Exists() {
		return f, badRequest("`input` is required")
	}
	return f, nil
}

// Conversation: prompt_cache_key names it; else its opening is the
// instructions, system and developer input items and the first user item
// (a string input is that item).
func (Responses) Conversation(body []byte, opening io.Writer) string {
	if k := gjson.GetBytes(body, "prompt_cache_key"); k.Type == gjson.String && k.Str != "" {
		return k.Str
	}
	if in := peek(body, "instructions"); in.Exists() {
		_, _ = io.WriteString(opening, in.Raw)
	}
	input := peek(body, "input")
	if input.Type == gjson.String {
		_, _ = io.WriteString(opening, input.Raw)
		return ""
	}
	writeOpening(opening, input, isSystemOrDeveloper, isUser)
	return ""
}

func (Responses) ModelList(models []ModelEntry) []byte { return openAIModelList(models) }
