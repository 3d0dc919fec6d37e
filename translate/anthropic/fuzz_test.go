package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(fullRequest))
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a.b","name":"f","input":{"x":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"zz","content":[{"type":"text","text":"r"}]}]}],"thinking":{"type":"enabled","budget_tokens":99999}}`))
	f.Add([]byte(`{"model":"claude-opus-4-1","max_tokens":1,"system":[{"type":"text","text":""}],"messages":[{"role":"assistant","content":"   "}],"thinking":{"type":"adaptive"},"tool_choice":{"type":"none"}}`))
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"data:image/png;base64,xx"}}]}],"output_format":{"type":"json_schema","schema":{}}}`))
	// Claude Code's current shapes: mid-conversation system messages,
	// adaptive thinking with effort, deferred tools, server tools.
	f.Add([]byte(`{"model":"claude-opus-4-8","max_tokens":9,"thinking":{"type":"adaptive","display":"omitted"},"output_config":{"effort":"xhigh"},"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},
		"tools":[{"name":"T","input_schema":{"type":"object"},"defer_loading":true,"cache_control":{"type":"ephemeral"}},{"type":"web_search_20250305","name":"web_search"}],
		"messages":[{"role":"user","content":[{"type":"text","text":"q","cache_control":{"type":"ephemeral"}},{"type":"mid_conv_system","content":[{"type":"text","text":"s"}]}]},
		{"role":"system","content":"x","clear_at":"next_user_message"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"T","input":{}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"tool_reference","tool_name":"T"}]}]},
		{"role":"system","content":[],"output_config":{"effort":"low"}},{"role":"system","content":[{"type":"text","text":"now"},{"type":"tool_reference","tool_name":"T"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeRequest(body)
		if err != nil {
			var re *translate.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("not a RequestError: %v", err)
			}
			return
		}
		out, err := EncodeRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		checkRequest(t, out, false)
		if _, err := DecodeRequest(out); err != nil {
			t.Fatalf("re-decode: %v\n%s", err, out)
		}
		cb, _ := EncodeCountTokens(r)
		checkRequest(t, cb, true)
		if _, err := Patch(body, translate.Overrides{SystemPrompt: "P", Reasoning: "high"}); err != nil {
			var re *translate.RequestError
			if !errors.As(err, &re) {
				t.Logf("patch: %v", err)
			}
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(responseBody))
	f.Add([]byte(`{"id":"x","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}`))
	f.Add([]byte(`{"type":"error","error":{"type":"api_error","message":"x"}}`))
	f.Add([]byte(`{"content":"str","usage":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeResponse(body)
		if err != nil {
			return
		}
		out := EncodeResponse(r)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
		if _, err := DecodeResponse(out); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzStreamDecoder(f *testing.F) {
	for _, name := range []string{"text.sse", "tool.sse", "reasoning.sse"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "streams", "anthropic", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"))
	f.Add([]byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":-1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n"))
	f.Fuzz(func(t *testing.T, sse []byte) {
		d := NewStreamDecoder()
		enc := NewStreamEncoder(translate.StreamOptions{Model: "m"})
		rd := translate.NewSSEReader(bytes.NewReader(sse))
		var evs []translate.StreamEvent
		var out []byte
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			n := len(evs)
			evs, err = d.Decode(evs, ev)
			if err != nil {
				break
			}
			for i := n; i < len(evs); i++ {
				out = enc.Encode(out, &evs[i])
			}
		}
		if len(evs) > 0 && evs[0].Type != translate.EvStart && evs[0].Type != translate.EvError {
			t.Fatalf("first event %v", evs[0].Type)
		}
		ends := 0
		for i, e := range evs {
			if e.Type == translate.EvFinish || e.Type == translate.EvError {
				ends++
				if i != len(evs)-1 {
					t.Fatalf("events after the end: %+v", evs)
				}
			}
		}
		if ends > 1 || (ends == 1) != d.Finished() {
			t.Fatalf("ends %d finished %v", ends, d.Finished())
		}
		if d.Finished() {
			checkStream(t, out)
		}
	})
}
