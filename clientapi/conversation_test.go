package clientapi

import (
	"strings"
	"testing"
)

func opening(t *testing.T, a Conversing, body string) (string, string) {
	t.Helper()
	var b strings.Builder
	id := a.Conversation([]byte(body), &b)
	return id, b.String()
}

// A conversation's later turns read as its first: the same system prompt
// and first user message; another first message is another conversation.
func TestConversation(t *testing.T) {
	for _, tc := range []struct {
		name                string
		api                 Conversing
		turn1, turn2, other string
		withID, id          string
	}{
		{
			name:  "chat",
			api:   Chat{},
			turn1: `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`,
			turn2: `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"more"}]}`,
			other: `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"bye"}]}`,
		},
		{
			name:   "responses",
			api:    Responses{},
			turn1:  `{"model":"m","instructions":"be brief","input":[{"role":"developer","content":"d"},{"role":"user","content":"hi"}]}`,
			turn2:  `{"model":"m","instructions":"be brief","input":[{"role":"developer","content":"d"},{"role":"user","content":"hi"},{"type":"message","role":"assistant","content":"x"},{"role":"user","content":"more"}]}`,
			other:  `{"model":"m","instructions":"be long","input":[{"role":"developer","content":"d"},{"role":"user","content":"hi"}]}`,
			withID: `{"model":"m","input":"hi","prompt_cache_key":"sess-1"}`, id: "sess-1",
		},
		{
			name:   "anthropic",
			api:    Anthropic{},
			turn1:  `{"model":"m","max_tokens":5,"system":[{"type":"text","text":"sys"}],"messages":[{"role":"user","content":"hi"}]}`,
			turn2:  `{"model":"m","max_tokens":5,"system":[{"type":"text","text":"sys"}],"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"},{"role":"user","content":"more"}]}`,
			other:  `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			withID: `{"model":"m","max_tokens":5,"metadata":{"user_id":"u_session_9"},"messages":[{"role":"user","content":"hi"}]}`, id: "u_session_9",
		},
		{
			name:  "gemini",
			api:   Gemini{},
			turn1: `{"systemInstruction":{"parts":[{"text":"sys"}]},"contents":[{"parts":[{"text":"hi"}]}]}`,
			turn2: `{"systemInstruction":{"parts":[{"text":"sys"}]},"contents":[{"parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"yo"}]},{"role":"user","parts":[{"text":"more"}]}]}`,
			other: `{"system_instruction":{"parts":[{"text":"other"}]},"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id1, o1 := opening(t, tc.api, tc.turn1)
			id2, o2 := opening(t, tc.api, tc.turn2)
			_, o3 := opening(t, tc.api, tc.other)
			if id1 != "" || id2 != "" {
				t.Fatalf("ids %q %q from bodies without one", id1, id2)
			}
			if o1 == "" || o1 != o2 {
				t.Fatalf("turns read differently:\n%s\n%s", o1, o2)
			}
			if o3 == o1 {
				t.Fatalf("another conversation reads the same: %s", o3)
			}
			if tc.withID != "" {
				if id, _ := opening(t, tc.api, tc.withID); id != tc.id {
					t.Fatalf("id %q, want %q", id, tc.id)
				}
			}
		})
	}
}
