package gateway

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/clientapi"
)

// A conversation's key is kept per model served: a request a fallback
// model served must not move the key the conversation has for the model it
// asked for, so the two are different conversations to the pool; the same
// conversation and model are one, request after request.
func TestConversationScopedByServedModel(t *testing.T) {
	g := &Gateway{affinity: time.Hour}
	body := []byte(`{"model":"a","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}`)
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	conv := func(fallback string) string {
		c := &call{api: clientapi.Chat{}, ep: clientapi.Endpoint{Kind: clientapi.Generate}, model: "a", body: body, fallback: fallback}
		cv := g.conversation(r, c)
		if cv == nil {
			t.Fatal("no conversation for a request with a system prompt and a user message")
		}
		return cv.ID
	}
	if conv("") != conv("") {
		t.Error("one conversation and model gave two ids")
	}
	if conv("") == conv("b") {
		t.Error("the fallback model shares the conversation's key with the model asked for")
	}
}
