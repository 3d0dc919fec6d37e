package providers

import (
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestLookupModel(t *testing.T) {
	tests := []struct {
		model     string
		maxOutput int
		reasoning Support
	}{
		{"gpt-4o", 16384, No},
		{"gpt-4o-mini-2024-07-18", 16384, No},
		{"chatgpt-4o-latest", 16384, No},
		{"gpt-4.1-nano", 32768, No},
		{"gpt-4", 8192, No},
		{"gpt-4-turbo-2024-04-09", 4096, No},
		{"gpt-3.5-turbo", 4096, No},
		{"o1", 100000, Yes},
		{"o1-mini", 65536, Yes},
		{"o3-mini", 100000, Yes},
		{"o4-mini-2025-04-16", 100000, Yes},
		{"gpt-5", 128000, Yes},
		{"gpt-5.1-codex", 128000, Yes},
		{"gpt-5-chat-latest", 16384, No},
		{"openai/gpt-4o", 16384, No},
		{"claude-3-5-sonnet-20241022", 8192, No},
		{"claude-3-haiku-20240307", 4096, No},
		{"claude-3-7-sonnet-20250219", 64000, Yes},
		{"claude-sonnet-4-20250514", 64000, Yes},
		{"claude-opus-4-20250514", 32000, Yes},
		{"claude-opus-4-1-20250805", 32000, Yes},
		{"claude-sonnet-4-5-20250929", 64000, Yes},
		{"claude-haiku-4-5", 64000, Yes},
		{"claude-opus-4-6", 128000, Yes},
		{"claude-opus-4-8", 128000, Yes},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", 64000, Yes},
		{"claude-sonnet-4-5@20250929", 64000, Yes},
		{"anthropic/claude-opus-4.6", 128000, Yes},
		{"gemini-2.5-flash", 65536, Yes},
		{"models/gemini-2.5-pro", 65536, Yes},
		{"gemini-2.0-flash-001", 8192, No},
		{"gemini-1.5-pro", 8192, No},
		{"gemini-3-pro-preview", 65536, Yes},
		{"deepseek-chat", 0, Unknown},
		{"gpt-6.1-sol", 0, Unknown},
	}
	for _, tt := range tests {
		f, ok := LookupModel(tt.model)
		if f.MaxOutput != tt.maxOutput || f.Reasoning != tt.reasoning || ok != (tt.reasoning != Unknown) {
			t.Errorf("LookupModel(%q) = %+v %v, want max %d reasoning %d", tt.model, f, ok, tt.maxOutput, tt.reasoning)
		}
	}
	for _, m := range []string{"claude-opus-4-7", "claude-opus-5-5-20261101", "claude-sonnet-5"} {
		if f, _ := LookupModel(m); !f.EffortOnly {
			t.Errorf("%s takes a thinking budget? %+v", m, f)
		}
	}
	for _, m := range []string{"claude-opus-4-6", "claude-sonnet-4-5", "claude-3-7-sonnet"} {
		if f, _ := LookupModel(m); f.EffortOnly {
			t.Errorf("%s takes no thinking budget? %+v", m, f)
		}
	}
	if OutputLimit("gpt-4o", 0) != 16384 || OutputLimit("gpt-4o", 4000) != 4000 || OutputLimit("x", 0) != 0 {
		t.Error("OutputLimit")
	}
}

func fp(f float64) *float64 { return &f }

func TestFit(t *testing.T) {
	shared := &translate.Reasoning{Budget: 31999}
	choice := &translate.ToolChoice{Mode: "tool", Name: "f"}
	base := translate.Request{Model: "x", MaxTokens: 32000, Reasoning: shared, Temperature: fp(1), TopP: fp(0.95), ToolChoice: choice}

	// Claude Code's request (thinking budget 31999, 32000 tokens) to gpt-4o.
	r := base
	r.Model = "gpt-4o"
	Fit(&r, 0)
	if r.Reasoning != nil || r.MaxTokens != 16384 || r.MaxOutput != 16384 || r.TopP == nil || r.ToolChoice != choice {
		t.Errorf("gpt-4o: %+v", r)
	}
	// To an OpenAI reasoning model: kept.
	r = base
	r.Model = "o4-mini"
	Fit(&r, 0)
	if r.Reasoning == nil || r.Reasoning.Budget != 31999 || r.MaxTokens != 32000 {
		t.Errorf("o4-mini: %+v", r)
	}
	// "minimal" where it is taken (GPT-5), "low" where it is not.
	for model, want := range map[string]string{"gpt-5-mini": "minimal", "o3": "low", "claude-opus-4-7": "low", "some-model": "minimal"} {
		r = base
		r.Model = model
		r.Reasoning = &translate.Reasoning{Effort: "minimal", Budget: translate.BudgetLow}
		Fit(&r, 0)
		if r.Reasoning == nil || r.Reasoning.Effort != want || r.Reasoning.BudgetTokens() != translate.BudgetLow {
			t.Errorf("minimal to %s: %+v, want effort %s", model, r.Reasoning, want)
		}
	}
	// Gemini 2.5 Flash: the budget within its range.
	r = base
	r.Model = "gemini-2.5-flash"
	Fit(&r, 0)
	if r.Reasoning == nil || r.Reasoning.Budget != 24576 || shared.Budget != 31999 {
		t.Errorf("gemini-2.5-flash: %+v (shared %+v)", r.Reasoning, shared)
	}
	r.Reasoning = &translate.Reasoning{Effort: "low"}
	r.Model = "gemini-2.5-flash-lite"
	Fit(&r, 0)
	if r.Reasoning.Budget != translate.BudgetLow || r.Reasoning.Effort != "low" {
		t.Errorf("flash-lite: %+v", r.Reasoning)
	}
	// Gemini 2.5 Pro cannot stop thinking; 2.0 cannot think.
	for _, m := range []string{"gemini-2.5-pro", "gemini-2.0-flash"} {
		r = base
		r.Model, r.Reasoning = m, &translate.Reasoning{Off: true}
		Fit(&r, 0)
		if r.Reasoning != nil {
			t.Errorf("%s: %+v", m, r.Reasoning)
		}
	}
	r = base
	r.Model, r.Reasoning = "gemini-2.5-flash", &translate.Reasoning{Off: true}
	Fit(&r, 0)
	if r.Reasoning == nil || !r.Reasoning.Off {
		t.Errorf("flash off: %+v", r.Reasoning)
	}
	// Claude: the one-sampler rule, effort-only thinking.
	r = base
	r.Model = "claude-opus-4-8"
	Fit(&r, 0)
	if r.TopP != nil || r.Temperature == nil || r.Reasoning == nil || !r.Reasoning.EffortOnly || shared.EffortOnly || r.MaxTokens != 32000 {
		t.Errorf("opus-4-8: %+v %+v", r, r.Reasoning)
	}
	r = base
	r.Model = "claude-opus-5-5"
	Fit(&r, 0)
	if r.Temperature != nil || r.TopP != nil || r.ToolChoice.Mode != "auto" || choice.Mode != "tool" {
		t.Errorf("opus-5-5: %+v", r)
	}
	// A configured limit replaces the family's, and sets a missing one.
	r = base
	r.Model = "claude-sonnet-4-5"
	Fit(&r, 100000)
	if r.MaxTokens != 32000 || r.MaxOutput != 100000 {
		t.Errorf("configured above: %+v", r)
	}
	r.MaxTokens = 0
	Fit(&r, 2000)
	if r.MaxTokens != 2000 || r.MaxOutput != 2000 {
		t.Errorf("configured, none asked: %+v", r)
	}
	// An unknown model is left alone.
	r = base
	r.Model = "deepseek-chat"
	Fit(&r, 0)
	if r.Reasoning != shared || r.MaxTokens != 32000 || r.MaxOutput != 0 || r.TopP == nil {
		t.Errorf("unknown: %+v", r)
	}
}

// A same-format body is patched with the configured level in the form its
// model takes, as Fit gives a translated request.
func TestFitOverrides(t *testing.T) {
	for _, c := range []struct{ level, model, want string }{
		{"minimal", "gpt-5", "minimal"},
		{"minimal", "o3", "low"},
		{"minimal", "claude-sonnet-4-5", "low"},
		{"high", "o3", "high"},
		{"high", "gpt-4o", ""},
		{"minimal", "gpt-4o-mini", ""},
		{"minimal", "some-local-model", "minimal"},
		{"auto", "gpt-4o", "auto"},
	} {
		o := FitOverrides(translate.Overrides{Reasoning: c.level, SystemPrompt: "s"}, c.model)
		if o.Reasoning != c.want || o.SystemPrompt != "s" {
			t.Errorf("%s for %s: %+v, want reasoning %q", c.level, c.model, o, c.want)
		}
	}
}
