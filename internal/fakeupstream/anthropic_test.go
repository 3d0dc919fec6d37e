package fakeupstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/tidwall/gjson"
)

const antKey = "sk-ant-test-key-0001"

func newAntClient(s *Server, apiKey string) anthropic.Client {
	return anthropic.NewClient(
		option.WithBaseURL(s.URL),
		option.WithAPIKey(apiKey),
		option.WithMaxRetries(0),
	)
}

func antParams(msgs ...anthropic.MessageParam) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: "claude-sonnet-4-5", MaxTokens: 1024, Messages: msgs}
}

func antUser(text string) anthropic.MessageParam {
	return anthropic.NewUserMessage(anthropic.NewTextBlock(text))
}

var antLookupTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "lookup",
	Description: anthropic.String("Look something up."),
	InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"q": map[string]any{"type": "string"}},
		Required:   []string{"q"},
	},
}}

func asAntError(t *testing.T, err error, status int) *anthropic.Error {
	t.Helper()
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not an *anthropic.Error", err, err)
	}
	if apiErr.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", apiErr.StatusCode, status, apiErr.RawJSON())
	}
	return apiErr
}

func antMessage(e *anthropic.Error) string { return gjson.Get(e.RawJSON(), "error.message").Str }

func TestAnthropicNonStream(t *testing.T) {
	s := NewAnthropic(t, antKey)
	c := newAntClient(s, antKey)
	p := antParams(antUser("hello world"))
	p.System = []anthropic.TextBlockParam{{Text: "be brief"}}
	got, err := c.Messages.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.ID, "msg_") || got.Type != "message" || got.Role != "assistant" || got.Model != "claude-sonnet-4-5" {
		t.Errorf("envelope: %s", got.RawJSON())
	}
	if len(got.Content) != 1 || got.Content[0].Type != "text" || got.Content[0].Text != "echo: hello world" || got.StopReason != "end_turn" {
		t.Errorf("content: %s", got.RawJSON())
	}
	// input: len("be brief")+len("hello world") = 19 bytes -> 19/4+1; output: 3 words.
	if u := got.Usage; u.InputTokens != 5 || u.OutputTokens != 3 || u.ServiceTier != "standard" {
		t.Errorf("usage: %s", u.RawJSON())
	}
	if !gjson.Get(got.RawJSON(), "stop_sequence").Exists() || gjson.Get(got.RawJSON(), "stop_sequence").Type != gjson.Null {
		t.Errorf("stop_sequence must be null: %s", got.RawJSON())
	}
	if s.Requests(antKey) != 1 || s.TotalRequests() != 1 || s.MaxConcurrent(antKey) != 1 {
		t.Errorf("counters: %d %d %d", s.Requests(antKey), s.TotalRequests(), s.MaxConcurrent(antKey))
	}
	last := s.LastRequest()
	if last.Method != "POST" || last.Path != "/v1/messages" || last.Key != antKey || last.Header.Get("Anthropic-Version") != "2023-06-01" ||
		gjson.GetBytes(last.Body, "messages.0.content.0.text").Str != "hello world" {
		t.Errorf("last request: %+v %s", last, last.Body)
	}

	// A prefilled final assistant turn is allowed, consecutive user turns
	// are merged (not an error).
	got, err = c.Messages.New(context.Background(), antParams(antUser("one"), antUser("two"),
		anthropic.NewAssistantMessage(anthropic.NewTextBlock("Sure:"))))
	if err != nil {
		t.Fatal(err)
	}
	if got.Content[0].Text != "echo: two" {
		t.Errorf("merged turns: %s", got.RawJSON())
	}
}

