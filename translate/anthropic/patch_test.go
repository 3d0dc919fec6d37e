package anthropic

import (
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestPatch(t *testing.T) {
	tests := []struct {
		name, body string
		o          translate.Overrides
		want       string
	}{
		{"system into absent", `{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[]}`, translate.Overrides{SystemPrompt: "P"},
			`{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[],"system":"P"}`},
		{"system string", `{"system":"S","messages":[]}`, translate.Overrides{SystemPrompt: "P"},
			`{"system":"P\n\nS","messages":[]}`},
		{"system array", `{"system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],"x":1}`, translate.Overrides{SystemPrompt: "P \"q\""},
			`{"system":[{"type":"text","text":"P \"q\""},{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],"x":1}`},
		{"system empty array", `{"system":[]}`, translate.Overrides{SystemPrompt: "P"},
			`{"system":[{"type":"text","text":"P"}]}`},
		{"reasoning off", `{"model":"m","max_tokens":100,"thinking":{"type":"enabled","budget_tokens":2000}}`, translate.Overrides{Reasoning: "off"},
			`{"model":"m","max_tokens":100}`},
		{"reasoning off, none there", `{"model":"m","max_tokens":100}`, translate.Overrides{Reasoning: "off"},
			`{"model":"m","max_tokens":100}`},
		{"reasoning auto", `{"model":"m","temperature":0.5}`, translate.Overrides{Reasoning: "auto"},
			`{"model":"m","temperature":0.5}`},
		{"reasoning high", `{"model":"claude-sonnet-4-5","max_tokens":1000,"temperature":0.2,"top_k":5,"top_p":0.5,"messages":[{"role":"user","content":"q"}]}`, translate.Overrides{Reasoning: "high"},
			`{"model":"claude-sonnet-4-5","max_tokens":25576,"top_p":0.95,"messages":[{"role":"user","content":"q"}],"thinking":{"type":"enabled","budget_tokens":24576}}`},
		{"reasoning budget replaces", `{"model":"claude-sonnet-4-5","max_tokens":50000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[]}`, translate.Overrides{Reasoning: "5000"},
			`{"model":"claude-sonnet-4-5","max_tokens":50000,"thinking":{"type":"enabled","budget_tokens":5000},"messages":[]}`},
		{"reasoning on old model", `{"model":"claude-3-5-haiku-latest","max_tokens":100}`, translate.Overrides{Reasoning: "low"},
			`{"model":"claude-3-5-haiku-latest","max_tokens":100}`},
		{"reasoning with forced tool", `{"model":"claude-sonnet-4-5","max_tokens":100,"tool_choice":{"type":"any"}}`, translate.Overrides{Reasoning: "low"},
			`{"model":"claude-sonnet-4-5","max_tokens":100,"tool_choice":{"type":"any"}}`},
		{"reasoning in tool turn without thinking", `{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"r"}]}]}`, translate.Overrides{Reasoning: "low"},
			`{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"r"}]}]}`},
		{"count_tokens body", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"q"}]}`, translate.Overrides{Reasoning: "low", SystemPrompt: "P"},
			`{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"q"}],"system":"P","thinking":{"type":"enabled","budget_tokens":4096}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Patch([]byte(tt.body), tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	if _, err := Patch([]byte(`{"system":5}`), translate.Overrides{SystemPrompt: "P"}); err == nil {
		t.Error("numeric system accepted")
	}
}
