package chat

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Instructions given partway through (Anthropic mid-conversation system
// messages) stay in place as system messages; a user id longer than
// OpenAI takes is hashed.
func TestEncodeAgentShapes(t *testing.T) {
	r := &translate.Request{
		Model: "gpt-4o", System: "base",
		User: `{"device_id":"c82d47fdff15aca0f153eb24e8d17991f949c47c20745fe580633b8dc33937df","account_uuid":"","session_id":"1ed87f7e"}`,
		Messages: []translate.Message{
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "q"}}},
			{Role: translate.RoleSystem, Parts: []translate.Part{{Type: translate.PartText, Text: "now in Go"}, {Type: translate.PartText, Text: "be brief"}}},
			{Role: translate.RoleSystem, Parts: []translate.Part{{Type: translate.PartText, Text: " "}}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartText, Text: "ok"}}},
		},
	}
	b, err := EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	j := gjson.ParseBytes(b)
	msgs := j.Get("messages").Array()
	if len(msgs) != 4 || msgs[2].Get("role").Str != "system" || msgs[2].Get("content").Str != "now in Go\n\nbe brief" || msgs[3].Get("role").Str != "assistant" {
		t.Errorf("messages %s", j.Get("messages").Raw)
	}
	if u := j.Get("user").Str; len(u) > maxUser || !strings.HasPrefix(u, "u-") {
		t.Errorf("user %q", u)
	}
}