func antStream(t *testing.T, c anthropic.Client, p anthropic.MessageNewParams) (anthropic.Message, []string) {
	t.Helper()
	stream := c.Messages.NewStreaming(context.Background(), p)
	var msg anthropic.Message
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("accumulate %s: %v", ev.Type, err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	return msg, types
}

func TestAnthropicStream(t *testing.T) {
	s := NewAnthropic(t, antKey)
	c := newAntClient(s, antKey)
	msg, types := antStream(t, c, antParams(antUser("one two three")))
	if len(msg.Content) != 1 || msg.Content[0].Text != "echo: one two three" || msg.StopReason != "end_turn" {
		t.Errorf("message: %s", msg.RawJSON())
	}
	if msg.Usage.InputTokens != 4 || msg.Usage.OutputTokens != 4 {
		t.Errorf("usage: %+v", msg.Usage)
	}
	// (The SDK does not surface ping events; the raw wire below has one.)
	want := "message_start content_block_start content_block_delta content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("events:\n%s\nwant\n%s", got, want)
	}

	// The raw wire: event lines matching the data's type, usage in
	// message_start and message_delta.
	body := `{"model":"claude-haiku-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi there"}]}`
	res := antRaw(t, s, "POST", "/v1/messages", body, true)
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(res.Body)
	var event string
	n := 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			d := gjson.Parse(strings.TrimPrefix(line, "data: "))
			if d.Get("type").Str != event {
				t.Errorf("event %q carries %s", event, d.Raw)
			}
			if event == "message_start" && (d.Get("message.usage.input_tokens").Int() != 3 || d.Get("message.stop_reason").Type != gjson.Null) {
				t.Errorf("message_start: %s", d.Raw)
			}
			if event == "message_delta" && (d.Get("usage.output_tokens").Int() != 3 || d.Get("delta.stop_reason").Str != "end_turn") {
				t.Errorf("message_delta: %s", d.Raw)
			}
			n++
		case line != "":
			t.Errorf("unexpected line %q", line)
		}
	}
	if event != "message_stop" || n != 9 {
		t.Errorf("%d events, last %q", n, event)
	}
}

func TestAnthropicToolRoundTrip(t *testing.T) {
	s := NewAnthropic(t, antKey)
	c := newAntClient(s, antKey)
	ctx := context.Background()
	p := antParams(antUser("capital of France"))
	p.Tools = []anthropic.ToolUnionParam{antLookupTool}

	first, err := c.Messages.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if first.StopReason != "tool_use" || len(first.Content) != 1 || first.Content[0].Type != "tool_use" {
		t.Fatalf("first reply: %s", first.RawJSON())
	}
	call := first.Content[0]
	if !strings.HasPrefix(call.ID, "toolu_") || call.Name != "lookup" || string(call.Input) != `{"q":"capital of France"}` {
		t.Errorf("tool_use: %s", call.RawJSON())
	}

	p.Messages = append(p.Messages, first.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(call.ID, "Paris", false)))
	second, err := c.Messages.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if second.Content[0].Text != "result: Paris" || second.StopReason != "end_turn" {
		t.Errorf("second reply: %s", second.RawJSON())
	}

	// Streamed tool call: input_json_delta fragments accumulate to the input.
	msg, _ := antStream(t, c, antParams(antUser("weather in Paris")))
	if msg.Content[0].Text != "echo: weather in Paris" {
		t.Errorf("no tools: %s", msg.RawJSON())
	}
	sp := antParams(antUser("weather in Paris"))
	sp.Tools = []anthropic.ToolUnionParam{antLookupTool}
	msg, types := antStream(t, c, sp)
	if len(msg.Content) != 1 || msg.Content[0].Name != "lookup" || string(msg.Content[0].Input) != `{"q":"weather in Paris"}` || msg.StopReason != "tool_use" {
		t.Errorf("streamed tool call: %s", msg.RawJSON())
	}
	if strings.Count(strings.Join(types, " "), "content_block_delta") < 4 {
		t.Errorf("too few deltas: %v", types)
	}

	// tool_choice none: no call; forced tool: the named one.
	sp.ToolChoice = anthropic.ToolChoiceUnionParam{OfNone: &anthropic.ToolChoiceNoneParam{}}
	if got, err := c.Messages.New(ctx, sp); err != nil || got.Content[0].Type != "text" {
		t.Errorf("tool_choice none: %v %v", got, err)
	}

	// A tool result for an id the assistant never issued.
	bad := p
	bad.Messages = append(bad.Messages[:2:2], anthropic.NewUserMessage(anthropic.NewToolResultBlock("toolu_nope", "Paris", false)))
	_, err = c.Messages.New(ctx, bad)
	if e := asAntError(t, err, 400); !strings.Contains(antMessage(e), "`tool_use` ids were found without `tool_result` blocks immediately after: "+call.ID) ||
		!strings.HasPrefix(antMessage(e), "messages.1: ") {
		t.Errorf("unanswered: %s", e.RawJSON())
	}
	// An orphan tool_result after a plain assistant message.
	_, err = c.Messages.New(ctx, antParams(antUser("x"), anthropic.NewAssistantMessage(anthropic.NewTextBlock("ok")),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock("toolu_1", "y", false))))
	if e := asAntError(t, err, 400); antMessage(e) != "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_1. "+
		"Each `tool_result` block must have a corresponding `tool_use` block in the previous message." {
		t.Errorf("orphan: %s", e.RawJSON())
	}
	// Tool results must come first in the next user message.
	late := p
	late.Messages = append(late.Messages[:2:2], anthropic.NewUserMessage(anthropic.NewTextBlock("here:"), anthropic.NewToolResultBlock(call.ID, "Paris", false)))
	_, err = c.Messages.New(ctx, late)
	if e := asAntError(t, err, 400); !strings.Contains(antMessage(e), "without `tool_result` blocks immediately after") {
		t.Errorf("late result: %s", e.RawJSON())
	}
}

