package translate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/tidwall/gjson"
)

// ---------------------------------------------------------------------------
// helpers

func anthJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func anthF(f float64) *float64 { return &f }
func anthI(i int) *int         { return &i }
func anthB(b bool) *bool       { return &b }

var anthIDRe = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// anthCheckRequest asserts what the real API demands of a Messages body.
func anthCheckRequest(t *testing.T, body []byte, count bool) {
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
		if th.Get("type").Str != "enabled" || budget < 1024 {
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
				if !anthIDRe.MatchString(id) {
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

func anthDecodeAll(t testing.TB, sse []byte) []StreamEvent {
	t.Helper()
	d := NewAnthropicStreamDecoder()
	rd := NewSSEReader(bytes.NewReader(sse))
	var evs []StreamEvent
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

func anthEncodeAll(o StreamOptions, evs []StreamEvent) []byte {
	e := NewAnthropicStreamEncoder(o)
	var out []byte
	for i := range evs {
		out = e.Encode(out, &evs[i])
	}
	return out
}

// anthCheckStream asserts the framing of an encoded Messages stream.
func anthCheckStream(t *testing.T, out []byte) {
	t.Helper()
	rd := NewSSEReader(bytes.NewReader(out))
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

// anthSDKStream runs sse through anthropic-sdk-go's streaming client and
// accumulates the Message.
func anthSDKStream(t *testing.T, sse []byte) (anthropic.Message, []string, error) {
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

func anthReadStream(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "streams", "anthropic", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---------------------------------------------------------------------------
// request decoding

const anthFullRequest = `{
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

func TestDecodeAnthropicRequest(t *testing.T) {
	r, err := DecodeAnthropicRequest([]byte(anthFullRequest))
	if err != nil {
		t.Fatal(err)
	}
	want := &Request{
		Model:     "claude-sonnet-4-5",
		System:    "You are terse.\n\nAnswer in English.",
		MaxTokens: 2048,
		Messages: []Message{
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "What is the weather in Paris? Here is a map."}}},
			{Role: RoleUser, Parts: []Part{
				{Type: PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="},
				{Type: PartImage, URL: "https://example.com/map.jpg"},
			}},
			{Role: RoleAssistant, Parts: []Part{
				{Type: PartThinking, Text: "Need the weather tool.", Signature: "EqQBsig"},
				{Type: PartThinking, Redacted: true, Data: "EmwKAhgBredacted"},
				{Type: PartText, Text: "Checking."},
				{Type: PartToolCall, ToolCallID: "toolu_01A", ToolName: "get_weather", Arguments: `{"city": "Paris"}`},
				{Type: PartToolCall, ToolCallID: "toolu_01B", ToolName: "get_time", Arguments: `{}`},
			}},
			{Role: RoleTool, Parts: []Part{
				{Type: PartToolResult, ToolCallID: "toolu_01A", ToolName: "get_weather", Content: []Part{{Type: PartText, Text: "18C, cloudy"}}},
				{Type: PartToolResult, ToolCallID: "toolu_01B", ToolName: "get_time", IsError: true, Content: []Part{
					{Type: PartText, Text: "clock broken"},
					{Type: PartImage, MediaType: "image/jpeg", Data: "/9j/AA=="},
				}},
			}},
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "Also, is it late?"}}},
		},
		Tools: []Tool{
			{Name: "get_weather", Description: "Weather for a city", Parameters: json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}`)},
			{Name: "get_time", Parameters: json.RawMessage(`{"type": "object", "properties": {}}`)},
		},
		ToolChoice:        &ToolChoice{Mode: "required"},
		ParallelToolCalls: anthB(false),
		Temperature:       anthF(0.5),
		TopP:              anthF(0.9),
		TopK:              anthI(40),
		Stop:              []string{"END", "STOP"},
		Stream:            true,
		Reasoning:         &Reasoning{Budget: 2000},
		User:              "user-123",
	}
	if g, w := anthJSON(t, r), anthJSON(t, want); g != w {
		t.Errorf("decoded\n got %s\nwant %s", g, w)
	}
}

func TestDecodeAnthropicRequestVariants(t *testing.T) {
	base := func(extra string) string {
		return `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]` + extra + `}`
	}
	tests := []struct {
		name, body string
		check      func(t *testing.T, r *Request)
	}{
		{"tool_choice auto", base(`,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto"}`), func(t *testing.T, r *Request) {
			if r.ToolChoice.Mode != "auto" || r.ParallelToolCalls != nil {
				t.Errorf("%+v", r.ToolChoice)
			}
		}},
		{"tool_choice tool", base(`,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"}`), func(t *testing.T, r *Request) {
			if *r.ToolChoice != (ToolChoice{Mode: "tool", Name: "f"}) {
				t.Errorf("%+v", r.ToolChoice)
			}
		}},
		{"tool_choice none", base(`,"tool_choice":{"type":"none"}`), func(t *testing.T, r *Request) {
			if r.ToolChoice.Mode != "none" {
				t.Errorf("%+v", r.ToolChoice)
			}
		}},
		{"thinking disabled", base(`,"thinking":{"type":"disabled"}`), func(t *testing.T, r *Request) {
			if r.Reasoning == nil || !r.Reasoning.Off {
				t.Errorf("%+v", r.Reasoning)
			}
		}},
		{"thinking adaptive", base(`,"thinking":{"type":"adaptive"}`), func(t *testing.T, r *Request) {
			if r.Reasoning == nil || r.Reasoning.Effort != "medium" {
				t.Errorf("%+v", r.Reasoning)
			}
		}},
		{"thinking adaptive effort", base(`,"thinking":{"type":"adaptive"},"output_config":{"effort":"high"}`), func(t *testing.T, r *Request) {
			if r.Reasoning == nil || r.Reasoning.Effort != "high" {
				t.Errorf("%+v", r.Reasoning)
			}
		}},
		{"system string", base(`,"system":"be nice"`), func(t *testing.T, r *Request) {
			if r.System != "be nice" {
				t.Errorf("%q", r.System)
			}
		}},
		{"structured output", base(`,"output_format":{"type":"json_schema","schema":{"type":"object"}}`), func(t *testing.T, r *Request) {
			if r.ResponseFormat == nil || r.ResponseFormat.Type != "json_schema" || string(r.ResponseFormat.Schema) != `{"type":"object"}` {
				t.Errorf("%+v", r.ResponseFormat)
			}
		}},
		{"tool result only", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1"}]}]}`, func(t *testing.T, r *Request) {
			if len(r.Messages) != 3 || r.Messages[2].Role != RoleTool || len(r.Messages[2].Parts) != 1 || r.Messages[2].Parts[0].ToolName != "f" {
				t.Errorf("%+v", r.Messages)
			}
		}},
		{"null fields", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"system":null,"tools":null,"tool_choice":null,"temperature":null,"stop_sequences":null,"thinking":null}`, func(t *testing.T, r *Request) {
			if r.System != "" || r.Tools != nil || r.ToolChoice != nil || r.Temperature != nil || r.Reasoning != nil {
				t.Errorf("%+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeAnthropicRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

func TestDecodeAnthropicRequestErrors(t *testing.T) {
	tests := []struct{ name, body, msg string }{
		{"not json", `{"model":`, "There was an error parsing the body"},
		{"array", `[]`, "JSON object"},
		{"no max_tokens", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "max_tokens: Field required"},
		{"bad max_tokens", `{"model":"m","max_tokens":"5","messages":[{"role":"user","content":"hi"}]}`, "max_tokens: Input should be a valid integer"},
		{"zero max_tokens", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, "max_tokens: Input should be greater than or equal to 1"},
		{"no model", `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, "model: Field required"},
		{"no messages", `{"model":"m","max_tokens":5}`, "messages: Field required"},
		{"empty messages", `{"model":"m","max_tokens":5,"messages":[]}`, "at least one message"},
		{"bad role", `{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"hi"}]}`, "messages.0.role"},
		{"document", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"}}]}]}`, `"document" is not supported`},
		{"server tool", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}`, `server tool "web_search_20250305"`},
		{"tool_use in user", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]}]}`, "only allowed in assistant"},
		{"tool_result in assistant", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"a"}]}]}`, "only allowed in user"},
		{"bad tool_choice", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tool_choice":{"type":"sometimes"}}`, "tool_choice.type"},
		{"bad thinking", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled"}}`, "thinking.budget_tokens"},
		{"file image", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, `image source type "file"`},
		{"bad temperature", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}`, "temperature"},
		{"bad content", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":5}]}`, "messages.0.content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeAnthropicRequest([]byte(tt.body))
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a RequestError", err)
			}
			if !strings.Contains(re.Message, tt.msg) {
				t.Errorf("message %q does not contain %q", re.Message, tt.msg)
			}
		})
	}
	if _, err := DecodeAnthropicRequest([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)); err != nil {
		t.Errorf("minimal request: %v", err)
	}
	re := anthFieldErr("max_tokens", "Field required")
	if re.Param != "max_tokens" {
		t.Errorf("param %q", re.Param)
	}
}

