package chat

import (
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestPatch(t *testing.T) {
	cases := []struct {
		name, body string
		o          translate.Overrides
		want       string
	}{
		{"system first", `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.3}`, translate.Overrides{SystemPrompt: "Be nice.\n\"ok\""},
			`{"model":"m","messages":[{"role":"system","content":"Be nice.\n\"ok\""},{"role":"user","content":"hi"}],"temperature":0.3}`},
		{"system into empty array", `{"model":"m","messages":[ ]}`, translate.Overrides{SystemPrompt: "S"},
			`{"model":"m","messages":[{"role":"system","content":"S"}]}`},
		{"effort set", `{"model":"m","messages":[],"reasoning_effort":"low"}`, translate.Overrides{Reasoning: "high"},
			`{"model":"m","messages":[],"reasoning_effort":"high"}`},
		{"budget to effort", `{"model":"m","messages":[]}`, translate.Overrides{Reasoning: "5000"},
			`{"model":"m","messages":[],"reasoning_effort":"medium"}`},
		{"off deletes", `{"model":"m","messages":[],"reasoning_effort":"high","max_tokens":5}`, translate.Overrides{Reasoning: "off"},
			`{"model":"m","messages":[],"max_tokens":5}`},
		{"auto leaves", `{"model":"m","messages":[],"reasoning_effort":"high"}`, translate.Overrides{Reasoning: "auto"},
			`{"model":"m","messages":[],"reasoning_effort":"high"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Patch([]byte(c.body), c.o)
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, got, c.want)
		})
	}
	// Untouched bytes stay byte-identical.
	body := `{"model":"m",  "messages": [ {"role":"user","content":"x"} ], "x": {"keep":  1}}`
	got, err := Patch([]byte(body), translate.Overrides{SystemPrompt: "S"})
	if err != nil || string(got) != `{"model":"m",  "messages": [{"role":"system","content":"S"}, {"role":"user","content":"x"} ], "x": {"keep":  1}}` {
		t.Errorf("patched %s (%v)", got, err)
	}
	if got, _ := Patch([]byte(body), translate.Overrides{}); string(got) != body {
		t.Errorf("no overrides changed the body: %s", got)
	}
	for _, bad := range []string{`{"model":"m"}`, `{"messages":"x"}`, `{"messages":[`} {
		if _, err := Patch([]byte(bad), translate.Overrides{SystemPrompt: "S"}); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}
