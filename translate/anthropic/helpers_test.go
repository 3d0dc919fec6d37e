package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ptrF(f float64) *float64 { return &f }

func ptrI(i int) *int { return &i }

func ptrB(b bool) *bool { return &b }

var idRe = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// checkRequest asserts what the real API demands of a Messages body.
func checkRequest(t *testing.T, body []byte, count bool) {
	t.Helper()
	if !gjson.ValidBytes(body) {
		t.Fatalf("invalid JSON: %s", body)
	}
	root := gjson.ParseBytes(body)
	if root.Get("model").Type != gjson.String {
		t.Errorf("model missing: %s", body)
	}
	if !count && root.Get("max_tokens").Int() < 1 {
		t.Errorf("max_tokens missing: %s", body)
	}
	if count && root.Get("max_tokens").Exists() {
		t.Errorf("count_tokens body has max_tokens: %s", body)
	}
	if root.Get("tool_choice").Exists() && !root.Get("tools").Exists() {
		t.Errorf("tool_choice without tools: %s", body)
	}
	if th := root.Get("thinking"); th.Exists() {
		budget := th.Get("budget_tokens").Int()
		switch th.Get("type").Str {
		case "adaptive":
			if th.Raw != `{"type":"adaptive"}` || !root.Get("output_config.effort").Exists() {
				t.Errorf("bad adaptive thinking %s, output_config %s", th.Raw, root.Get("output_config").Raw)
			}
		case "enabled":
			if budget < 1024 {
				t.Errorf("bad thinking %s", th.Raw)
			}
		default:
			t.Errorf("bad thinking %s", th.Raw)
		}
		if !count && root.Get("max_tokens").Int() <= budget {
			t.Errorf("max_tokens %d <= budget %d", root.Get("max_tokens").Int(), budget)
		}
		if root.Get("temperature").Exists() || root.Get("top_k").Exists() {
			t.Errorf("temperature/top_k with thinking: %s", body)
		}
		if p := root.Get("top_p"); p.Exists() && p.Num < 0.95 {
			t.Errorf("top_p < 0.95 with thinking: %s", body)
		}
	}
	msgs := root.Get("messages").Array()
	if len(msgs) == 0 {
		t.Fatalf("no messages: %s", body)
	}
	var prevCalls []string
	lastPlainUser := -1
	for i, m := range msgs {
		role := m.Get("role").Str
		want := "user"
		if i%2 == 1 {
			want = "assistant"
		}
		if role != want {
			t.Fatalf("message %d role %q, want %q: %s", i, role, want, body)
		}
		content := m.Get("content").Array()
		if len(content) == 0 {
			t.Errorf("message %d has no content: %s", i, body)
		}
		var calls []string
		answered := map[string]int{}
		seenOther := false
		hasResult := false
		for j, c := range content {
			switch typ := c.Get("type").Str; typ {
			case "text":
				if strings.TrimSpace(c.Get("text").Str) == "" {
					t.Errorf("message %d block %d: empty text", i, j)
				}
				seenOther = true
			case "image":
				src := c.Get("source")
				switch src.Get("type").Str {
				case "base64":
					if src.Get("media_type").Str == "" || src.Get("data").Str == "" {
						t.Errorf("bad image %s", c.Raw)
					}
				case "url":
					if src.Get("url").Str == "" {
						t.Errorf("bad image %s", c.Raw)
					}
				default:
					t.Errorf("bad image %s", c.Raw)
				}
				seenOther = true
			case "tool_use":
				if role != "assistant" {
					t.Errorf("tool_use in %s message", role)
				}
				id := c.Get("id").Str
				if !idRe.MatchString(id) {
					t.Errorf("bad tool_use id %q", id)
				}
				if !c.Get("input").IsObject() {
					t.Errorf("tool_use input not an object: %s", c.Raw)
				}
				calls = append(calls, id)
			case "tool_result":
				if role != "user" {
					t.Errorf("tool_result in %s message", role)
				}
				if seenOther {
					t.Errorf("message %d: tool_result after other content: %s", i, m.Raw)
				}
				hasResult = true
				answered[c.Get("tool_use_id").Str]++
			case "thinking":
				if role != "assistant" || c.Get("signature").Str == "" {
					t.Errorf("bad thinking block %s", c.Raw)
				}
			case "redacted_thinking":
				if role != "assistant" || c.Get("data").Str == "" {
					t.Errorf("bad redacted block %s", c.Raw)
				}
			default:
				t.Errorf("unexpected block type %q", typ)
			}
		}
		if role == "user" {
			for _, id := range prevCalls {
				if answered[id] != 1 {
					t.Errorf("message %d: tool_use %q answered %d times: %s", i, id, answered[id], body)
				}
			}
			for id := range answered {
				found := false
				for _, c := range prevCalls {
					found = found || c == id
				}
				if !found {
					t.Errorf("message %d: tool_result for unknown id %q: %s", i, id, body)
				}
			}
			if !hasResult {
				lastPlainUser = i
			}
		}
		prevCalls = calls
		if i == len(msgs)-1 && role == "assistant" {
			last := content[len(content)-1]
			if last.Get("type").Str == "text" && strings.TrimRight(last.Get("text").Str, " \n\t") != last.Get("text").Str {
				t.Errorf("final assistant text ends with whitespace")
			}
		}
	}
	if root.Get("thinking").Exists() && lastPlainUser+1 < len(msgs) {
		first := msgs[lastPlainUser+1].Get("content.0.type").Str
		if first != "thinking" && first != "redacted_thinking" {
			t.Errorf("thinking on, but the current turn starts with %q: %s", first, body)
		}
	}
}