// ---------------------------------------------------------------------------
// request encoding

func TestEncodeAnthropicRequestBasic(t *testing.T) {
	r := &Request{
		Model:  "claude-sonnet-4-5",
		System: "Be brief.",
		Messages: []Message{
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "Hi <there> & \"you\"\n"}}},
		},
		Tools: []Tool{
			{Name: "lookup", Description: "Look up", Parameters: json.RawMessage(`{"type":"object",
				"properties":{"q":{"type":"string"}}}`)},
			{Name: "noargs"},
			{Name: "notype", Parameters: json.RawMessage(`{"properties":{}}`)},
		},
		ToolChoice:  &ToolChoice{Mode: "tool", Name: "lookup"},
		Temperature: anthF(1.7),
		TopP:        anthF(0.8),
		TopK:        anthI(5),
		Stop:        []string{"###", "  ", "\n\nHuman:"},
		Stream:      true,
		User:        "u-1",
		MaxTokens:   300,
	}
	b, err := EncodeAnthropicRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	anthCheckRequest(t, b, false)
	want := `{"model":"claude-sonnet-4-5","max_tokens":300,"system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"Hi <there> & \"you\"\n"}]}],` +
		`"tools":[{"name":"lookup","description":"Look up","input_schema":{"type":"object","properties":{"q":{"type":"string"}}}},` +
		`{"name":"noargs","input_schema":{"type":"object","properties":{}}},{"name":"notype","input_schema":{"properties":{},"type":"object"}}],` +
		`"tool_choice":{"type":"tool","name":"lookup"},"temperature":1,"top_k":5,"top_p":0.8,"stop_sequences":["###","\n\nHuman:"],"stream":true,"metadata":{"user_id":"u-1"}}`
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
}

func TestEncodeAnthropicToolChoice(t *testing.T) {
	tools := []Tool{{Name: "f"}}
	tests := []struct {
		choice   *ToolChoice
		parallel *bool
		want     string
	}{
		{nil, nil, ``},
		{&ToolChoice{Mode: "auto"}, nil, `{"type":"auto"}`},
		{&ToolChoice{Mode: "required"}, nil, `{"type":"any"}`},
		{&ToolChoice{Mode: "none"}, anthB(false), `{"type":"none"}`},
		{&ToolChoice{Mode: "tool", Name: "f"}, anthB(false), `{"type":"tool","name":"f","disable_parallel_tool_use":true}`},
		{nil, anthB(false), `{"type":"auto","disable_parallel_tool_use":true}`},
		{nil, anthB(true), ``},
		{&ToolChoice{Mode: "required"}, anthB(false), `{"type":"any","disable_parallel_tool_use":true}`},
	}
	for _, tt := range tests {
		r := &Request{Model: "claude-sonnet-4-5", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "x"}}}},
			Tools: tools, ToolChoice: tt.choice, ParallelToolCalls: tt.parallel}
		b, _ := EncodeAnthropicRequest(r)
		if got := gjson.GetBytes(b, "tool_choice").Raw; got != tt.want {
			t.Errorf("%+v %v: got %s want %s", tt.choice, tt.parallel, got, tt.want)
		}
	}
	// No tools: no tool_choice at all.
	r := &Request{Model: "m", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "x"}}}},
		ToolChoice: &ToolChoice{Mode: "required"}, ParallelToolCalls: anthB(false)}
	b, _ := EncodeAnthropicRequest(r)
	if gjson.GetBytes(b, "tool_choice").Exists() {
		t.Errorf("tool_choice without tools: %s", b)
	}
}

