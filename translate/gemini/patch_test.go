package gemini

import (
	"bytes"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestPatch(t *testing.T) {
	tests := []struct {
		name string
		body string
		o    translate.Overrides
		want string
	}{
		{"nothing to do", `{"contents":[]}`, translate.Overrides{Reasoning: "auto"}, `{"contents":[]}`},
		{"new system instruction", `{"contents":[{"parts":[{"text":"x"}]}]}`, translate.Overrides{SystemPrompt: "Be \"nice\"."},
			`{"contents":[{"parts":[{"text":"x"}]}],"systemInstruction":{"parts":[{"text":"Be \"nice\"."}]}}`},
		{"prepended part", `{"systemInstruction":{"role":"user","parts":[{"text":"client"},{"text":"more"}]},"contents":[]}`, translate.Overrides{SystemPrompt: "proxy"},
			`{"systemInstruction":{"role":"user","parts":[{"text":"proxy"},{"text":"client"},{"text":"more"}]},"contents":[]}`},
		{"snake case system", `{"system_instruction":{"parts":[ ]},"contents":[]}`, translate.Overrides{SystemPrompt: "proxy"},
			`{"system_instruction":{"parts":[{"text":"proxy"}]},"contents":[]}`},
		{"system without parts", `{"systemInstruction":{},"contents":[]}`, translate.Overrides{SystemPrompt: "proxy"},
			`{"systemInstruction":{"parts":[{"text":"proxy"}]},"contents":[]}`},
		{"reasoning off", `{"contents":[],"generationConfig":{"temperature":0.1,"thinkingConfig":{"thinkingLevel":"high","includeThoughts":true}}}`, translate.Overrides{Reasoning: "off"},
			`{"contents":[],"generationConfig":{"temperature":0.1,"thinkingConfig":{"thinkingBudget":0}}}`},
		{"reasoning high keeps includeThoughts", `{"contents":[],"generationConfig":{"thinkingConfig":{"includeThoughts":true,"thinkingBudget":-1}}}`, translate.Overrides{Reasoning: "high"},
			`{"contents":[],"generationConfig":{"thinkingConfig":{"thinkingBudget":24576,"includeThoughts":true}}}`},
		{"reasoning budget, no generation config", `{"contents":[]}`, translate.Overrides{Reasoning: "3000"},
			`{"contents":[],"generationConfig":{"thinkingConfig":{"thinkingBudget":3000}}}`},
		{"snake case generation config", `{"contents":[],"generation_config":{"max_output_tokens":5,"thinking_config":{"thinking_budget":100,"include_thoughts":false}}}`, translate.Overrides{Reasoning: "low", SystemPrompt: "s"},
			`{"contents":[],"generation_config":{"max_output_tokens":5,"thinkingConfig":{"thinkingBudget":4096,"includeThoughts":false}},"systemInstruction":{"parts":[{"text":"s"}]}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Patch([]byte(tc.body), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, got, []byte(tc.want))
		})
	}
	// Untouched bytes stay byte for byte.
	body := `{"contents": [ {"parts": [{"text": "keep   spacing"}]} ],"generationConfig": {"temperature": 0.30}}`
	got, err := Patch([]byte(body), translate.Overrides{Reasoning: "medium"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte(`{"contents": [ {"parts": [{"text": "keep   spacing"}]} ],"generationConfig": {"temperature": 0.30,`)) {
		t.Errorf("patch rewrote other fields: %s", got)
	}
	for _, bad := range []string{`nope`, `{"systemInstruction":5,"contents":[]}`} {
		if _, err := Patch([]byte(bad), translate.Overrides{SystemPrompt: "x"}); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}
