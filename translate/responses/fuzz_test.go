package responses

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
	"github.com/llmproxy/caddy-llm-proxy/translate/internal/respcheck"
)

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","input":"hi"}`,
		`{"model":"m","instructions":"sys","input":[{"role":"developer","content":"d"},{"role":"user","content":[{"type":"input_text","text":"x"},{"type":"input_image","image_url":"data:image/png;base64,AAAA"}]}],"stream":true}`,
		`{"model":"m","input":[{"role":"user","content":"q"},{"type":"reasoning","summary":[{"type":"summary_text","text":"t"}],"encrypted_content":"llmproxy:sig:abc"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"r"}]}]}`,
		`{"model":"m","input":"q","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"tool_choice":{"type":"function","name":"f"},"text":{"format":{"type":"json_schema","name":"n","schema":{}}},"reasoning":{"effort":"none"},"max_output_tokens":10,"temperature":1,"top_p":1,"parallel_tool_calls":true}`,
		`{"model":"m","input":"q","previous_response_id":"resp_1"}`,
		`{"model":"m","input":[{"type":"item_reference","id":"x"}]}`,
		`{"model":"m","input":[{"type":"reasoning","summary":[],"encrypted_content":"llmproxy:redacted:"}]}`,
		// Codex's shapes: tools in an additional_tools item, namespaces,
		// custom tools, custom calls in history, hosted tools and items.
		`{"model":"m","input":[{"type":"additional_tools","role":"developer","tools":[{"type":"namespace","name":"functions","tools":[{"type":"custom","name":"exec","format":{"type":"grammar","syntax":"lark","definition":"start: /.+/"}},{"type":"function","name":"wait","strict":false,"parameters":{"type":"object"}}]}]},{"type":"message","role":"user","content":[{"type":"input_text","text":"q"}]}],"reasoning":{"effort":"low","context":"all_turns"},"text":{"verbosity":"low"},"prompt_cache_key":"k","client_metadata":{"a":"b"}}`,
		`{"model":"m","input":[{"role":"user","content":"q"},{"type":"custom_tool_call","call_id":"c","name":"exec","namespace":"functions","input":"ls"},{"type":"custom_tool_call_output","call_id":"c","output":[{"type":"input_text","text":"r"}]},{"type":"web_search_call","id":"w"},{"type":"compaction","encrypted_content":"x"}]}`,
		`{"model":"m","input":"q","tools":[{"type":"namespace","name":"ns","tools":[{"type":"function","name":"a.b"},{"type":"web_search"}]},{"type":"web_search","external_web_access":false}],"tool_choice":{"type":"function","name":"a.b","namespace":"ns"}}`,
		`{}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeRequest(body)
		if err != nil {
			var re *translate.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("not a RequestError: %v", err)
			}
			return
		}
		if r.Model == "" || len(r.Messages) == 0 {
			t.Fatalf("accepted a request without model or messages: %s", body)
		}
		for _, m := range r.Messages {
			if len(m.Parts) == 0 {
				t.Fatalf("empty message from %s", body)
			}
		}
		// Every tool is named as every provider takes it, once.
		seen := map[string]bool{}
		for _, tl := range r.Tools {
			if !providerName.MatchString(tl.Name) {
				t.Fatalf("tool name %q from %s", tl.Name, body)
			}
			if seen[tl.Name] && tl.ClientName == "" && tl.Namespace == "" {
				continue // the client declared it twice
			}
			seen[tl.Name] = true
		}
	})
}

var providerName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_-]{0,63}$`)

// A custom tool call's input streams right whatever the arguments'
// fragments: the deltas add up to the done input (respcheck), which is
// what the whole arguments say.
func FuzzStreamCustomInput(f *testing.F) {
	f.Add(`{"input":"a\"b\u00e9\ud83d\ude00 c"}`, uint8(3))
	f.Add(`{ "input" : "x" , "more": 1}`, uint8(1))
	f.Add(`{"q":"echo"}`, uint8(2))
	f.Add(`{"input":"unterminated`, uint8(5))
	f.Add(`{"input":"\ud800\u0041"}`, uint8(1))
	f.Fuzz(func(t *testing.T, args string, cut uint8) {
		fixNow(t)
		n := int(cut%16) + 1
		evs := []translate.StreamEvent{{Type: translate.EvToolStart, ToolCallID: "c", ToolName: "exec", ToolKind: translate.ToolCustom}}
		for s := args; s != ""; {
			k := min(n, len(s))
			evs = append(evs, translate.StreamEvent{Type: translate.EvToolArgs, Args: s[:k]})
			s = s[k:]
		}
		evs = append(evs, translate.StreamEvent{Type: translate.EvFinish, StopReason: translate.StopToolUse})
		events := respcheck.Framing(t, run(translate.StreamOptions{}, evs), false)
		got := events[len(events)-1].Get("response.output.0.input").Str
		// Arguments that are not JSON (a cut stream) keep what was streamed.
		if want := translate.CustomToolInput(args); gjson.Valid(args) && got != want && utf8.ValidString(want) {
			t.Fatalf("input %q, want %q", got, want)
		}
	})
}

// The stream encoder keeps its invariants whatever the event sequence.
func FuzzStreamEncoder(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{1, 1, 4, 5, 5, 4, 5, 2, 3, 1, 7})
	f.Add([]byte{2, 2, 3, 4, 8})
	f.Fuzz(func(t *testing.T, ops []byte) {
		fixNow(t)
		evs := []translate.StreamEvent{}
		for i, op := range ops {
			ev := translate.StreamEvent{Type: translate.EventType(op % 9)}
			switch ev.Type {
			case translate.EvStart:
				ev.ID, ev.Model = "id", "m"
			case translate.EvText, translate.EvThinking, translate.EvSignature:
				ev.Text = strings.Repeat("x", int(op/9)%3)
				ev.Redacted = op&0x80 != 0
			case translate.EvToolStart, translate.EvToolArgs:
				ev.Index = int(op/9) % 3
				ev.ToolName, ev.ToolCallID = "f", "c"
				if op&0x40 != 0 {
					ev.Args = `{"a":1}`
				}
			case translate.EvUsage:
				ev.Usage = translate.Usage{Input: int64(i), Output: 1}
			case translate.EvFinish:
				ev.StopReason = []translate.StopReason{translate.StopEnd, translate.StopMaxTokens, translate.StopToolUse}[int(op/9)%3]
			}
			evs = append(evs, ev)
		}
		evs = append(evs, translate.StreamEvent{Type: translate.EvFinish, StopReason: translate.StopEnd})
		// Fragments are whole objects here, so several make invalid JSON.
		respcheck.Framing(t, run(translate.StreamOptions{}, evs), false)
	})
}