// An OpenAI-shaped history: system, tool calls answered by separate tool
// messages, a user follow-up, consecutive user messages.
func TestEncodeAnthropicAlternation(t *testing.T) {
	r := &Request{
		Model: "claude-sonnet-4-5",
		Messages: []Message{
			{Role: RoleAssistant, Parts: []Part{{Type: PartText, Text: "Hello, how can I help?"}}},
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "Weather in Paris and Rome?"}}},
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "   "}, {Type: PartImage, URL: "data:image/jpeg;base64,/9j/4AAQ"}}},
			{Role: RoleAssistant, Parts: []Part{
				{Type: PartThinking, Text: "unsigned reasoning from another provider"},
				{Type: PartText, Text: ""},
				{Type: PartToolCall, ToolCallID: "call_abc", ToolName: "weather", Arguments: `{"city":"Paris"}`},
			}},
			{Role: RoleAssistant, Parts: []Part{
				{Type: PartToolCall, ToolCallID: "call.rome:1", ToolName: "weather", Arguments: `not json`},
			}},
			{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "call.rome:1", Content: []Part{{Type: PartText, Text: "25C"}}}}},
			{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "call_abc", Content: []Part{{Type: PartText, Text: "18C"}}}}},
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "Thanks. And London?"}}},
			{Role: RoleAssistant, Parts: []Part{{Type: PartText, Text: "London is "}}},
		},
	}
	b, err := EncodeAnthropicRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	anthCheckRequest(t, b, false)
	rome := anthToolID("call.rome:1")
	if !strings.HasPrefix(rome, "call_rome_1_") {
		t.Errorf("sanitized id %q", rome)
	}
	want := `[` +
		`{"role":"user","content":[{"type":"text","text":"(conversation continues)"}]},` +
		`{"role":"assistant","content":[{"type":"text","text":"Hello, how can I help?"}]},` +
		`{"role":"user","content":[{"type":"text","text":"Weather in Paris and Rome?"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"}}]},` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"call_abc","name":"weather","input":{"city":"Paris"}},{"type":"tool_use","id":"` + rome + `","name":"weather","input":{}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"` + rome + `","content":"25C"},{"type":"tool_result","tool_use_id":"call_abc","content":"18C"},{"type":"text","text":"Thanks. And London?"}]},` +
		`{"role":"assistant","content":[{"type":"text","text":"London is"}]}]`
	if got := gjson.GetBytes(b, "messages").Raw; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestEncodeAnthropicToolIDRepair(t *testing.T) {
	r := &Request{
		Model: "claude-sonnet-4-5",
		Messages: []Message{
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "go"}}},
			{Role: RoleAssistant, Parts: []Part{
				{Type: PartToolCall, ToolCallID: "a", ToolName: "f", Arguments: `{}`},
				{Type: PartToolCall, ToolCallID: "b", ToolName: "g", Arguments: `{}`},
				{Type: PartToolCall, ToolName: "h", Arguments: `{}`}, // no id
			}},
			{Role: RoleTool, Parts: []Part{
				{Type: PartToolResult, ToolCallID: "a", Content: []Part{{Type: PartText, Text: "A"}}},
				{Type: PartToolResult, ToolCallID: "zzz", ToolName: "old", IsError: true, Content: []Part{{Type: PartText, Text: "stale"}, {Type: PartImage, Data: "iVBORw0KGgo="}}},
				{Type: PartToolResult, Content: []Part{{Type: PartText, Text: "H"}}}, // no id: first unanswered
			}},
		},
	}
	b, _ := EncodeAnthropicRequest(r)
	anthCheckRequest(t, b, false)
	user := gjson.GetBytes(b, "messages.2.content")
	hID := gjson.GetBytes(b, "messages.1.content.2.id").Str
	if !strings.HasPrefix(hID, "toolu_") {
		t.Errorf("made-up id %q", hID)
	}
	got := []string{}
	for _, c := range user.Array() {
		got = append(got, c.Get("type").Str+":"+c.Get("tool_use_id").Str+":"+c.Get("content").String()+c.Get("text").Str)
	}
	want := []string{
		"tool_result:a:A",
		// "b" had no result; the one without an id took it.
		"tool_result:b:H",
		"tool_result:" + hID + ":" + anthMissingResult,
		"text::Error from tool call old (zzz):\nstale",
		"image::",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if !gjson.GetBytes(b, "messages.2.content.2.is_error").Bool() {
		t.Errorf("placeholder result not is_error")
	}
}

// OpenAI-compatible servers that number calls per turn reuse ids.
func TestEncodeAnthropicReusedToolIDs(t *testing.T) {
	call := func(id string) Message {
		return Message{Role: RoleAssistant, Parts: []Part{{Type: PartToolCall, ToolCallID: id, ToolName: "f", Arguments: "{}"}}}
	}
	result := func(id, text string) Message {
		return Message{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: id, Content: []Part{{Type: PartText, Text: text}}}}}
	}
	r := &Request{Model: "claude-sonnet-4-5", Messages: []Message{
		{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "q"}}},
		call("call_0"), result("call_0", "first"),
		call("call_0"), result("call_0", "second"),
	}}
	b, _ := EncodeAnthropicRequest(r)
	anthCheckRequest(t, b, false)
	got := []string{
		gjson.GetBytes(b, "messages.1.content.0.id").Str, gjson.GetBytes(b, "messages.2.content.0.tool_use_id").Str,
		gjson.GetBytes(b, "messages.3.content.0.id").Str, gjson.GetBytes(b, "messages.4.content.0.tool_use_id").Str,
		gjson.GetBytes(b, "messages.4.content.0.content").Str,
	}
	if want := []string{"call_0", "call_0", "call_0_2", "call_0_2", "second"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}

func TestEncodeAnthropicImagesAndResults(t *testing.T) {
	r := &Request{
		Model: "claude-sonnet-4-5",
		Messages: []Message{
			{Role: RoleUser, Parts: []Part{
				{Type: PartImage, MediaType: "image/webp", Data: "UklGRg=="},
				{Type: PartImage, Data: "R0lGODlh"},
				{Type: PartImage, URL: "https://x.test/a.png"},
				{Type: PartImage, URL: "data:image/png;base64,iVBOR"},
				{Type: PartText, Text: "describe"},
			}},
			{Role: RoleAssistant, Parts: []Part{{Type: PartImage, URL: "https://x.test/drop.png"}, {Type: PartToolCall, ToolCallID: "t1", ToolName: "shot", Arguments: `{}`}}},
			{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "t1", Content: []Part{
				{Type: PartText, Text: "screenshot:"},
				{Type: PartImage, URL: "https://x.test/s.png"},
			}}}},
		},
	}
	b, _ := EncodeAnthropicRequest(r)
	anthCheckRequest(t, b, false)
	want := `[{"type":"image","source":{"type":"base64","media_type":"image/webp","data":"UklGRg=="}},` +
		`{"type":"image","source":{"type":"base64","media_type":"image/gif","data":"R0lGODlh"}},` +
		`{"type":"image","source":{"type":"url","url":"https://x.test/a.png"}},` +
		`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}},` +
		`{"type":"text","text":"describe"}]`
	if got := gjson.GetBytes(b, "messages.0.content").Raw; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := gjson.GetBytes(b, "messages.1.content").Raw; got != `[{"type":"tool_use","id":"t1","name":"shot","input":{}}]` {
		t.Errorf("assistant: %s", got)
	}
	wantRes := `[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"screenshot:"},{"type":"image","source":{"type":"url","url":"https://x.test/s.png"}}]}]`
	if got := gjson.GetBytes(b, "messages.2.content").Raw; got != wantRes {
		t.Errorf("result: %s", got)
	}
}

func TestAnthropicFamilyMaxTokens(t *testing.T) {
	tests := []struct {
		model       string
		family, def int
	}{
		{"claude-3-haiku-20240307", 4096, 4096},
		{"claude-3-opus-20240229", 4096, 4096},
		{"claude-3-5-sonnet-20241022", 8192, 8192},
		{"claude-3-5-haiku-latest", 8192, 8192},
		{"claude-3-7-sonnet-20250219", 64000, 8192},
		{"claude-opus-4-20250514", 32000, 8192},
		{"claude-opus-4-0", 32000, 8192},
		{"claude-opus-4-1", 32000, 8192},
		{"claude-opus-4-1-20250805", 32000, 8192},
		{"claude-opus-4@20250514", 32000, 8192},
		{"claude-opus-4-5-20251101", 64000, 8192},
		{"claude-sonnet-4-20250514", 64000, 8192},
		{"claude-sonnet-4-5", 64000, 8192},
		{"claude-haiku-4-5-20251001", 64000, 8192},
		{"anthropic.claude-sonnet-4-5-20250929-v1:0", 64000, 8192},
		{"gpt-4o", 0, 8192},
		{"my-model", 0, 8192},
	}
	for _, tt := range tests {
		if got := anthFamilyMax(tt.model); got != tt.family {
			t.Errorf("%s: family max %d, want %d", tt.model, got, tt.family)
		}
		r := &Request{Model: tt.model, Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "x"}}}}}
		b, _ := EncodeAnthropicRequest(r)
		if got := gjson.GetBytes(b, "max_tokens").Int(); got != int64(tt.def) {
			t.Errorf("%s: default max_tokens %d, want %d", tt.model, got, tt.def)
		}
		r.MaxTokens = 100000
		b, _ = EncodeAnthropicRequest(r)
		want := int64(100000)
		if tt.family > 0 {
			want = int64(tt.family)
		}
		if got := gjson.GetBytes(b, "max_tokens").Int(); got != want {
			t.Errorf("%s: capped max_tokens %d, want %d", tt.model, got, want)
		}
	}
}

func TestEncodeAnthropicThinking(t *testing.T) {
	user := Message{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "think"}}}
	tests := []struct {
		name       string
		r          Request
		budget     int64 // 0 = thinking off
		maxTokens  int64
		temp, topK bool
		topP       float64
	}{
		{"effort high default max", Request{Model: "claude-sonnet-4-5", Messages: []Message{user}, Reasoning: &Reasoning{Effort: "high"},
			Temperature: anthF(0.2), TopK: anthI(3), TopP: anthF(0.5)}, 24576, 8192 + 24576, false, false, 0.95},
		{"small budget raised to 1024", Request{Model: "claude-sonnet-4-5", Messages: []Message{user}, Reasoning: &Reasoning{Budget: 100}, MaxTokens: 4000},
			1024, 4000, false, false, 0},
		{"client max below budget", Request{Model: "claude-sonnet-4-5", Messages: []Message{user}, Reasoning: &Reasoning{Effort: "low"}, MaxTokens: 1000, TopP: anthF(0.99)},
			4096, 5096, false, false, 0.99},
		{"opus 4 cap", Request{Model: "claude-opus-4-1", Messages: []Message{user}, Reasoning: &Reasoning{Effort: "high"}},
			24576, 32000, false, false, 0},
		{"budget above family max", Request{Model: "claude-opus-4-1", Messages: []Message{user}, Reasoning: &Reasoning{Budget: 50000}},
			31999, 32000, false, false, 0},
		{"no thinking on claude-3-5", Request{Model: "claude-3-5-sonnet-latest", Messages: []Message{user}, Reasoning: &Reasoning{Effort: "high"}, Temperature: anthF(0.3)},
			0, 8192, true, false, 0},
		{"off", Request{Model: "claude-sonnet-4-5", Messages: []Message{user}, Reasoning: &Reasoning{Off: true}, Temperature: anthF(0.3)},
			0, 8192, true, false, 0},
		{"forced tool", Request{Model: "claude-sonnet-4-5", Messages: []Message{user}, Reasoning: &Reasoning{Effort: "low"},
			Tools: []Tool{{Name: "f"}}, ToolChoice: &ToolChoice{Mode: "required"}}, 0, 8192, false, false, 0},
		{"tool turn without thinking", Request{Model: "claude-sonnet-4-5", Reasoning: &Reasoning{Effort: "low"}, Messages: []Message{
			user,
			{Role: RoleAssistant, Parts: []Part{{Type: PartThinking, Text: "no signature"}, {Type: PartToolCall, ToolCallID: "c1", ToolName: "f", Arguments: "{}"}}},
			{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "c1"}}},
		}}, 0, 8192, false, false, 0},
		{"tool turn with signed thinking", Request{Model: "claude-sonnet-4-5", Reasoning: &Reasoning{Effort: "low"}, Messages: []Message{
			user,
			{Role: RoleAssistant, Parts: []Part{{Type: PartThinking, Text: "plan", Signature: "sig"}, {Type: PartToolCall, ToolCallID: "c1", ToolName: "f", Arguments: "{}"}}},
			{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "c1"}}},
			{Role: RoleAssistant, Parts: []Part{{Type: PartToolCall, ToolCallID: "c2", ToolName: "f", Arguments: "{}"}}},
			{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "c2"}}},
		}}, 4096, 8192 + 4096, false, false, 0},
		{"old tool turn without thinking", Request{Model: "claude-sonnet-4-5", Reasoning: &Reasoning{Effort: "low"}, Messages: []Message{
			user,
			{Role: RoleAssistant, Parts: []Part{{Type: PartToolCall, ToolCallID: "c1", ToolName: "f", Arguments: "{}"}}},
			{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "c1"}}},
			{Role: RoleAssistant, Parts: []Part{{Type: PartText, Text: "done"}}},
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "next question"}}},
		}}, 4096, 8192 + 4096, false, false, 0},
		{"prefill without thinking", Request{Model: "claude-sonnet-4-5", Reasoning: &Reasoning{Effort: "low"}, Messages: []Message{
			user, {Role: RoleAssistant, Parts: []Part{{Type: PartText, Text: "{"}}},
		}}, 0, 8192, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := EncodeAnthropicRequest(&tt.r)
			if err != nil {
				t.Fatal(err)
			}
			anthCheckRequest(t, b, false)
			root := gjson.ParseBytes(b)
			if got := root.Get("thinking.budget_tokens").Int(); got != tt.budget {
				t.Errorf("budget %d, want %d (%s)", got, tt.budget, b)
			}
			if got := root.Get("max_tokens").Int(); got != tt.maxTokens {
				t.Errorf("max_tokens %d, want %d", got, tt.maxTokens)
			}
			if root.Get("temperature").Exists() != tt.temp || root.Get("top_k").Exists() != tt.topK {
				t.Errorf("temperature/top_k presence: %s", b)
			}
			if tt.topP != 0 && root.Get("top_p").Num != tt.topP {
				t.Errorf("top_p %v, want %v", root.Get("top_p").Num, tt.topP)
			}
		})
	}
}

func TestEncodeAnthropicThinkingHistory(t *testing.T) {
	r := &Request{Model: "claude-sonnet-4-5", Messages: []Message{
		{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "q"}}},
		{Role: RoleAssistant, Parts: []Part{
			{Type: PartThinking, Text: "signed", Signature: "EqQB"},
			{Type: PartThinking, Redacted: true, Data: "EmwK"},
			{Type: PartThinking, Text: "gemini-ish thought"},
			{Type: PartText, Text: "answer"},
		}},
		{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "more"}}},
	}}
	b, _ := EncodeAnthropicRequest(r)
	anthCheckRequest(t, b, false)
	want := `[{"type":"thinking","thinking":"signed","signature":"EqQB"},{"type":"redacted_thinking","data":"EmwK"},{"type":"text","text":"answer"}]`
	if got := gjson.GetBytes(b, "messages.1.content").Raw; got != want {
		t.Errorf("got %s", got)
	}
}

func TestEncodeAnthropicResponseFormat(t *testing.T) {
	r := &Request{Model: "m", System: "Sys.", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "x"}}}},
		ResponseFormat: &ResponseFormat{Type: "json_schema", Name: "out", Schema: json.RawMessage(`{"type": "object",
		 "properties": {"a": {"type": "integer"}}}`)}}
	b, _ := EncodeAnthropicRequest(r)
	sys := gjson.GetBytes(b, "system").Str
	if !strings.HasPrefix(sys, "Sys.\n\nAnswer with only a JSON object that matches this JSON Schema") ||
		!strings.HasSuffix(sys, `{"type":"object","properties":{"a":{"type":"integer"}}}`) {
		t.Errorf("system %q", sys)
	}
	r.System, r.ResponseFormat = "", &ResponseFormat{Type: "json_object"}
	b, _ = EncodeAnthropicRequest(r)
	if sys := gjson.GetBytes(b, "system").Str; !strings.HasPrefix(sys, "Answer with only a JSON object") {
		t.Errorf("system %q", sys)
	}
	r.ResponseFormat = &ResponseFormat{Type: "text"}
	b, _ = EncodeAnthropicRequest(r)
	if gjson.GetBytes(b, "system").Exists() {
		t.Errorf("text format changed system: %s", b)
	}
}

func TestEncodeAnthropicEdgeHistories(t *testing.T) {
	tests := []Request{
		{Model: "m"}, // no messages at all
		{Model: "m", Messages: []Message{{Role: RoleAssistant, Parts: []Part{{Type: PartText, Text: "   "}}}}},
		{Model: "m", Messages: []Message{{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "x"}}}}},
		{Model: "m", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "q"}}}, {Role: RoleAssistant, Parts: []Part{{Type: PartToolCall, ToolCallID: "c", ToolName: "f"}}}, {Role: RoleUser, Parts: []Part{{Type: PartText, Text: "never mind"}}}}},
		{Model: "m", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "\xff bad utf8 \u2028"}}}}},
	}
	for i := range tests {
		b, err := EncodeAnthropicRequest(&tests[i])
		if err != nil {
			t.Fatal(err)
		}
		anthCheckRequest(t, b, false)
		if !json.Valid(b) {
			t.Errorf("invalid JSON %s", b)
		}
	}
}

// Random canonical histories (as other APIs' decoders could produce them)
// always encode to a body the API accepts.
func TestEncodeAnthropicRandomHistories(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := []string{"a", "b", "call.1", "", "toolu_x", "c d"}
	texts := []string{"hi", "", "  ", "text\n", "ok"}
	for n := 0; n < 3000; n++ {
		r := &Request{Model: []string{"claude-sonnet-4-5", "claude-3-5-haiku", "claude-opus-4-1", "x"}[rng.IntN(4)]}
		if rng.IntN(2) == 0 {
			r.Reasoning = &Reasoning{Effort: "low"}
			r.Temperature, r.TopP = anthF(0.5), anthF(0.1)
		}
		if rng.IntN(3) == 0 {
			r.Tools = []Tool{{Name: "f"}}
			r.ToolChoice = &ToolChoice{Mode: []string{"auto", "none", "required", "tool"}[rng.IntN(4)], Name: "f"}
		}
		if rng.IntN(4) == 0 {
			r.MaxTokens = rng.IntN(70000)
		}
		for m := rng.IntN(7); m > 0; m-- {
			var msg Message
			switch rng.IntN(3) {
			case 0:
				msg.Role = RoleUser
				for k := rng.IntN(3); k > 0; k-- {
					if rng.IntN(3) == 0 {
						msg.Parts = append(msg.Parts, Part{Type: PartImage, URL: "https://x/y.png"})
					} else {
						msg.Parts = append(msg.Parts, Part{Type: PartText, Text: texts[rng.IntN(len(texts))]})
					}
				}
			case 1:
				msg.Role = RoleAssistant
				for k := rng.IntN(4); k > 0; k-- {
					switch rng.IntN(4) {
					case 0:
						msg.Parts = append(msg.Parts, Part{Type: PartText, Text: texts[rng.IntN(len(texts))]})
					case 1:
						msg.Parts = append(msg.Parts, Part{Type: PartThinking, Text: "t", Signature: []string{"", "sig"}[rng.IntN(2)]})
					default:
						msg.Parts = append(msg.Parts, Part{Type: PartToolCall, ToolCallID: ids[rng.IntN(len(ids))], ToolName: "f", Arguments: `{"x":1}`})
					}
				}
			case 2:
				msg.Role = RoleTool
				for k := rng.IntN(3); k > 0; k-- {
					msg.Parts = append(msg.Parts, Part{Type: PartToolResult, ToolCallID: ids[rng.IntN(len(ids))],
						Content: []Part{{Type: PartText, Text: texts[rng.IntN(len(texts))]}}})
				}
			}
			r.Messages = append(r.Messages, msg)
		}
		b, err := EncodeAnthropicRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		anthCheckRequest(t, b, false)
		if t.Failed() {
			t.Fatalf("request %s", anthJSON(t, r))
		}
		if _, err := DecodeAnthropicRequest(b); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	}
}

func TestAnthropicRequestRoundTrip(t *testing.T) {
	r1, err := DecodeAnthropicRequest([]byte(anthFullRequest))
	if err != nil {
		t.Fatal(err)
	}
	r1.Reasoning = &Reasoning{Budget: 2000}
	r1.ToolChoice = &ToolChoice{Mode: "auto"} // forced tools turn thinking off; keep it on here
	b, err := EncodeAnthropicRequest(r1)
	if err != nil {
		t.Fatal(err)
	}
	anthCheckRequest(t, b, false)
	r2, err := DecodeAnthropicRequest(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	// Canonical forms differ only where encoding must: arguments and
	// schemas are compacted, the sampling parameters follow thinking, and
	// max_tokens grows by the budget when it does not exceed it.
	for _, m := range r1.Messages {
		for i := range m.Parts {
			if m.Parts[i].Type == PartToolCall {
				m.Parts[i].Arguments = gjson.Get(m.Parts[i].Arguments, "@ugly").Raw
			}
		}
	}
	for i := range r1.Tools {
		r1.Tools[i].Parameters = json.RawMessage(gjson.GetBytes(r1.Tools[i].Parameters, "@ugly").Raw)
	}
	r1.Temperature, r1.TopK, r1.TopP = nil, nil, anthF(0.95)
	// The two leading user messages are merged into one.
	r1.Messages[0].Parts = append(r1.Messages[0].Parts, r1.Messages[1].Parts...)
	r1.Messages = append(r1.Messages[:1], r1.Messages[2:]...)
	if g, w := anthJSON(t, r2), anthJSON(t, r1); g != w {
		t.Errorf("round trip\n got %s\nwant %s", g, w)
	}
}

func TestAnthropicCountTokens(t *testing.T) {
	body := `{"model":"claude-sonnet-4-5","system":"s","messages":[{"role":"user","content":"hello"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"thinking":{"type":"enabled","budget_tokens":2048}}`
	r, err := DecodeAnthropicCountTokens([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxTokens != 0 || r.Reasoning.Budget != 2048 || len(r.Tools) != 1 {
		t.Errorf("%+v", r)
	}
	r.Temperature, r.Stream, r.User, r.Stop = anthF(0.5), true, "u", []string{"x"}
	b, err := EncodeAnthropicCountTokens(r)
	if err != nil {
		t.Fatal(err)
	}
	anthCheckRequest(t, b, true)
	want := `{"model":"claude-sonnet-4-5","system":"s","messages":[{"role":"user","content":[{"type":"text","text":"hello"}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"thinking":{"type":"enabled","budget_tokens":2048}}`
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
	if _, err := DecodeAnthropicCountTokens([]byte(`{"model":"m"}`)); err == nil {
		t.Error("count_tokens without messages accepted")
	}
}

// ---------------------------------------------------------------------------
// responses

const anthResponseBody = `{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
"content":[{"type":"thinking","thinking":"Let me see.","signature":"EqQBsig"},{"type":"redacted_thinking","data":"EmwKred"},
{"type":"text","text":"I'll look it up."},{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA"}},
{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}],
"stop_reason":"tool_use","stop_sequence":null,
"usage":{"input_tokens":100,"cache_creation_input_tokens":20,"cache_read_input_tokens":300,"output_tokens":50,"service_tier":"standard"}}`

func TestDecodeAnthropicResponse(t *testing.T) {
	r, err := DecodeAnthropicResponse([]byte(anthResponseBody))
	if err != nil {
		t.Fatal(err)
	}
	want := &Response{
		ID: "msg_01Aq9w938a90dw8q", Model: "claude-sonnet-4-5-20250929",
		Parts: []Part{
			{Type: PartThinking, Text: "Let me see.", Signature: "EqQBsig"},
			{Type: PartThinking, Redacted: true, Data: "EmwKred"},
			{Type: PartText, Text: "I'll look it up."},
			{Type: PartToolCall, ToolCallID: "toolu_01A09q90qw90lq917835lq9", ToolName: "get_weather", Arguments: `{"location":"San Francisco, CA"}`},
		},
		StopReason: StopToolUse,
		Usage:      Usage{Input: 420, Cached: 300, Output: 50},
	}
	if g, w := anthJSON(t, r), anthJSON(t, want); g != w {
		t.Errorf("got  %s\nwant %s", g, w)
	}
	stops := map[string]StopReason{"end_turn": StopEnd, "max_tokens": StopMaxTokens, "stop_sequence": StopSequence,
		"tool_use": StopToolUse, "refusal": StopContentFilter, "pause_turn": StopEnd, "model_context_window_exceeded": StopMaxTokens}
	for s, w := range stops {
		r, err := DecodeAnthropicResponse([]byte(`{"id":"x","content":[],"stop_reason":"` + s + `","stop_sequence":"##","usage":{}}`))
		if err != nil || r.StopReason != w || r.StopSequence != "##" {
			t.Errorf("%s: %v %v", s, r, err)
		}
	}
	if _, err := DecodeAnthropicResponse([]byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)); err == nil || !strings.Contains(err.Error(), "Overloaded") {
		t.Errorf("error body: %v", err)
	}
	if _, err := DecodeAnthropicResponse([]byte(`nope`)); err == nil {
		t.Error("invalid JSON accepted")
	}
}

func TestEncodeAnthropicResponse(t *testing.T) {
	r := &Response{
		ID: "chatcmpl-123", Model: "claude-sonnet-4-5",
		Parts: []Part{
			{Type: PartThinking, Text: "hmm", Signature: "sig"},
			{Type: PartThinking, Redacted: true, Data: "red"},
			{Type: PartText, Text: ""},
			{Type: PartText, Text: "Hello <b>"},
			{Type: PartToolCall, ToolCallID: "call_1", ToolName: "f", Arguments: `{"a": [1, 2]}`},
			{Type: PartToolCall, ToolCallID: "call_2", ToolName: "g", Arguments: `{"broken`},
		},
		StopReason: StopToolUse,
		Usage:      Usage{Input: 120, Cached: 100, Output: 7},
	}
	b := EncodeAnthropicResponse(r)
	want := `{"id":"msg_chatcmpl-123","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[` +
		`{"type":"thinking","thinking":"hmm","signature":"sig"},{"type":"redacted_thinking","data":"red"},{"type":"text","text":"Hello <b>"},` +
		`{"type":"tool_use","id":"call_1","name":"f","input":{"a":[1,2]}},{"type":"tool_use","id":"call_2","name":"g","input":{}}],` +
		`"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":100,"output_tokens":7}}`
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}

	// The SDK parses it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	client := anthropic.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("k"), option.WithMaxRetries(0))
	msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{Model: "m", MaxTokens: 5,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	if err != nil {
		t.Fatal(err)
	}
	if msg.ID != "msg_chatcmpl-123" || len(msg.Content) != 5 || msg.StopReason != anthropic.StopReasonToolUse ||
		msg.Usage.InputTokens != 20 || msg.Usage.CacheReadInputTokens != 100 || msg.Usage.OutputTokens != 7 {
		t.Errorf("sdk message %+v", msg)
	}
	if msg.Content[0].Thinking != "hmm" || msg.Content[0].Signature != "sig" || msg.Content[1].Data != "red" ||
		msg.Content[2].Text != "Hello <b>" || string(msg.Content[3].Input) != `{"a":[1,2]}` || msg.Content[4].Name != "g" {
		t.Errorf("sdk content %+v", msg.Content)
	}

	// Stop reasons, stop_sequence, generated ids, and a natural end with
	// tool calls.
	tests := []struct {
		r    Response
		stop string
		seq  string
	}{
		{Response{StopReason: StopEnd}, "end_turn", "null"},
		{Response{StopReason: StopMaxTokens}, "max_tokens", "null"},
		{Response{StopReason: StopSequence, StopSequence: "END"}, "stop_sequence", `"END"`},
		{Response{StopReason: StopContentFilter}, "refusal", "null"},
		{Response{StopReason: StopEnd, Parts: []Part{{Type: PartToolCall, ToolName: "f"}}}, "tool_use", "null"},
		{Response{}, "end_turn", "null"},
	}
	for _, tt := range tests {
		b := EncodeAnthropicResponse(&tt.r)
		root := gjson.ParseBytes(b)
		if root.Get("stop_reason").Str != tt.stop || root.Get("stop_sequence").Raw != tt.seq || !strings.HasPrefix(root.Get("id").Str, "msg_") {
			t.Errorf("%+v -> %s", tt.r, b)
		}
		if !json.Valid(b) {
			t.Errorf("invalid JSON %s", b)
		}
	}
	b = EncodeAnthropicResponse(&Response{ID: "msg_keep", Parts: []Part{{Type: PartToolCall, ToolName: "f"}}})
	if gjson.GetBytes(b, "id").Str != "msg_keep" || !strings.HasPrefix(gjson.GetBytes(b, "content.0.id").Str, "toolu_") {
		t.Errorf("%s", b)
	}
}

func TestAnthropicResponseRoundTrip(t *testing.T) {
	r1, err := DecodeAnthropicResponse([]byte(anthResponseBody))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := DecodeAnthropicResponse(EncodeAnthropicResponse(r1))
	if err != nil {
		t.Fatal(err)
	}
	// Cache writes are reported as uncached input on the way back.
	if g, w := anthJSON(t, r2), anthJSON(t, r1); g != w {
		t.Errorf("got  %s\nwant %s", g, w)
	}
}

// ---------------------------------------------------------------------------
// stream decoding

func TestAnthropicStreamDecoderRecordings(t *testing.T) {
	sig := "EqQBCkgIBxABGAIqQFYmQhTiLqS3vNR9eMxwPc2Ct6v3Oa8Q5+hXb4s1WzJmGkUfDpNyRz0t7LcAeIoVq9xSgBw2JdKrT5nHuEyYmP8SDOc4QvNWz0bA7kx3XBoMrGq1fJd9VhIiPtZ2IjCUzq4nT0Ls6Ow4dEy9pLm2bHkXr1jGFvQaT7cNwI5sYxK8oAeBu3DiMzhRlPfWgE6KhBkUdaT3eG9yRzh1fn0mLcHgGAE="
	tests := []struct {
		file string
		want []StreamEvent
	}{
		{"text.sse", []StreamEvent{
			{Type: EvStart, ID: "msg_01XFDUDYJgAACzvnptvVoYEL", Model: "claude-sonnet-4-5-20250929"},
			{Type: EvUsage, Usage: Usage{Input: 19, Output: 1}},
			{Type: EvText, Text: "The capital of France is Paris"},
			{Type: EvText, Text: ". It has been the country's capital since"},
			{Type: EvText, Text: " 508 AD, and it is also its largest city."},
			{Type: EvUsage, Usage: Usage{Input: 19, Output: 28}},
			{Type: EvFinish, StopReason: StopEnd},
		}},
		{"tool.sse", []StreamEvent{
			{Type: EvStart, ID: "msg_014p7gG3wDgGV9EUtLvnow3U", Model: "claude-sonnet-4-5-20250929"},
			{Type: EvUsage, Usage: Usage{Input: 586, Output: 2}},
			{Type: EvText, Text: "I'll check the current weather in San Francisco"},
			{Type: EvText, Text: " for you."},
			{Type: EvToolStart, Index: 0, ToolCallID: "toolu_01T1x1fJ34qAmk2tNTrN7Up6", ToolName: "get_weather"},
			{Type: EvToolArgs, Index: 0, Args: `{"location": "San`},
			{Type: EvToolArgs, Index: 0, Args: ` Francisco, CA"`},
			{Type: EvToolArgs, Index: 0, Args: `, "unit": "fah`},
			{Type: EvToolArgs, Index: 0, Args: `renheit"}`},
			{Type: EvUsage, Usage: Usage{Input: 586, Output: 89}},
			{Type: EvFinish, StopReason: StopToolUse},
		}},
		{"reasoning.sse", []StreamEvent{
			{Type: EvStart, ID: "msg_01HCDu5LRGeP2o7s2xGmxyx8", Model: "claude-sonnet-4-5-20250929"},
			{Type: EvUsage, Usage: Usage{Input: 2060, Cached: 2048, Output: 4}},
			{Type: EvThinking, Text: "The user wants 27 * 453. Let me"},
			{Type: EvThinking, Text: " work it out: 27 * 453 = 27 * 400 + 27 * 53 = 10800 + 1431"},
			{Type: EvThinking, Text: " = 12231."},
			{Type: EvSignature, Text: sig},
			{Type: EvText, Text: "27 × 453 = **12,231**"},
			{Type: EvText, Text: "\n\n(27 × 400 = 10,800 and 27 × 53 = 1,431.)"},
			{Type: EvUsage, Usage: Usage{Input: 2060, Cached: 2048, Output: 142}},
			{Type: EvFinish, StopReason: StopEnd},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := anthDecodeAll(t, anthReadStream(t, tt.file))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestAnthropicStreamDecoderEdges(t *testing.T) {
	ev := func(name, data string) Event { return Event{Name: []byte(name), Data: []byte(data)} }

	// An error event ends the stream; later events are ignored.
	d := NewAnthropicStreamDecoder()
	evs, _ := d.Decode(nil, ev("message_start", `{"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":3,"output_tokens":1}}}`))
	evs, _ = d.Decode(evs, ev("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	evs, _ = d.Decode(evs, ev("message_stop", `{"type":"message_stop"}`))
	if !d.Finished() || len(evs) != 3 || evs[2].Type != EvError || evs[2].Text != "overloaded_error: Overloaded" || evs[2].Status != 529 {
		t.Errorf("%+v", evs)
	}

	// Content without message_start gets a synthesized start; redacted
	// thinking, a second tool, stop_sequence, empty deltas, ping, unknown
	// events and deltas for unknown blocks.
	d = NewAnthropicStreamDecoder()
	var err error
	evs = nil
	for _, e := range []Event{
		ev("ping", `{"type": "ping"}`),
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"redacted_thinking","data":"EmwKAhgB"}}`),
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
		ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"a","input":{}}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}`),
		ev("content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"server_tool_use","id":"s1","name":"web_search","input":{}}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"q\":1}"}}`),
		ev("content_block_start", `{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"t2","name":"b","input":{}}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\"x\":2}"}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":4,"delta":{"type":"text_delta","text":""}}`),
		ev("something_new", `{"type":"something_new"}`),
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"output_tokens":9}}`),
		ev("message_stop", `{"type":"message_stop"}`),
	} {
		if evs, err = d.Decode(evs, e); err != nil {
			t.Fatal(err)
		}
	}
	want := []StreamEvent{
		{Type: EvStart},
		{Type: EvSignature, Redacted: true, Text: "EmwKAhgB"},
		{Type: EvToolStart, Index: 0, ToolCallID: "t1", ToolName: "a"},
		{Type: EvToolArgs, Index: 0, Args: "{}"},
		{Type: EvToolStart, Index: 1, ToolCallID: "t2", ToolName: "b"},
		{Type: EvToolArgs, Index: 1, Args: `{"x":2}`},
		{Type: EvUsage, Usage: Usage{Output: 9}},
		{Type: EvFinish, StopReason: StopSequence, StopSequence: "END"},
	}
	if !reflect.DeepEqual(evs, want) {
		t.Errorf("got\n%+v\nwant\n%+v", evs, want)
	}

	// A cut stream is not finished; bad JSON is an error.
	d = NewAnthropicStreamDecoder()
	_, _ = d.Decode(nil, ev("message_start", `{"type":"message_start","message":{"id":"m"}}`))
	if d.Finished() {
		t.Error("finished without message_stop")
	}
	if _, err := d.Decode(nil, ev("content_block_delta", `{"type":`)); err == nil {
		t.Error("bad JSON accepted")
	}
}

// ---------------------------------------------------------------------------
// stream encoding

func TestAnthropicStreamEncoderFraming(t *testing.T) {
	evs := []StreamEvent{
		{Type: EvStart, ID: "abc", Model: "upstream-model"},
		{Type: EvText, Text: "Hi"},
		{Type: EvUsage, Usage: Usage{Input: 10, Cached: 4, Output: 2}},
		{Type: EvFinish, StopReason: StopEnd},
	}
	got := string(anthEncodeAll(StreamOptions{Model: "claude-x"}, evs))
	want := "event: message_start\n" +
		`data: {"type":"message_start","message":{"id":"msg_abc","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}` + "\n\n" +
		"event: content_block_start\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n" +
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}` + "\n\n" +
		"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":0}` + "\n\n" +
		"event: message_delta\n" + `data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":6,"cache_creation_input_tokens":0,"cache_read_input_tokens":4,"output_tokens":2}}` + "\n\n" +
		"event: message_stop\n" + `data: {"type":"message_stop"}` + "\n\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestAnthropicStreamEncoderSDK(t *testing.T) {
	tests := []struct {
		name    string
		evs     []StreamEvent
		content string // the accumulated content, as type:value
		stop    anthropic.StopReason
		usage   [3]int64 // input, cache read, output
	}{
		{"text, no start, usage first", []StreamEvent{
			{Type: EvUsage, Usage: Usage{Input: 5}},
			{Type: EvText, Text: ""},
			{Type: EvText, Text: "Hello"},
			{Type: EvText, Text: ", world"},
			{Type: EvUsage, Usage: Usage{Output: 3}},
			{Type: EvFinish, StopReason: StopMaxTokens},
		}, "text:Hello, world", anthropic.StopReasonMaxTokens, [3]int64{5, 0, 3}},
		{"thinking, signature, text, tools", []StreamEvent{
			{Type: EvStart, ID: "msg_x", Model: "m"},
			{Type: EvThinking, Text: "Let me "},
			{Type: EvThinking, Text: "think."},
			{Type: EvSignature, Text: "sig1"},
			{Type: EvSignature, Redacted: true, Text: "redacted-data"},
			{Type: EvText, Text: "Calling."},
			{Type: EvToolStart, Index: 0, ToolCallID: "call_1", ToolName: "f"},
			{Type: EvToolArgs, Index: 0, Args: `{"a"`},
			{Type: EvToolArgs, Index: 0, Args: ""},
			{Type: EvToolArgs, Index: 0, Args: `:1}`},
			{Type: EvToolStart, Index: 0, ToolCallID: "call_1", ToolName: "f"}, // duplicate
			{Type: EvToolStart, Index: 1, ToolName: "g"},
			{Type: EvToolArgs, Index: 1, Args: `{}`},
			{Type: EvToolArgs, Index: 0, Args: `junk`}, // a closed call: dropped
			{Type: EvUsage, Usage: Usage{Input: 100, Cached: 60, Output: 40}},
			{Type: EvFinish, StopReason: StopEnd},
		}, `thinking:Let me think.|sig1 redacted_thinking:redacted-data text:Calling. tool_use:f{"a":1} tool_use:g{}`, anthropic.StopReasonToolUse, [3]int64{40, 60, 40}},
		{"signature without thinking, thinking without signature", []StreamEvent{
			{Type: EvStart},
			{Type: EvSignature, Text: "lonely"},
			{Type: EvSignature, Text: ""},
			{Type: EvThinking, Text: "unsigned"},
			{Type: EvText, Text: "ok"},
			{Type: EvFinish, StopReason: StopSequence, StopSequence: "##"},
		}, `thinking:|lonely thinking:unsigned| text:ok`, anthropic.StopReasonStopSequence, [3]int64{0, 0, 0}},
		{"empty answer", []StreamEvent{
			{Type: EvStart},
			{Type: EvFinish, StopReason: StopContentFilter},
		}, ``, anthropic.StopReasonRefusal, [3]int64{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := anthEncodeAll(StreamOptions{Model: "claude-sonnet-4-5"}, tt.evs)
			anthCheckStream(t, out)
			msg, _, err := anthSDKStream(t, out)
			if err != nil {
				t.Fatalf("sdk: %v\n%s", err, out)
			}
			var parts []string
			for _, c := range msg.Content {
				switch c.Type {
				case "text":
					parts = append(parts, "text:"+c.Text)
				case "thinking":
					parts = append(parts, "thinking:"+c.Thinking+"|"+c.Signature)
				case "redacted_thinking":
					parts = append(parts, "redacted_thinking:"+c.Data)
				case "tool_use":
					parts = append(parts, "tool_use:"+c.Name+string(c.Input))
					if !strings.HasPrefix(c.ID, "call_") && !strings.HasPrefix(c.ID, "toolu_") {
						t.Errorf("tool id %q", c.ID)
					}
				}
			}
			if got := strings.Join(parts, " "); got != tt.content {
				t.Errorf("content\n got %s\nwant %s", got, tt.content)
			}
			if msg.StopReason != tt.stop {
				t.Errorf("stop %q, want %q", msg.StopReason, tt.stop)
			}
			if u := msg.Usage; [3]int64{u.InputTokens, u.CacheReadInputTokens, u.OutputTokens} != tt.usage && tt.usage != [3]int64{} {
				t.Errorf("usage %+v, want %v", u, tt.usage)
			}
			if msg.Model != "claude-sonnet-4-5" || !strings.HasPrefix(msg.ID, "msg_") {
				t.Errorf("model %q id %q", msg.Model, msg.ID)
			}
		})
	}
}

func TestAnthropicStreamEncoderError(t *testing.T) {
	for _, tt := range []struct {
		status int
		typ    string
	}{{0, "api_error"}, {429, "rate_limit_error"}, {529, "overloaded_error"}, {400, "invalid_request_error"}} {
		out := anthEncodeAll(StreamOptions{Model: "m"}, []StreamEvent{
			{Type: EvStart, ID: "msg_1"},
			{Type: EvText, Text: "partial"},
			{Type: EvError, Text: "upstream broke", Status: tt.status},
			{Type: EvFinish, StopReason: StopEnd}, // nothing after an error
		})
		anthCheckStream(t, out)
		if !bytes.HasSuffix(out, []byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\""+tt.typ+"\",\"message\":\"upstream broke\"}}\n\n")) {
			t.Errorf("no error event at the end:\n%s", out)
		}
		_, _, err := anthSDKStream(t, out)
		var ae *anthropic.Error
		if !errors.As(err, &ae) || !strings.Contains(ae.Error(), "upstream broke") {
			t.Errorf("sdk error %v", err)
		}
	}
	// An error before anything else is still a whole error event.
	out := anthEncodeAll(StreamOptions{}, []StreamEvent{{Type: EvError, Text: "no upstream"}})
	if !bytes.HasPrefix(out, []byte("event: error\n")) {
		t.Errorf("%s", out)
	}
}

// Every recording, decoded and re-encoded, gives the SDK the same message
// as the recording itself.
func TestAnthropicStreamRoundTripRecordings(t *testing.T) {
	for _, f := range []string{"text.sse", "tool.sse", "reasoning.sse"} {
		t.Run(f, func(t *testing.T) {
			raw := anthReadStream(t, f)
			orig, types, err := anthSDKStream(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			if types[0] != "message_start" || types[len(types)-1] != "message_stop" {
				t.Errorf("recording event types %v", types)
			}
			out := anthEncodeAll(StreamOptions{Model: orig.Model}, anthDecodeAll(t, raw))
			anthCheckStream(t, out)
			again, _, err := anthSDKStream(t, out)
			if err != nil {
				t.Fatal(err)
			}
			if len(again.Content) != len(orig.Content) {
				t.Fatalf("content %d blocks, want %d", len(again.Content), len(orig.Content))
			}
			for i := range orig.Content {
				o, a := orig.Content[i], again.Content[i]
				if o.Type != a.Type || o.Text != a.Text || o.Thinking != a.Thinking || o.Signature != a.Signature ||
					o.ID != a.ID || o.Name != a.Name || string(o.Input) != string(a.Input) {
					t.Errorf("block %d: got %+v want %+v", i, a, o)
				}
			}
			if again.ID != orig.ID || again.StopReason != orig.StopReason || again.Usage.InputTokens != orig.Usage.InputTokens ||
				again.Usage.OutputTokens != orig.Usage.OutputTokens || again.Usage.CacheReadInputTokens != orig.Usage.CacheReadInputTokens {
				t.Errorf("message %s %s %+v, want %s %s %+v", again.ID, again.StopReason, again.Usage, orig.ID, orig.StopReason, orig.Usage)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// patching

func TestPatchAnthropicRequest(t *testing.T) {
	tests := []struct {
		name, body string
		o          Overrides
		want       string
	}{
		{"system into absent", `{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[]}`, Overrides{SystemPrompt: "P"},
			`{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[],"system":"P"}`},
		{"system string", `{"system":"S","messages":[]}`, Overrides{SystemPrompt: "P"},
			`{"system":"P\n\nS","messages":[]}`},
		{"system array", `{"system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],"x":1}`, Overrides{SystemPrompt: "P \"q\""},
			`{"system":[{"type":"text","text":"P \"q\""},{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],"x":1}`},
		{"system empty array", `{"system":[]}`, Overrides{SystemPrompt: "P"},
			`{"system":[{"type":"text","text":"P"}]}`},
		{"reasoning off", `{"model":"m","max_tokens":100,"thinking":{"type":"enabled","budget_tokens":2000}}`, Overrides{Reasoning: "off"},
			`{"model":"m","max_tokens":100}`},
		{"reasoning off, none there", `{"model":"m","max_tokens":100}`, Overrides{Reasoning: "off"},
			`{"model":"m","max_tokens":100}`},
		{"reasoning auto", `{"model":"m","temperature":0.5}`, Overrides{Reasoning: "auto"},
			`{"model":"m","temperature":0.5}`},
		{"reasoning high", `{"model":"claude-sonnet-4-5","max_tokens":1000,"temperature":0.2,"top_k":5,"top_p":0.5,"messages":[{"role":"user","content":"q"}]}`, Overrides{Reasoning: "high"},
			`{"model":"claude-sonnet-4-5","max_tokens":25576,"top_p":0.95,"messages":[{"role":"user","content":"q"}],"thinking":{"type":"enabled","budget_tokens":24576}}`},
		{"reasoning budget replaces", `{"model":"claude-sonnet-4-5","max_tokens":50000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[]}`, Overrides{Reasoning: "5000"},
			`{"model":"claude-sonnet-4-5","max_tokens":50000,"thinking":{"type":"enabled","budget_tokens":5000},"messages":[]}`},
		{"reasoning on old model", `{"model":"claude-3-5-haiku-latest","max_tokens":100}`, Overrides{Reasoning: "low"},
			`{"model":"claude-3-5-haiku-latest","max_tokens":100}`},
		{"reasoning with forced tool", `{"model":"claude-sonnet-4-5","max_tokens":100,"tool_choice":{"type":"any"}}`, Overrides{Reasoning: "low"},
			`{"model":"claude-sonnet-4-5","max_tokens":100,"tool_choice":{"type":"any"}}`},
		{"reasoning in tool turn without thinking", `{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"r"}]}]}`, Overrides{Reasoning: "low"},
			`{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"r"}]}]}`},
		{"count_tokens body", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"q"}]}`, Overrides{Reasoning: "low", SystemPrompt: "P"},
			`{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"q"}],"system":"P","thinking":{"type":"enabled","budget_tokens":4096}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PatchAnthropicRequest([]byte(tt.body), tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	if _, err := PatchAnthropicRequest([]byte(`{"system":5}`), Overrides{SystemPrompt: "P"}); err == nil {
		t.Error("numeric system accepted")
	}
}

// ---------------------------------------------------------------------------
// fuzzing

func FuzzDecodeAnthropicRequest(f *testing.F) {
	f.Add([]byte(anthFullRequest))
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a.b","name":"f","input":{"x":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"zz","content":[{"type":"text","text":"r"}]}]}],"thinking":{"type":"enabled","budget_tokens":99999}}`))
	f.Add([]byte(`{"model":"claude-opus-4-1","max_tokens":1,"system":[{"type":"text","text":""}],"messages":[{"role":"assistant","content":"   "}],"thinking":{"type":"adaptive"},"tool_choice":{"type":"none"}}`))
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"data:image/png;base64,xx"}}]}],"output_format":{"type":"json_schema","schema":{}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeAnthropicRequest(body)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("not a RequestError: %v", err)
			}
			return
		}
		out, err := EncodeAnthropicRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		anthCheckRequest(t, out, false)
		if _, err := DecodeAnthropicRequest(out); err != nil {
			t.Fatalf("re-decode: %v\n%s", err, out)
		}
		cb, _ := EncodeAnthropicCountTokens(r)
		anthCheckRequest(t, cb, true)
		if _, err := PatchAnthropicRequest(body, Overrides{SystemPrompt: "P", Reasoning: "high"}); err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Logf("patch: %v", err)
			}
		}
	})
}

