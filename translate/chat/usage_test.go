package chat

import (
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestReadUsage(t *testing.T) {
	u, ok := ReadUsage([]byte(`{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19,
		"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":3}}}`))
	if !ok || u != (translate.Usage{Input: 12, Output: 7, Cached: 4, Reasoning: 3}) || u.Total() != 19 {
		t.Errorf("usage = %+v, %v", u, ok)
	}
	if _, ok := ReadUsage([]byte(`{"choices":[{"delta":{}}],"usage":null}`)); ok {
		t.Error("null usage read as usage")
	}
}

func TestIsUsageOnlyChunk(t *testing.T) {
	cases := map[string]bool{
		`{"choices":[],"usage":{"prompt_tokens":1}}`:                          true,
		`{"usage":{"prompt_tokens":1}}`:                                       true,
		`{"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":1}}`: false,
		`{"choices":[],"usage":null}`:                                         false,
	}
	for in, want := range cases {
		if got := IsUsageOnlyChunk([]byte(in)); got != want {
			t.Errorf("IsUsageOnlyChunk(%s) = %v", in, got)
		}
	}
}

func TestAskStreamUsage(t *testing.T) {
	out, added, err := AskStreamUsage([]byte(`{"model":"m","stream":true}`))
	if err != nil || !added || string(out) != `{"model":"m","stream":true,"stream_options":{"include_usage":true}}` {
		t.Errorf("%s %v %v", out, added, err)
	}
	in := []byte(`{"stream_options":{"include_usage":true}}`)
	out, added, err = AskStreamUsage(in)
	if err != nil || added || string(out) != string(in) {
		t.Errorf("client already asked: %s %v %v", out, added, err)
	}
	out, added, _ = AskStreamUsage([]byte(`{"stream_options":{"include_usage":false,"x":1}}`))
	if !added || string(out) != `{"stream_options":{"include_usage":true,"x":1}}` {
		t.Errorf("client said false: %s %v", out, added)
	}
}
