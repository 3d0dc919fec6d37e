package clientapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tidwall/gjson"
)

func init() { Register(Anthropic{}) }

// Anthropic is the Anthropic Messages API: POST /v1/messages and
// /v1/messages/count_tokens, and GET /v1/models when the request carries
// an anthropic-version header (as Anthropic's SDKs always do).
type Anthropic struct{}

func (Anthropic) Name() string   { return "anthropic" }
func (Anthropic) Format() string { return "anthropic" }

func (Anthropic) Route(r *http.Request) (Endpoint, bool) {
	switch p := r.URL.Path; {
	case hasSuffix(p, "/v1/messages"):
		return post, true
	case hasSuffix(p, "/v1/messages/count_tokens"):
		return Endpoint{Kind: Count, Method: http.MethodPost}, true
	case hasSuffix(p, "/v1/models") && r.Header.Get("anthropic-version") != "":
		return Endpoint{Kind: Models, Method: http.MethodGet}, true
	}
	return Endpoint{}, false
}

func (Anthropic) Claims(r *http.Request) bool { return r.Header.Get("anthropic-version") != "" }

func (Anthropic) Parse(body []byte, ep Endpoint) (Fields, *Error) {
	f, err := modelAndStream(body)
	if err != nil {
		return f, err
	}
	if ep.Kind == Generate && peek(body, "max_tokens").Type != gjson.Number {
		return f, badRequest("`max_tokens` is required and must be a number")
	}
	return f, requireArray(body, "messages")
}

// Conversation: metadata.user_id names it (Claude Code puts its session
// there); else its opening is the system prompt and the first user message.
func (Anthropic) Conversation(body []byte, opening io.Writer) string {
	if u := gjson.GetBytes(body, "metadata.user_id"); u.Type == gjson.String && u.Str != "" {
		return u.Str
	}
	if sys := peek(body, "system"); sys.Exists() {
		_, _ = io.WriteString(opening, sys.Raw)
	}
	writeOpening(opening, peek(body, "messages"), isNone, isUser)
	return ""
}

func (Anthropic) CountAnswer(n int64) []byte {
	return []byte(`{"input_tokens":` + strconv.FormatInt(n, 10) + `}`)
}

func (Anthropic) ModelList(models []ModelEntry) []byte {
	type model struct {
		Type        string `json:"type"`
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
		CreatedAt   string `json:"created_at"`
	}
	list := struct {
		Data    []model `json:"data"`
		HasMore bool    `json:"has_more"`
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
	}{Data: make([]model, 0, len(models))}
	for _, e := range models {
		list.Data = append(list.Data, model{Type: "model", ID: e.ID, DisplayName: e.ID, CreatedAt: time.Unix(0, 0).UTC().Format(time.RFC3339)})
	}
	if n := len(list.Data); n > 0 {
		list.FirstID, list.LastID = &list.Data[0].ID, &list.Data[n-1].ID
	}
	b, _ := json.Marshal(list)
	return b
}