func FuzzDecodeAnthropicResponse(f *testing.F) {
	f.Add([]byte(anthResponseBody))
	f.Add([]byte(`{"id":"x","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}`))
	f.Add([]byte(`{"type":"error","error":{"type":"api_error","message":"x"}}`))
	f.Add([]byte(`{"content":"str","usage":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeAnthropicResponse(body)
		if err != nil {
			return
		}
		out := EncodeAnthropicResponse(r)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
		if _, err := DecodeAnthropicResponse(out); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzAnthropicStreamDecoder(f *testing.F) {
	for _, name := range []string{"text.sse", "tool.sse", "reasoning.sse"} {
		b, err := os.ReadFile(filepath.Join("testdata", "streams", "anthropic", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"))
	f.Add([]byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":-1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n"))
	f.Fuzz(func(t *testing.T, sse []byte) {
		d := NewAnthropicStreamDecoder()
		enc := NewAnthropicStreamEncoder(StreamOptions{Model: "m"})
		rd := NewSSEReader(bytes.NewReader(sse))
		var evs []StreamEvent
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
		if len(evs) > 0 && evs[0].Type != EvStart && evs[0].Type != EvError {
			t.Fatalf("first event %v", evs[0].Type)
		}
		ends := 0
		for i, e := range evs {
			if e.Type == EvFinish || e.Type == EvError {
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
			anthCheckStream(t, out)
		}
	})
}
