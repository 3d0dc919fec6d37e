package clientapi

import (
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
	if !gjson.GetBytes(body, "input").Exists() {
		return f, badRequest("`input` is required")
	}
	return f, nil
}

func (Responses) ModelList(models []ModelEntry) []byte { return openAIModelList(models) }
