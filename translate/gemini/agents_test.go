package gemini

import (
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Gemini has no system instructions partway through: they join the
// system instruction. "$schema", which Gemini refuses, leaves tool and
// response schemas (Claude Code's tools declare draft 2020-12).
func TestEncodeAgentShapes(t *testing.T) {
	r := &translate.Request{
		Model: "gemini-2.5-flash", System: "base",
		Messages: []translate.Message{
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "q"}}},
			{Role: translate.RoleSystem, Parts: []translate.Part{{Type: translate.PartText, Text: "now in Go"}}},
		},
		Tools: []translate.Tool{{Name: "Read", Parameters: []byte(`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
			"properties":{"$schema":{"type":"string","description":"a property named so"},"n":{"type":"object","$schema":"x","properties":{}}},"additionalProperties":false}`)}},
		ResponseFormat: &translate.ResponseFormat{Type: "json_schema", Schema: []byte(`{"$schema":"x","type":"object"}`)},
	}
	b, err := EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	j := gjson.ParseBytes(b)
	if j.Get("systemInstruction.parts.0.text").Str != "base\n\nnow in Go" || len(j.Get("contents").Array()) != 1 {
		t.Errorf("system %s contents %s", j.Get("systemInstruction").Raw, j.Get("contents").Raw)
	}
	p := j.Get("tools.0.functionDeclarations.0.parametersJsonSchema")
	if p.Get(`\$schema`).Exists() || p.Get(`properties.n.\$schema`).Exists() || !p.Get(`properties.\$schema`).Exists() ||
		p.Get("additionalProperties").Raw != "false" {
		t.Errorf("parameters %s", p.Raw)
	}
	if s := j.Get("generationConfig.responseJsonSchema"); s.Raw != `{"type":"object"}` {
		t.Errorf("response schema %s", s.Raw)
	}
}
