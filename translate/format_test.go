package translate_test

import (
	"reflect"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Every format registers itself with the halves it has.
func TestRegistry(t *testing.T) {
	want := []string{"anthropic", "gemini", "openai-chat", "openai-responses"}
	if got := translate.Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, name := range want {
		if f := translate.Lookup(name); f == nil || f.Name() != name {
			t.Errorf("Lookup(%q) = %v", name, f)
		}
		if translate.Client(name) == nil {
			t.Errorf("%s has no client half", name)
		}
		if translate.Provider(name) == nil {
			t.Errorf("%s has no provider half", name)
		}
		_, counts := translate.Lookup(name).(translate.Counter)
		if counts != (name == "anthropic" || name == "gemini") {
			t.Errorf("%s: counter %v", name, counts)
		}
	}
	if translate.Lookup("openai") != nil || translate.Client("nope") != nil || translate.Provider("nope") != nil {
		t.Error("unknown names found")
	}
}

func TestCounters(t *testing.T) {
	for name, body := range map[string]string{"anthropic": `{"input_tokens":42}`, "gemini": `{"totalTokens":42}`} {
		c := translate.Lookup(name).(translate.Counter)
		if n, ok := c.ReadCount([]byte(body)); !ok || n != 42 {
			t.Errorf("%s: ReadCount = %d, %v", name, n, ok)
		}
		if _, ok := c.ReadCount([]byte(`{"error":{}}`)); ok {
			t.Errorf("%s: count read from an answer without one", name)
		}
		r := &translate.Request{Model: "m", Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "hi"}}}}}
		if b, err := c.EncodeCountRequest(r); err != nil || len(b) == 0 {
			t.Errorf("%s: EncodeCountRequest %s, %v", name, b, err)
		}
	}
}

func TestSetModel(t *testing.T) {
	body := []byte(`{"model":"a","x":1}`)
	for name, want := range map[string]string{
		"openai-chat": `{"model":"b","x":1}`, "anthropic": `{"model":"b","x":1}`, "openai-responses": `{"model":"b","x":1}`,
		"gemini": `{"model":"a","x":1}`, // Gemini's model is in the URL
	} {
		got, err := translate.Provider(name).SetModel(append([]byte(nil), body...), "b")
		if err != nil || string(got) != want {
			t.Errorf("%s: %s, %v", name, got, err)
		}
	}
}