func TestAnthropicThinking(t *testing.T) {
	s := NewAnthropic(t, antKey)
	c := newAntClient(s, antKey)
	ctx := context.Background()
	p := antParams(antUser("capital of France"))
	p.MaxTokens = 2048
	p.Thinking = anthropic.ThinkingConfigParamOfEnabled(1024)
	p.Tools = []anthropic.ToolUnionParam{antLookupTool}

	first, err := c.Messages.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Content) != 2 || first.Content[0].Type != "thinking" || first.Content[0].Thinking != "thinking about: capital of France" ||
		first.Content[0].Signature == "" || first.Content[1].Type != "tool_use" {
		t.Fatalf("first reply: %s", first.RawJSON())
	}
	// 5 thinking words + 7 argument fragments.
	if first.Usage.OutputTokens != 5+7 {
		t.Errorf("usage: %s", first.Usage.RawJSON())
	}
	call := first.Content[1]
	p.Messages = append(p.Messages, first.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(call.ID, "Paris", false)))
	second, err := c.Messages.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Content) != 2 || second.Content[0].Thinking != "thinking about: Paris" || second.Content[1].Text != "result: Paris" {
		t.Errorf("second reply: %s", second.RawJSON())
	}

	// A tampered thinking block.
	tampered := p
	tampered.Messages = []anthropic.MessageParam{p.Messages[0], anthropic.NewAssistantMessage(
		anthropic.NewThinkingBlock(first.Content[0].Signature, "thinking about: something else"),
		anthropic.NewToolUseBlock(call.ID, map[string]any{"q": "capital of France"}, "lookup"),
	), p.Messages[2]}
	_, err = c.Messages.New(ctx, tampered)
	if e := asAntError(t, err, 400); antMessage(e) != "messages.1.content.0: Invalid `signature` in `thinking` block" {
		t.Errorf("tampered: %s", e.RawJSON())
	}
	// The thinking block left out of the tool-use turn.
	dropped := p
	dropped.Messages = []anthropic.MessageParam{p.Messages[0], anthropic.NewAssistantMessage(
		anthropic.NewToolUseBlock(call.ID, map[string]any{"q": "capital of France"}, "lookup"),
	), p.Messages[2]}
	_, err = c.Messages.New(ctx, dropped)
	if e := asAntError(t, err, 400); !strings.HasPrefix(antMessage(e), "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`.") {
		t.Errorf("dropped: %s", e.RawJSON())
	}
	// Without thinking the same history is fine.
	dropped.Thinking = anthropic.ThinkingConfigParamUnion{}
	if _, err := c.Messages.New(ctx, dropped); err != nil {
		t.Errorf("without thinking: %v", err)
	}

	// Streamed: thinking_delta per word, then one signature_delta; the
	// accumulated signature verifies in the next request.
	sp := antParams(antUser("capital of France"))
	sp.MaxTokens = 2048
	sp.Thinking = anthropic.ThinkingConfigParamOfEnabled(1024)
	sp.Tools = []anthropic.ToolUnionParam{antLookupTool}
	msg, types := antStream(t, c, sp)
	if msg.Content[0].Thinking != "thinking about: capital of France" || msg.Content[0].Signature != first.Content[0].Signature {
		t.Errorf("streamed thinking: %s", msg.RawJSON())
	}
	if strings.Join(types[:3], " ") != "message_start content_block_start content_block_delta" {
		t.Errorf("events: %v", types)
	}
	sp.Messages = append(sp.Messages, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(msg.Content[1].ID, "Paris", false)))
	if got, err := c.Messages.New(ctx, sp); err != nil || got.Content[1].Text != "result: Paris" {
		t.Errorf("after streamed thinking: %v %v", got, err)
	}

	// Thinking parameter rules.
	for _, tc := range []struct {
		name string
		mod  func(*anthropic.MessageNewParams)
		want string
	}{
		{"budget", func(p *anthropic.MessageNewParams) { p.Thinking = anthropic.ThinkingConfigParamOfEnabled(512) },
			"thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"},
		{"budget vs max", func(p *anthropic.MessageNewParams) { p.MaxTokens = 1024 }, "`max_tokens` must be greater than `thinking.budget_tokens`."},
		{"temperature", func(p *anthropic.MessageNewParams) { p.Temperature = anthropic.Float(0.5) }, "`temperature` may only be set to 1 when thinking is enabled."},
		{"top_k", func(p *anthropic.MessageNewParams) { p.TopK = anthropic.Int(5) }, "`top_k` must be unset when thinking is enabled."},
		{"forced tool", func(p *anthropic.MessageNewParams) { p.ToolChoice = anthropic.ToolChoiceParamOfTool("lookup") },
			"Thinking may not be enabled when tool_choice forces tool use."},
	} {
		q := antParams(antUser("hi"))
		q.MaxTokens = 2048
		q.Thinking = anthropic.ThinkingConfigParamOfEnabled(1024)
		q.Tools = []anthropic.ToolUnionParam{antLookupTool}
		tc.mod(&q)
		_, err := c.Messages.New(ctx, q)
		if e := asAntError(t, err, 400); !strings.HasPrefix(antMessage(e), tc.want) || e.Type() != "invalid_request_error" {
			t.Errorf("%s: %s", tc.name, e.RawJSON())
		}
	}
	q := antParams(antUser("hi"))
	q.MaxTokens = 2048
	q.Thinking = anthropic.ThinkingConfigParamOfEnabled(1024)
	q.Temperature = anthropic.Float(1)
	if _, err := c.Messages.New(ctx, q); err != nil {
		t.Errorf("temperature 1 with thinking: %v", err)
	}
}

