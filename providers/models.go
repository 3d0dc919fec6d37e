package providers

import (
	"strings"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// What the proxy knows of model families, so that a translated request
// never asks a provider for what it refuses: reasoning parameters for a
// model without reasoning, more output tokens than the model writes,
// settings a model family rejects. Same-format requests pass through as
// the client sent them; this applies to translated ones (see Fit).
//
// Sources: the providers' model pages (OpenAI model reference, Anthropic
// models overview and migration guides, Gemini models and thinking
// guides), as of November 2026; the fake upstreams emulate the refusals
// (internal/fakeupstream/refusals.go).

// Support says whether a model family takes a parameter.
type Support uint8

const (
	// Unknown: not in the table; requests are left as the client asked.
	Unknown Support = iota
	Yes
	No
)

// Family is what the proxy knows of the models whose names start with
// Prefix.
type Family struct {
	Prefix string
	// MaxOutput is the most output tokens (thinking included) a request
	// may ask for; 0 if unknown.
	MaxOutput int
	// Reasoning: whether the family takes reasoning parameters (OpenAI
	// reasoning_effort, Anthropic thinking, Gemini thinkingConfig).
	Reasoning Support
	// EffortOnly: reasoning is an effort level, never a token budget
	// (Claude Opus 4.7 and later refuse thinking.budget_tokens).
	EffortOnly bool
	// Minimal: the effort "minimal" is taken (GPT-5); other reasoning
	// families refuse it and get "low", the least they take.
	Minimal bool
	// AlwaysThinks: reasoning cannot be turned off (asking refuses).
	AlwaysThinks bool
	// MinBudget and MaxBudget bound a thinking budget (Gemini); 0 = none.
	MinBudget, MaxBudget int
	// OneSampler: temperature or top_p, not both (recent Claude models).
	OneSampler bool
	// NoSampling: temperature, top_p and top_k are refused (Claude 5.5).
	NoSampling bool
	// NoForcedTool: a forced tool choice is refused (Claude 5.5, Fable 5.1).
	NoForcedTool bool
}

// families is the table, looked up by longest prefix of the normalized
// model name (see LookupModel).
var families = []Family{
	// OpenAI (Chat Completions and every service that serves these names).
	{Prefix: "gpt-3.5", MaxOutput: 4096, Reasoning: No},
	{Prefix: "gpt-4", MaxOutput: 8192, Reasoning: No},
	{Prefix: "gpt-4-turbo", MaxOutput: 4096, Reasoning: No},
	{Prefix: "gpt-4-1106", MaxOutput: 4096, Reasoning: No},
	{Prefix: "gpt-4-0125", MaxOutput: 4096, Reasoning: No},
	{Prefix: "gpt-4o", MaxOutput: 16384, Reasoning: No},
	{Prefix: "chatgpt-4o", MaxOutput: 16384, Reasoning: No},
	{Prefix: "gpt-4.1", MaxOutput: 32768, Reasoning: No},
	{Prefix: "gpt-4.5", MaxOutput: 16384, Reasoning: No},
	{Prefix: "o1", MaxOutput: 100000, Reasoning: Yes},
	{Prefix: "o1-mini", MaxOutput: 65536, Reasoning: Yes},
	{Prefix: "o1-preview", MaxOutput: 32768, Reasoning: Yes},
	{Prefix: "o3", MaxOutput: 100000, Reasoning: Yes},
	{Prefix: "o4-mini", MaxOutput: 100000, Reasoning: Yes},
	{Prefix: "codex-mini", MaxOutput: 100000, Reasoning: Yes},
	{Prefix: "gpt-5", MaxOutput: 128000, Reasoning: Yes, Minimal: true},
	{Prefix: "gpt-5-chat", MaxOutput: 16384, Reasoning: No},
	{Prefix: "gpt-oss", Reasoning: Yes},

	// Anthropic (also through Bedrock, Vertex and OpenRouter names).
	{Prefix: "claude-instant", MaxOutput: 4096, Reasoning: No},
	{Prefix: "claude-2", MaxOutput: 4096, Reasoning: No},
	{Prefix: "claude-3-haiku", MaxOutput: 4096, Reasoning: No},
	{Prefix: "claude-3-opus", MaxOutput: 4096, Reasoning: No},
	{Prefix: "claude-3-sonnet", MaxOutput: 4096, Reasoning: No},
	{Prefix: "claude-3-5", MaxOutput: 8192, Reasoning: No},
	{Prefix: "claude-3-7-sonnet", MaxOutput: 64000, Reasoning: Yes},
	{Prefix: "claude-sonnet-4", MaxOutput: 64000, Reasoning: Yes},
	{Prefix: "claude-opus-4", MaxOutput: 32000, Reasoning: Yes},
	{Prefix: "claude-opus-4-1", MaxOutput: 32000, Reasoning: Yes, OneSampler: true},
	{Prefix: "claude-sonnet-4-5", MaxOutput: 64000, Reasoning: Yes, OneSampler: true},
	{Prefix: "claude-haiku-4-5", MaxOutput: 64000, Reasoning: Yes, OneSampler: true},
	{Prefix: "claude-opus-4-5", MaxOutput: 64000, Reasoning: Yes, OneSampler: true},
	{Prefix: "claude-opus-4-6", MaxOutput: 128000, Reasoning: Yes, OneSampler: true},
	{Prefix: "claude-sonnet-4-6", MaxOutput: 128000, Reasoning: Yes, OneSampler: true},
	{Prefix: "claude-opus-4-7", MaxOutput: 128000, Reasoning: Yes, EffortOnly: true, OneSampler: true},
	{Prefix: "claude-opus-4-8", MaxOutput: 128000, Reasoning: Yes, EffortOnly: true, OneSampler: true},
	{Prefix: "claude-opus-5", MaxOutput: 128000, Reasoning: Yes, EffortOnly: true, OneSampler: true},
	{Prefix: "claude-sonnet-5", MaxOutput: 128000, Reasoning: Yes, EffortOnly: true, OneSampler: true},
	{Prefix: "claude-fable-5", MaxOutput: 128000, Reasoning: Yes, EffortOnly: true, OneSampler: true},
	{Prefix: "claude-mythos-5", MaxOutput: 128000, Reasoning: Yes, EffortOnly: true, OneSampler: true},
	{Prefix: "claude-fable-5-1", MaxOutput: 128000, Reasoning: Yes, EffortOnly: true, AlwaysThinks: true, NoSampling: true, NoForcedTool: true},
	{Prefix: "claude-opus-5-5", MaxOutput: 128000, Reasoning: Yes, EffortOnly: true, AlwaysThinks: true, NoSampling: true, NoForcedTool: true},
	{Prefix: "claude-sonnet-5-5", MaxOutput: 128000, Reasoning: Yes, EffortOnly: true, AlwaysThinks: true, NoSampling: true, NoForcedTool: true},
	{Prefix: "claude-haiku-5-5", MaxOutput: 128000, Reasoning: Yes, EffortOnly: true, NoSampling: true, NoForcedTool: true},

	// Gemini.
	{Prefix: "gemini-1.0", MaxOutput: 2048, Reasoning: No},
	{Prefix: "gemini-1.5", MaxOutput: 8192, Reasoning: No},
	{Prefix: "gemini-2.0", MaxOutput: 8192, Reasoning: No},
	{Prefix: "gemini-2.0-flash-thinking", MaxOutput: 65536, Reasoning: Yes},
	{Prefix: "gemini-2.5", MaxOutput: 65536, Reasoning: Yes},
	{Prefix: "gemini-2.5-pro", MaxOutput: 65536, Reasoning: Yes, AlwaysThinks: true, MinBudget: 128, MaxBudget: 32768},
	{Prefix: "gemini-2.5-flash", MaxOutput: 65536, Reasoning: Yes, MaxBudget: 24576},
	{Prefix: "gemini-2.5-flash-lite", MaxOutput: 65536, Reasoning: Yes, MinBudget: 512, MaxBudget: 24576},
	{Prefix: "gemini-3", MaxOutput: 65536, Reasoning: Yes, AlwaysThinks: true},
	{Prefix: "gemma-", MaxOutput: 8192, Reasoning: No},
}

// normalizeModel makes the names other hosts give a model comparable
// with the table's: the part after the last '/' (OpenRouter's
// "anthropic/claude-sonnet-4.5", Gemini's "models/gemini-2.5-flash"),
// Claude ids from "claude-" on (Bedrock's "us.anthropic.claude-..."),
// with dots as dashes (OpenRouter's "claude-opus-4.6"), lower case.
func normalizeModel(model string) string {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	if i := strings.Index(m, "claude-"); i >= 0 {
		m = strings.ReplaceAll(m[i:], ".", "-")
	}
	return m
}

// LookupModel is the family of a model name, by the longest prefix in the
// table; false when the proxy knows nothing of it.
func LookupModel(model string) (Family, bool) {
	m := normalizeModel(model)
	best := -1
	for i := range families {
		if strings.HasPrefix(m, families[i].Prefix) && (best < 0 || len(families[i].Prefix) > len(families[best].Prefix)) {
			best = i
		}
	}
	if best < 0 {
		return Family{}, false
	}
	return families[best], true
}

// OutputLimit is the most output tokens a translated request to model may
// ask for: the upstream's configured max_output_tokens when set (> 0),
// else the family's known limit, else 0 (unknown).
func OutputLimit(model string, configured int) int {
	if configured > 0 {
		return configured
	}
	f, _ := LookupModel(model)
	return f.MaxOutput
}

// FitOverrides is what Fit does to reasoning, for the configured overrides
// a same-format body is patched with: a family that takes no reasoning
// gets none, and one that does not take the effort "minimal" gets "low".
// A model the table does not know keeps what was configured.
func FitOverrides(o translate.Overrides, model string) translate.Overrides {
	f, known := LookupModel(model)
	if !known || o.ReasoningOverride() == nil {
		return o
	}
	if f.Reasoning == No {
		o.Reasoning = ""
	} else {
		o.Reasoning = f.effort(o.Reasoning)
	}
	return o
}

// effort is the reasoning effort the family takes for the one asked for:
// "low" for "minimal" where it has no "minimal".
func (f Family) effort(e string) string {
	if e == "minimal" && !f.Minimal {
		return "low"
	}
	return e
}

// Fit changes a translated request so that its provider takes it: it is
// what the engine calls on the canonical request for one upstream, after
// the upstream's overrides and before the provider's encoder. configured
// is the upstream's max_output_tokens (0 = not set), which replaces the
// family's limit (it may be higher, for a model the table underestimates).
//
//   - Reasoning is dropped for a family that takes none (gpt-4o, gpt-4.1,
//     claude-3-5, gemini-2.0...), and "off" for one that always thinks; a
//     budget is kept within the family's range; an effort-only family is
//     marked so (Reasoning.EffortOnly); the effort "minimal" becomes "low"
//     for a family that does not take it (o-series, Claude).
//   - MaxTokens is cut to the limit, and set to the configured limit when
//     the client asked for none; MaxOutput is set to the limit, for
//     encoders that choose max tokens themselves (Anthropic).
//   - Sampling parameters a family refuses are dropped (top_p when it
//     takes temperature or top_p only); a forced tool choice becomes
//     "auto" for a family that refuses it.
//
// Fit never changes what r's pointers point to (the engine shares one
// decoded request between attempts): it replaces them.
func Fit(r *translate.Request, configured int) {
	f, known := LookupModel(r.Model)
	if rs := r.Reasoning; rs != nil && known {
		switch {
		case f.Reasoning == No:
			r.Reasoning = nil
		case rs.Off && f.AlwaysThinks:
			r.Reasoning = nil
		case rs.Off:
		default:
			c := *rs
			c.EffortOnly = f.EffortOnly
			c.Effort = f.effort(c.Effort)
			if f.MaxBudget > 0 {
				c.Budget = min(max(c.BudgetTokens(), f.MinBudget), f.MaxBudget)
			}
			r.Reasoning = &c
		}
	}
	limit := f.MaxOutput
	if configured > 0 {
		limit = configured
	}
	if limit > 0 {
		r.MaxOutput = limit
		if r.MaxTokens > limit || (r.MaxTokens == 0 && configured > 0) {
			r.MaxTokens = limit
		}
	}
	if !known {
		return
	}
	if f.NoSampling {
		r.Temperature, r.TopP, r.TopK = nil, nil, nil
	} else if f.OneSampler && r.Temperature != nil && r.TopP != nil {
		r.TopP = nil
	}
	if tc := r.ToolChoice; f.NoForcedTool && tc != nil && (tc.Mode == "required" || tc.Mode == "tool") {
		r.ToolChoice = &translate.ToolChoice{Mode: "auto"}
	}
}
