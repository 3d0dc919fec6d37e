package anthropic

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Claude Code 2.1's own requests, captured by the e2e suite
// (internal/e2e/testdata, copied to translate/testdata/agents).
func readAgentBody(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "agents", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeClaudeCode(t *testing.T) {
	for _, name := range []string{"claude-first.json", "claude-followup.json"} {
		r, err := DecodeRequest(readAgentBody(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// cache_control, context_management, thinking.display and a
		// defer_loading tool are read past; the deferred tool is kept.
		if len(r.Tools) != 12 || r.Tools[10].Name != "DeferredToolPlaceholder" || len(r.Dropped) != 0 {
			t.Errorf("%s: %d tools, dropped %q", name, len(r.Tools), r.Dropped)
		}
		if r.Reasoning == nil || r.Reasoning.Budget != 31999 || r.MaxTokens != 32000 || !r.Stream {
			t.Errorf("%s: reasoning %+v max %d", name, r.Reasoning, r.MaxTokens)
		}
		if !strings.HasPrefix(r.User, `{"device_id":`) || !strings.Contains(r.System, "You are a Claude agent") {
			t.Errorf("%s: user %q system %.60q", name, r.User, r.System)
		}
	}
}

// Claude Code's mid-conversation system messages (Claude Opus 4.8 and
// later: role "system" in messages, with cache_control, clear_at and
// per-turn effort) and the shapes of the current betas.
func TestDecodeMidConversationSystem(t *testing.T) {
	body := readAgentBody(t, "claude-followup.json")
	var err error
	extra := []string{
		// Cleared once a user message follows: gone.
		`{"role":"system","content":"one-turn reminder","clear_at":"next_user_message"}`,
		// Effort-only: sets the effort from here on.
		`{"role":"system","content":[],"output_config":{"effort":"low"}}`,
		`{"role":"user","content":[{"type":"text","text":"and now?","cache_control":{"type":"ephemeral"}}]}`,
		`{"role":"system","content":[{"type":"text","text":"Auto-approve mode is now on.","cache_control":{"type":"ephemeral","ttl":"1h"}},{"type":"tool_reference","tool_name":"WebFetch"}],"clear_at":"next_user_message"}`,
	}
	for _, m := range extra {
		if body, err = sjson.SetRawBytes(body, "messages.-1", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	body, _ = sjson.SetRawBytes(body, "thinking", []byte(`{"type":"adaptive","display":"summarized"}`))
	body, _ = sjson.SetRawBytes(body, "output_config", []byte(`{"effort":"xhigh"}`))
	body, _ = sjson.SetRawBytes(body, "tools.-1", []byte(`{"type":"web_search_20250305","name":"web_search","max_uses":3}`))
	r, err := DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	n := len(r.Messages)
	last := r.Messages[n-1]
	if last.Role != translate.RoleSystem || len(last.Parts) != 1 || last.Parts[0].Text != "Auto-approve mode is now on." {
		t.Fatalf("last message %+v", last)
	}
	if u := r.Messages[n-2]; u.Role != translate.RoleUser || u.Parts[0].Text != "and now?" {
		t.Fatalf("user message %+v", u)
	}
	for _, m := range r.Messages[:n-1] {
		if m.Role == translate.RoleSystem {
			t.Errorf("cleared or empty system message kept: %+v", m)
		}
	}
	if r.Reasoning == nil || r.Reasoning.Effort != "low" {
		t.Errorf("reasoning %+v, want the per-turn effort", r.Reasoning)
	}
	want := []string{`messages.6.content.1: "tool_reference" block of a system message`, `tools.12: server tool "web_search_20250305"`}
	if len(r.Dropped) != 2 || r.Dropped[0] != want[0] || !strings.HasPrefix(r.Dropped[1], want[1]) {
		t.Errorf("dropped %q", r.Dropped)
	}

	// A mid_conv_system block follows its message; a tool search result
	// naming a deferred tool reads as text.
	r, err = DecodeRequest([]byte(`{"model":"m","max_tokens":9,"messages":[
		{"role":"user","content":[{"type":"text","text":"q"},{"type":"mid_conv_system","content":[{"type":"text","text":"be brief"}],"cache_control":{"type":"ephemeral"}}]},
		{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"ToolSearch","input":{"query":"select:WebFetch"}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"tool_reference","tool_name":"WebFetch"}]}]}],
		"output_config":{"effort":"max"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Messages) != 4 || r.Messages[1].Role != translate.RoleSystem || r.Messages[1].Parts[0].Text != "be brief" ||
		r.Messages[3].Parts[0].Content[0].Text != "Tool available: WebFetch" {
		t.Errorf("messages %+v", r.Messages)
	}
	if r.Reasoning == nil || r.Reasoning.Effort != "high" {
		t.Errorf("effort without thinking: %+v", r.Reasoning)
	}
}

// Anthropic as the target of another API's client: system messages join
// the system prompt; a model that takes only an effort gets adaptive
// thinking; a long user id is hashed; the engine's output limit holds.
func TestEncodeAgentShapes(t *testing.T) {
	long := strings.Repeat("u", 300)
	r := &translate.Request{
		Model: "claude-opus-4-8", System: "base", MaxTokens: 100000, MaxOutput: 50000, User: long,
		Reasoning: &translate.Reasoning{Effort: "medium", EffortOnly: true},
		Messages: []translate.Message{
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "q"}}},
			{Role: translate.RoleSystem, Parts: []translate.Part{{Type: translate.PartText, Text: "now in Go"}}},
		},
	}
	b, err := EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	checkRequest(t, b, false)
	j := gjson.ParseBytes(b)
	if j.Get("system").Str != "base\n\nnow in Go" || len(j.Get("messages").Array()) != 1 {
		t.Errorf("system %q messages %s", j.Get("system").Str, j.Get("messages").Raw)
	}
	if j.Get("thinking").Raw != `{"type":"adaptive"}` || j.Get("output_config.effort").Str != "medium" || j.Get("max_tokens").Int() != 50000 {
		t.Errorf("thinking %s output_config %s max_tokens %d", j.Get("thinking").Raw, j.Get("output_config").Raw, j.Get("max_tokens").Int())
	}
	if u := j.Get("metadata.user_id").Str; len(u) > maxUserID || !strings.HasPrefix(u, "u-") {
		t.Errorf("user_id %q", u)
	}
	r.Reasoning.EffortOnly, r.User = false, "short"
	b, _ = EncodeRequest(r)
	if j = gjson.ParseBytes(b); j.Get("thinking.type").Str != "enabled" || j.Get("output_config").Exists() || j.Get("metadata.user_id").Str != "short" {
		t.Errorf("budget thinking: %s", b)
	}
}