// antRaw sends a raw request with the key and (if version) anthropic-version.
func antRaw(t *testing.T, s *Server, method, path, body string, version bool) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	req.Header.Set("X-Api-Key", antKey)
	req.Header.Set("Content-Type", "application/json")
	if version {
		req.Header.Set("Anthropic-Version", "2023-06-01")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func pngBase64(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// TestAnthropicValidation drives the validator with bodies the SDK would
// not produce.
func TestAnthropicValidation(t *testing.T) {
	s := NewAnthropic(t, antKey)
	img := pngBase64(t)
	const user = `{"role":"user","content":"hi"}`
	msgs := func(ms ...string) string { return `"messages":[` + strings.Join(ms, ",") + `]` }
	body := func(extra string, ms ...string) string {
		b := `{"model":"claude-sonnet-4-5","max_tokens":100,` + msgs(ms...)
		if extra != "" {
			b += "," + extra
		}
		return b + "}"
	}
	toolUse := `{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"lookup","input":{"q":"x"}}]}`
	lookup := `"tools":[{"name":"lookup","input_schema":{"type":"object"}}]`
	for _, tc := range []struct {
		name, body, want string
	}{
		{"not json", `{"model":`, "There was an error parsing the body"},
		{"no model", `{"max_tokens":10,` + msgs(user) + `}`, "model: Field required"},
		{"no max_tokens", `{"model":"claude-sonnet-4-5",` + msgs(user) + `}`, "max_tokens: Field required"},
		{"max_tokens 0", `{"model":"claude-sonnet-4-5","max_tokens":0,` + msgs(user) + `}`, "max_tokens: Input should be greater than or equal to 1"},
		{"max_tokens too big", `{"model":"claude-sonnet-4-5-20250929","max_tokens":100000,` + msgs(user) + `}`,
			"max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5-20250929"},
		{"no messages", `{"model":"claude-sonnet-4-5","max_tokens":10}`, "messages: Field required"},
		{"empty messages", body(""), "messages: at least one message is required"},
		{"extra field", body(`"n":2`, user), "n: Extra inputs are not permitted"},
		{"system role", body("", `{"role":"system","content":"x"}`, user), "messages.0.role: Input should be 'user' or 'assistant'"},
		{"first assistant", body("", `{"role":"assistant","content":"x"}`, user), `messages: first message must use the "user" role`},
		{"message extra", body("", `{"role":"user","content":"x","name":"bob"}`), "messages.0.name: Extra inputs are not permitted"},
		{"empty content", body("", `{"role":"user","content":""}`), "messages.0: all messages must have non-empty content except for the optional final assistant message"},
		{"empty text block", body("", `{"role":"user","content":[{"type":"text","text":""}]}`), "messages: text content blocks must be non-empty"},
		{"trailing whitespace", body("", user, `{"role":"assistant","content":"Sure "}`), "messages: final assistant content cannot end with trailing whitespace"},
		{"block type", body("", `{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}`), "messages.0.content.0: Input tag 'image_url' found using 'type'"},
		{"media type", body("", `{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"`+img+`"}}]}`),
			"messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"},
		{"media mismatch", body("", `{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"`+img+`"}}]}`),
			"messages.0.content.0.image.source.base64.data: The image was specified using the image/jpeg media type, but the image appears to be a image/png image"},
		{"data url", body("", `{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"data:image/png;base64,`+img+`"}}]}`),
			"messages.0.content.0.image.source.base64.data: Invalid base64 data"},
		{"not an image", body("", `{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"aGVsbG8="}}]}`), "Could not process image"},
		{"tool_use id", body("", user, `{"role":"assistant","content":[{"type":"tool_use","id":"call 1","name":"f","input":{}}]}`),
			"messages.1.content.0.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"},
		{"tool_use input", body("", user, `{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":"{}"}]}`),
			"messages.1.content.0.tool_use.input: Input should be a valid dictionary"},
		{"tool_use in user", body("", `{"role":"user","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]}`),
			"messages.0.content.0: `tool_use` blocks can only be in `assistant` messages"},
		{"unanswered at end", body("", user, toolUse), "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1."},
		{"text after tool_use", body("", user, `{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"lookup","input":{}},{"type":"text","text":"x"}]}`,
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"r"}]}`), "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1."},
		{"duplicate tool ids", body("", user, `{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"a","input":{}},{"type":"tool_use","id":"toolu_1","name":"b","input":{}}]}`,
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1"}]}`), "messages.1.content.1: `tool_use` ids must be unique"},
		{"openai tool", body(`"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]`, user), "tools.0: Input tag 'function' found using 'type'"},
		{"tool name", body(`"tools":[{"name":"look up","input_schema":{"type":"object"}}]`, user), "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"},
		{"no input_schema", body(`"tools":[{"name":"f"}]`, user), "tools.0.custom.input_schema: Field required"},
		{"parameters", body(`"tools":[{"name":"f","input_schema":{"type":"object"},"parameters":{}}]`, user), "tools.0.custom.parameters: Extra inputs are not permitted"},
		{"duplicate tools", body(`"tools":[{"name":"f","input_schema":{"type":"object"}},{"name":"f","input_schema":{"type":"object"}}]`, user), "tools: Tool names must be unique."},
		{"tool_choice string", body(lookup+`,"tool_choice":"auto"`, user), "tool_choice: Input should be a valid dictionary or object to extract fields from"},
		{"tool_choice unknown", body(lookup+`,"tool_choice":{"type":"tool","name":"nope"}`, user), "tool_choice.tool.name: Tool 'nope' not found in provided tools"},
		{"tool_choice without tools", body(`"tool_choice":{"type":"any"}`, user), "tool_choice may only be specified while providing tools"},
		{"system block", body(`"system":[{"type":"image"}]`, user), "system.0.type: Input should be 'text'"},
		{"stop_sequences", body(`"stop_sequences":"\n"`, user), "stop_sequences: Input should be a valid list"},
		{"temperature", body(`"temperature":1.5`, user), "temperature: Input should be less than or equal to 1"},
		{"temperature and top_p", body(`"temperature":0.5,"top_p":0.9`, user), "`temperature` and `top_p` cannot both be specified for this model. Please use only one."},
		{"thinking type", body(`"thinking":{"type":"on"}`, user), "thinking: Input tag 'on' found using 'type'"},
		{"stream type", body(`"stream":"yes"`, user), "stream: Input should be a valid boolean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := antRaw(t, s, "POST", "/v1/messages", tc.body, true)
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			g := gjson.ParseBytes(b)
			if res.StatusCode != 400 || g.Get("type").Str != "error" || g.Get("error.type").Str != "invalid_request_error" ||
				!strings.HasPrefix(g.Get("request_id").Str, "req_") {
				t.Fatalf("%d %s", res.StatusCode, b)
			}
			if msg := g.Get("error.message").Str; !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want %q", msg, tc.want)
			}
		})
	}

	// Accepted: an image with a matching type, a URL image, tool_result
	// content blocks, consecutive assistant messages merged.
	for _, ok := range []string{
		body("", `{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"`+img+`"}},{"type":"text","text":"what?"}]}`),
		body("", `{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]}`),
		body(lookup, user, `{"role":"assistant","content":[{"type":"text","text":"let me see"}]}`, toolUse,
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"r1"},{"type":"text","text":"r2"}]}]}`),
	} {
		res := antRaw(t, s, "POST", "/v1/messages", ok, true)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%d %s for %s", res.StatusCode, b, ok)
		}
	}
	last := antRaw(t, s, "POST", "/v1/messages", body(lookup, user, toolUse, `{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"r1"}]},{"type":"text","text":"thanks"}]}`), true)
	b, _ := io.ReadAll(last.Body)
	last.Body.Close()
	if got := gjson.GetBytes(b, "content.0.text").Str; got != "result: r1" {
		t.Errorf("result reply %s", b)
	}

	// The anthropic-version header is required everywhere.
	for _, path := range []string{"/v1/messages", "/v1/messages/count_tokens", "/v1/models"} {
		method := "POST"
		if path == "/v1/models" {
			method = "GET"
		}
		res := antRaw(t, s, method, path, body("", user), false)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 400 || gjson.GetBytes(b, "error.message").Str != "anthropic-version: header is required" {
			t.Errorf("%s without version: %d %s", path, res.StatusCode, b)
		}
	}
	// count_tokens has no max_tokens.
	res := antRaw(t, s, "POST", "/v1/messages/count_tokens", body("", user), true)
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || gjson.GetBytes(b, "error.message").Str != "max_tokens: Extra inputs are not permitted" {
		t.Errorf("count_tokens with max_tokens: %d %s", res.StatusCode, b)
	}
}

func TestAnthropicSDKValidation(t *testing.T) {
	s := NewAnthropic(t, antKey)
	c := newAntClient(s, antKey)
	ctx := context.Background()
	// The SDK sends max_tokens 0 when unset.
	p := antParams(antUser("hi"))
	p.MaxTokens = 0
	_, err := c.Messages.New(ctx, p)
	if e := asAntError(t, err, 400); antMessage(e) != "max_tokens: Input should be greater than or equal to 1" {
		t.Errorf("max_tokens: %s", e.RawJSON())
	}
	_, err = c.Messages.New(ctx, antParams(anthropic.NewAssistantMessage(anthropic.NewTextBlock("hello")), antUser("hi")))
	if e := asAntError(t, err, 400); antMessage(e) != `messages: first message must use the "user" role` {
		t.Errorf("first role: %s", e.RawJSON())
	}
	_, err = c.Messages.New(ctx, antParams(antUser("hi"), anthropic.NewUserMessage(anthropic.NewToolResultBlock("toolu_9", "r", false))))
	if e := asAntError(t, err, 400); !strings.Contains(antMessage(e), "unexpected `tool_use_id` found in `tool_result` blocks: toolu_9") {
		t.Errorf("orphan tool_result: %s", e.RawJSON())
	}
	p = antParams(antUser("hi"))
	p.Model = "unknown-model"
	_, err = c.Messages.New(ctx, p)
	if e := asAntError(t, err, 404); e.Type() != "not_found_error" || antMessage(e) != "model: unknown-model" {
		t.Errorf("unknown model: %s", e.RawJSON())
	}
}

func TestAnthropicStopReasons(t *testing.T) {
	s := NewAnthropic(t, antKey)
	c := newAntClient(s, antKey)
	ctx := context.Background()
	p := antParams(antUser("one two three four"))
	p.StopSequences = []string{"three"}
	got, err := c.Messages.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Content[0].Text != "echo: one two " || got.StopReason != "stop_sequence" || got.StopSequence != "three" {
		t.Errorf("stop sequence: %s", got.RawJSON())
	}
	p = antParams(antUser("one two three four"))
	p.MaxTokens = 2
	got, err = c.Messages.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Content[0].Text != "echo: one" || got.StopReason != "max_tokens" || got.Usage.OutputTokens != 2 {
		t.Errorf("max tokens: %s", got.RawJSON())
	}
	msg, _ := antStream(t, c, p)
	if msg.Content[0].Text != "echo: one" || msg.StopReason != "max_tokens" {
		t.Errorf("streamed max tokens: %s", msg.RawJSON())
	}
}

func TestAnthropicErrors(t *testing.T) {
	s := NewAnthropic(t, antKey)
	ctx := context.Background()
	wrong := newAntClient(s, "sk-ant-wrong")
	_, err := wrong.Messages.New(ctx, antParams(antUser("hi")))
	if e := asAntError(t, err, 401); e.Type() != "authentication_error" || antMessage(e) != "invalid x-api-key" || !strings.HasPrefix(e.RequestID, "req_") {
		t.Errorf("401: %s", e.RawJSON())
	}
	res, err := http.Post(s.URL+"/v1/messages", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 401 || gjson.GetBytes(b, "error.message").Str != "x-api-key header is required" {
		t.Errorf("no key: %d %s", res.StatusCode, b)
	}
	res = antRaw(t, s, "GET", "/v1/nothing", "", true)
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 404 || gjson.GetBytes(b, "error.type").Str != "not_found_error" {
		t.Errorf("unknown path: %d %s", res.StatusCode, b)
	}

	c := newAntClient(s, antKey)
	s.SetKeyValid(antKey, false)
	_, err = c.Messages.New(ctx, antParams(antUser("hi")))
	asAntError(t, err, 401)
	if s.Requests(antKey) != 0 {
		t.Errorf("rejected request counted")
	}
	s.SetKeyValid(antKey, true)

	for _, tc := range []struct {
		b      Behavior
		status int
		typ    string
		msg    string
	}{
		{Behavior{Status: 429, RetryAfter: "7", Times: 1}, 429, "rate_limit_error", "This request would exceed the rate limit"},
		{Behavior{Status: 429, ErrorCode: "insufficient_quota", Times: 1}, 400, "invalid_request_error", "Your credit balance is too low"},
		{Behavior{Status: 529, Times: 1}, 529, "overloaded_error", "Overloaded"},
		{Behavior{Status: 500, Times: 1}, 500, "api_error", "Internal server error"},
		{Behavior{Status: 403, Times: 1}, 403, "permission_error", "Your API key does not have permission"},
	} {
		s.SetBehavior(antKey, tc.b)
		_, err := c.Messages.New(ctx, antParams(antUser("hi")))
		e := asAntError(t, err, tc.status)
		if e.Type() != anthropic.ErrorType(tc.typ) || !strings.HasPrefix(antMessage(e), tc.msg) {
			t.Errorf("%+v: %s", tc.b, e.RawJSON())
		}
		if tc.b.RetryAfter != "" && e.Response.Header.Get("Retry-After") != tc.b.RetryAfter {
			t.Errorf("retry-after: %v", e.Response.Header)
		}
	}
	if _, err := c.Messages.New(ctx, antParams(antUser("hi"))); err != nil {
		t.Fatal(err)
	}
	if s.Requests(antKey) != 6 {
		t.Errorf("requests %d, want 6", s.Requests(antKey))
	}
}

func TestAnthropicModelsAndCount(t *testing.T) {
	s := NewAnthropic(t, antKey)
	c := newAntClient(s, antKey)
	ctx := context.Background()
	page, err := c.Models.List(ctx, anthropic.ModelListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != len(DefaultAnthropicModels) || page.Data[0].ID != DefaultAnthropicModels[0] || page.Data[0].DisplayName != "Claude Sonnet 4.5" ||
		page.Data[0].CreatedAt.Format("2006-01-02") != "2025-09-29" || page.HasMore || page.FirstID != DefaultAnthropicModels[0] {
		t.Errorf("models: %s", page.RawJSON())
	}
	s.SetModels([]string{"m1", "m2", "m3"})
	var ids []string
	iter := c.Models.ListAutoPaging(ctx, anthropic.ModelListParams{Limit: anthropic.Int(2)})
	for iter.Next() {
		ids = append(ids, iter.Current().ID)
	}
	if iter.Err() != nil || strings.Join(ids, ",") != "m1,m2,m3" {
		t.Errorf("paging: %v %v", ids, iter.Err())
	}
	if m, err := c.Models.Get(ctx, "m2", anthropic.ModelGetParams{}); err != nil || m.ID != "m2" || m.Type != "model" {
		t.Errorf("get: %+v %v", m, err)
	}
	_, err = c.Models.Get(ctx, "claude-9", anthropic.ModelGetParams{})
	if e := asAntError(t, err, 404); e.Type() != "not_found_error" {
		t.Errorf("get unknown: %s", e.RawJSON())
	}

	p := antParams(antUser("hello world"))
	p.System = []anthropic.TextBlockParam{{Text: "be brief"}}
	p.Tools = []anthropic.ToolUnionParam{antLookupTool}
	msg, err := c.Messages.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	count, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{
		Model:    p.Model,
		Messages: p.Messages,
		System:   anthropic.MessageCountTokensParamsSystemUnion{OfTextBlockArray: p.System},
		Tools:    []anthropic.MessageCountTokensToolUnionParam{{OfTool: antLookupTool.OfTool}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if count.InputTokens != msg.Usage.InputTokens || count.InputTokens <= 5 {
		t.Errorf("count %d, usage %d", count.InputTokens, msg.Usage.InputTokens)
	}
}

func TestAnthropicCutAfter(t *testing.T) {
	s := NewAnthropic(t, antKey)
	c := newAntClient(s, antKey)
	s.SetBehavior(antKey, Behavior{CutAfter: 3})
	stream := c.Messages.NewStreaming(context.Background(), antParams(antUser("a b c d e f")))
	n := 0
	for stream.Next() {
		n++
	}
	if stream.Err() == nil {
		t.Fatal("cut stream ended cleanly")
	}
	if n != 2 { // message_start, content_block_start, and a ping the SDK skips
		t.Errorf("%d events before the cut, want 2", n)
	}
	// Fewer events than CutAfter: still no message_stop.
	s.SetBehavior(antKey, Behavior{CutAfter: 100})
	stream = c.Messages.NewStreaming(context.Background(), antParams(antUser("a")))
	var types []string
	for stream.Next() {
		types = append(types, stream.Current().Type)
	}
	if stream.Err() == nil || types[len(types)-1] != "message_delta" {
		t.Errorf("short cut stream: %v %v", types, stream.Err())
	}

	_, err := c.Messages.New(context.Background(), antParams(antUser("hi")))
	var apiErr *anthropic.Error
	if err == nil || errors.As(err, &apiErr) {
		t.Errorf("truncated body: %v", err)
	}
}
