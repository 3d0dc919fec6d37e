package clientapi

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/llmproxy/caddy-llm-proxy/translate/chat"
)

const chatName = "openai-chat"

func init() { Register(Chat{}) }

// Chat is OpenAI Chat Completions: POST /v1/chat/completions, and the
// OpenAI model list GET /v1/models.
type Chat struct{}

func (Chat) Name() string   { return chatName }
func (Chat) Format() string { return chatName }

func (Chat) Route(r *http.Request) (Endpoint, bool) {
	switch p := r.URL.Path; {
	case hasSuffix(p, "/v1/chat/completions"):
		return post, true
	case hasSuffix(p, "/v1/embeddings"):
		return Endpoint{Kind: Embed, Method: http.MethodPost}, true
	case hasSuffix(p, "/v1/models") && r.Header.Get("anthropic-version") == "":
		return Endpoint{Kind: Models, Method: http.MethodGet}, true
	}
	return Endpoint{}, false
}

// Claims nothing: OpenAI's shape is the fallback for unknown paths.
func (Chat) Claims(*http.Request) bool { return false }

func (Chat) Parse(body []byte, ep Endpoint) (Fields, *Error) {
	if ep.Kind == Embed {
		return parseOpenAIEmbed(body)
	}
	f, err := modelAndStream(body)
	if err != nil {
		return f, err
	}
	f.IncludeUsage = peek(body, "stream_options.include_usage").Bool()
	return f, requireArray(body, "messages")
}

// Conversation: Chat has no conversation id; its opening is the system
// and developer messages and the first user message.
func (Chat) Conversation(body []byte, opening io.Writer) string {
	writeOpening(opening, peek(body, "messages"), isSystemOrDeveloper, isUser)
	return ""
}

func (Chat) ModelList(models []ModelEntry) []byte { return openAIModelList(models) }

func (Chat) AskStreamUsage(body []byte) ([]byte, bool, error) { return chat.AskStreamUsage(body) }
func (Chat) IsUsageOnlyChunk(data []byte) bool                { return chat.IsUsageOnlyChunk(data) }

// openAIModelList is the OpenAI model list, shared with Responses.
func openAIModelList(models []ModelEntry) []byte {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: make([]model, 0, len(models))}
	for _, e := range models {
		list.Data = append(list.Data, model{ID: e.ID, Object: "model", OwnedBy: e.Upstream})
	}
	b, _ := json.Marshal(list)
	return b
}