func decodeAll(t testing.TB, sse []byte) []translate.StreamEvent {
	t.Helper()
	d := NewStreamDecoder()
	rd := translate.NewSSEReader(bytes.NewReader(sse))
	var evs []translate.StreamEvent
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if evs, err = d.Decode(evs, ev); err != nil {
			t.Fatal(err)
		}
	}
	if !d.Finished() {
		t.Fatal("decoder not finished")
	}
	return evs
}

func encodeAll(o translate.StreamOptions, evs []translate.StreamEvent) []byte {
	e := NewStreamEncoder(o)
	var out []byte
	for i := range evs {
		out = e.Encode(out, &evs[i])
	}
	return out
}

// checkStream asserts the framing of an encoded Messages stream.
func checkStream(t *testing.T, out []byte) {
	t.Helper()
	rd := translate.NewSSEReader(bytes.NewReader(out))
	starts, open, next := 0, -1, 0
	deltas := 0
	openType := ""
	ended := false
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ended {
			t.Fatalf("event after the end: %s", ev.Raw)
		}
		if !bytes.HasSuffix(ev.Raw, []byte("\n\n")) || !bytes.HasPrefix(ev.Raw, []byte("event: ")) {
			t.Fatalf("bad framing %q", ev.Raw)
		}
		typ := gjson.GetBytes(ev.Data, "type").Str
		if typ != string(ev.Name) {
			t.Fatalf("event name %q, data type %q", ev.Name, typ)
		}
		if typ != "message_start" && typ != "error" && starts == 0 {
			t.Fatalf("%s before message_start", typ)
		}
		idx := int(gjson.GetBytes(ev.Data, "index").Int())
		switch typ {
		case "message_start":
			starts++
			if starts > 1 {
				t.Fatal("two message_start")
			}
		case "content_block_start":
			if open >= 0 {
				t.Fatalf("block %d opened while %d open", idx, open)
			}
			if idx != next {
				t.Fatalf("block index %d, want %d", idx, next)
			}
			open, next, deltas = idx, next+1, 0
			openType = gjson.GetBytes(ev.Data, "content_block.type").Str
		case "content_block_delta":
			if idx != open {
				t.Fatalf("delta for %d while %d open", idx, open)
			}
			deltas++
			dt := gjson.GetBytes(ev.Data, "delta.type").Str
			ok := map[string][]string{"text": {"text_delta"}, "thinking": {"thinking_delta", "signature_delta"}, "tool_use": {"input_json_delta"}}[openType]
			found := false
			for _, o := range ok {
				found = found || o == dt
			}
			if !found {
				t.Fatalf("%s in a %s block", dt, openType)
			}
		case "content_block_stop":
			if idx != open {
				t.Fatalf("stop for %d while %d open", idx, open)
			}
			if openType == "text" && deltas == 0 {
				t.Fatal("empty text block")
			}
			open = -1
		case "message_delta":
			if open >= 0 {
				t.Fatal("message_delta with an open block")
			}
		case "message_stop", "error":
			ended = true
		}
	}
	if !ended {
		t.Fatal("stream does not end")
	}
}

// sdkStream runs sse through anthropic-sdk-go's streaming client and
// accumulates the Message.
func sdkStream(t *testing.T, sse []byte) (anthropic.Message, []string, error) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(sse)
	}))
	defer srv.Close()
	client := anthropic.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("k"), option.WithMaxRetries(0))
	stream := client.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5",
		MaxTokens: 100,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	defer stream.Close()
	var msg anthropic.Message
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("accumulate: %v", err)
		}
	}
	return msg, types, stream.Err()
}

func readStream(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "streams", "anthropic", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const fullRequest = `{
  "model": "claude-sonnet-4-5",
  "max_tokens": 2048,
  "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Answer in English."}],
  "messages": [
    {"role": "user", "content": "What is the weather in Paris? Here is a map."},
    {"role": "user", "content": [
      {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
      {"type": "image", "source": {"type": "url", "url": "https://example.com/map.jpg"}}
    ]},
    {"role": "assistant", "content": [
      {"type": "thinking", "thinking": "Need the weather tool.", "signature": "EqQBsig"},
      {"type": "redacted_thinking", "data": "EmwKAhgBredacted"},
      {"type": "text", "text": "Checking."},
      {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
      {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}}
    ]},
    {"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18C, cloudy"},
      {"type": "tool_result", "tool_use_id": "toolu_01B", "is_error": true, "content": [
        {"type": "text", "text": "clock broken"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/AA=="}}
      ]},
      {"type": "text", "text": "Also, is it late?"}
    ]}
  ],
  "tools": [
    {"name": "get_weather", "description": "Weather for a city", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, "cache_control": {"type": "ephemeral"}},
    {"type": "custom", "name": "get_time", "input_schema": {"type": "object", "properties": {}}}
  ],
  "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
  "temperature": 0.5,
  "top_p": 0.9,
  "top_k": 40,
  "stop_sequences": ["END", "STOP"],
  "stream": true,
  "thinking": {"type": "enabled", "budget_tokens": 2000},
  "metadata": {"user_id": "user-123"}
}`

const responseBody = `{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
"content":[{"type":"thinking","thinking":"Let me see.","signature":"EqQBsig"},{"type":"redacted_thinking","data":"EmwKred"},
{"type":"text","text":"I'll look it up."},{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA"}},
{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}],
"stop_reason":"tool_use","stop_sequence":null,
"usage":{"input_tokens":100,"cache_creation_input_tokens":20,"cache_read_input_tokens":300,"output_tokens":50,"service_tier":"standard"}}`
