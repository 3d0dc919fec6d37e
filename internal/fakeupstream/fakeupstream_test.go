package fakeupstream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/gjson"
)

const key = "sk-test-key-0001"

func newClient(s *Server, apiKey string) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(s.URL),
		option.WithAPIKey(apiKey),
		option.WithMaxRetries(0),
	)
}

func params(msgs ...openai.ChatCompletionMessageParamUnion) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: msgs}
}

var lookupTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name:        "lookup",
	Description: openai.String("Look something up."),
	Parameters: shared.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"q": map[string]any{"type": "string"}},
		"required":   []string{"q"},
	},
})

func asAPIError(t *testing.T, err error, status int) *openai.Error {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not an *openai.Error", err, err)
	}
	if apiErr.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", apiErr.StatusCode, status, apiErr.RawJSON())
	}
	return apiErr
}

func TestNonStream(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	got, err := c.Chat.Completions.New(context.Background(), params(
		openai.SystemMessage("be brief"),
		openai.UserMessage("hello world"),
	))
	if err != nil {
		t.Fatal(err)
	}
	if got.Object != "chat.completion" || !strings.HasPrefix(got.ID, "chatcmpl-") || got.Model != "gpt-4o" || got.Created == 0 {
		t.Errorf("envelope: %+v", got)
	}
	ch := got.Choices[0]
	if ch.Message.Content != "echo: hello world" || ch.Message.Role != "assistant" || ch.FinishReason != "stop" {
		t.Errorf("choice: %+v", ch)
	}
	// prompt: len("be brief")+len("hello world") = 19 bytes -> 19/4+1; completion: 3 words.
	if u := got.Usage; u.PromptTokens != 5 || u.CompletionTokens != 3 || u.TotalTokens != 8 {
		t.Errorf("usage: %+v", u)
	}
	if s.Requests(key) != 1 || s.TotalRequests() != 1 || s.MaxConcurrent(key) != 1 {
		t.Errorf("counters: %d %d %d", s.Requests(key), s.TotalRequests(), s.MaxConcurrent(key))
	}
	last := s.LastRequest()
	if last.Method != "POST" || last.Path != "/v1/chat/completions" || last.Key != key ||
		last.Header.Get("Authorization") != "Bearer "+key || gjson.GetBytes(last.Body, "messages.1.content").Str != "hello world" {
		t.Errorf("last request: %+v %s", last, last.Body)
	}
}

func TestStreamIncludeUsage(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)

	run := func(p openai.ChatCompletionNewParams) (openai.ChatCompletionAccumulator, int) {
		t.Helper()
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := c.Chat.Completions.NewStreaming(context.Background(), p)
		var acc openai.ChatCompletionAccumulator
		n := 0
		for stream.Next() {
			if !acc.AddChunk(stream.Current()) {
				t.Fatalf("chunk %d rejected by the accumulator", n)
			}
			n++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		return acc, n
	}

	acc, n := run(params(openai.UserMessage("one two three")))
	if got := acc.Choices[0].Message.Content; got != "echo: one two three" {
		t.Errorf("content %q", got)
	}
	// role chunk + 4 word deltas + finish chunk + usage chunk
	if n != 7 {
		t.Errorf("%d chunks, want 7", n)
	}
	if acc.Choices[0].FinishReason != "stop" || acc.Usage.CompletionTokens != 4 || acc.Usage.PromptTokens != 4 || acc.Usage.TotalTokens != 8 {
		t.Errorf("finish %q usage %+v", acc.Choices[0].FinishReason, acc.Usage)
	}

	p := params(openai.UserMessage("weather in Paris"))
	p.Tools = []openai.ChatCompletionToolUnionParam{lookupTool}
	acc, n = run(p)
	calls := acc.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].Function.Name != "lookup" || calls[0].Function.Arguments != `{"q":"weather in Paris"}` ||
		!strings.HasPrefix(calls[0].ID, "call_") || acc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("tool call: %+v finish %q", calls, acc.Choices[0].FinishReason)
	}
	if n < 6 { // first chunk, several argument fragments, finish, usage
		t.Errorf("only %d chunks", n)
	}
}

// TestStreamWire checks the raw SSE: usage null on every chunk but the last,
// the usage chunk with empty choices, then [DONE].
func TestStreamWire(t *testing.T) {
	s := NewOpenAI(t, key)
	body := `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi there"}]}`
	req, _ := http.NewRequest("POST", s.URL+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	var events []string
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, d)
		} else if sc.Text() != "" {
			t.Errorf("unexpected line %q", sc.Text())
		}
	}
	if len(events) < 4 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("events: %q", events)
	}
	chunks := events[:len(events)-1]
	for i, e := range chunks {
		g := gjson.Parse(e)
		if g.Get("object").Str != "chat.completion.chunk" || g.Get("model").Str != "gpt-4o-mini" || g.Get("id").Str != gjson.Get(chunks[0], "id").Str {
			t.Errorf("chunk %d envelope: %s", i, e)
		}
		last := i == len(chunks)-1
		if u := g.Get("usage"); !u.Exists() || (u.Type == gjson.Null) == last {
			t.Errorf("chunk %d usage: %s", i, e)
		}
		if last && (g.Get("choices").Raw != "[]" || g.Get("usage.total_tokens").Int() == 0) {
			t.Errorf("usage chunk: %s", e)
		}
	}
	if d := gjson.Get(chunks[0], "choices.0.delta"); d.Get("role").Str != "assistant" || d.Get("content").Raw != `""` {
		t.Errorf("first delta: %s", d.Raw)
	}
	if f := gjson.Get(chunks[len(chunks)-2], "choices.0"); f.Get("finish_reason").Str != "stop" || f.Get("delta").Raw != "{}" {
		t.Errorf("finish chunk: %s", f.Raw)
	}
}

func TestToolRoundTrip(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	ctx := context.Background()
	p := params(openai.UserMessage("capital of France"))
	p.Tools = []openai.ChatCompletionToolUnionParam{lookupTool}

	first, err := c.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	msg := first.Choices[0].Message
	if first.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 1 || msg.Content != "" {
		t.Fatalf("first reply: %+v", first.Choices[0])
	}
	call := msg.ToolCalls[0]
	if call.Type != "function" || call.Function.Name != "lookup" || call.Function.Arguments != `{"q":"capital of France"}` {
		t.Errorf("tool call: %+v", call)
	}

	p.Messages = append(p.Messages, msg.ToParam(), openai.ToolMessage("Paris", call.ID))
	second, err := c.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := second.Choices[0]; got.Message.Content != "result: Paris" || got.FinishReason != "stop" {
		t.Errorf("second reply: %+v", got)
	}

	// A tool result for an id the assistant never issued.
	p.Messages[len(p.Messages)-1] = openai.ToolMessage("Paris", "call_nope")
	_, err = c.Chat.Completions.New(ctx, p)
	if e := asAPIError(t, err, 400); e.Param != "messages.[2].tool_call_id" {
		t.Errorf("param %q", e.Param)
	}
	// A tool call left unanswered.
	p.Messages = append(p.Messages[:2], openai.UserMessage("and?"))
	_, err = c.Chat.Completions.New(ctx, p)
	if e := asAPIError(t, err, 400); !strings.Contains(e.Message, call.ID) || e.Param != "messages.[1].role" {
		t.Errorf("unanswered: %q %q", e.Message, e.Param)
	}
	// A tool message with no assistant tool_calls before it.
	_, err = c.Chat.Completions.New(ctx, params(openai.UserMessage("x"), openai.ToolMessage("y", "call_1")))
	if e := asAPIError(t, err, 400); !strings.Contains(e.Message, "preceeding message with 'tool_calls'") {
		t.Errorf("orphan tool: %q", e.Message)
	}
}

func TestUnauthorized(t *testing.T) {
	s := NewOpenAI(t, key)
	ctx := context.Background()
	wrong := newClient(s, "sk-wrong-0123456789")
	_, err := wrong.Chat.Completions.New(ctx, params(openai.UserMessage("hi")))
	e := asAPIError(t, err, 401)
	if e.Code != "invalid_api_key" || e.Type != "invalid_request_error" || !strings.HasPrefix(e.Message, "Incorrect API key provided: sk-wrong") ||
		strings.Contains(e.Message, "0123456789") {
		t.Errorf("401: %s", e.RawJSON())
	}

	c := newClient(s, key)
	s.SetKeyValid(key, false)
	_, err = c.Chat.Completions.New(ctx, params(openai.UserMessage("hi")))
	asAPIError(t, err, 401)
	if s.Requests(key) != 0 || s.TotalRequests() != 0 {
		t.Errorf("rejected requests were counted")
	}
	s.SetKeyValid(key, true)
	if _, err = c.Chat.Completions.New(ctx, params(openai.UserMessage("hi"))); err != nil {
		t.Fatal(err)
	}
}

func TestRateLimited(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	ctx := context.Background()

	s.SetBehavior(key, Behavior{Status: 429, RetryAfter: "7", Times: 1})
	_, err := c.Chat.Completions.New(ctx, params(openai.UserMessage("hi")))
	e := asAPIError(t, err, 429)
	if e.Code != "rate_limit_exceeded" || e.Type != "requests" || e.Response.Header.Get("Retry-After") != "7" ||
		!strings.Contains(e.Message, "Please try again in 7s") {
		t.Errorf("429: %s %v", e.RawJSON(), e.Response.Header)
	}
	// Times: 1 — the next request is served normally.
	if _, err := c.Chat.Completions.New(ctx, params(openai.UserMessage("hi"))); err != nil {
		t.Fatal(err)
	}

	s.SetBehavior(key, Behavior{Status: 429, ErrorCode: "insufficient_quota"})
	for range 2 {
		_, err = c.Chat.Completions.New(ctx, params(openai.UserMessage("hi")))
		if e := asAPIError(t, err, 429); e.Code != "insufficient_quota" || e.Type != "insufficient_quota" {
			t.Errorf("quota: %s", e.RawJSON())
		}
	}
	s.SetBehavior(key, Behavior{Status: 500})
	_, err = c.Models.List(ctx)
	if e := asAPIError(t, err, 500); e.Type != "server_error" {
		t.Errorf("500: %s", e.RawJSON())
	}
	if s.Requests(key) != 5 {
		t.Errorf("requests %d, want 5", s.Requests(key))
	}
}

func TestStreamOptionsWithoutStream(t *testing.T) {
	s := NewOpenAI(t, key)
	p := params(openai.UserMessage("hi"))
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	c := newClient(s, key)
	_, err := c.Chat.Completions.New(context.Background(), p)
	e := asAPIError(t, err, 400)
	if e.Message != "The 'stream_options' parameter is only allowed when 'stream' is enabled." ||
		e.Type != "invalid_request_error" || e.Param != "stream_options" {
		t.Errorf("400: %s", e.RawJSON())
	}
}

func TestCutAfter(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	s.SetBehavior(key, Behavior{CutAfter: 2})
	stream := c.Chat.Completions.NewStreaming(context.Background(), params(openai.UserMessage("a b c d e f")))
	n := 0
	for stream.Next() {
		n++
	}
	if stream.Err() == nil {
		t.Fatal("cut stream ended cleanly")
	}
	if n != 2 {
		t.Errorf("%d chunks before the cut, want 2", n)
	}

	// Non-streaming: a truncated body is an error, not a completion.
	_, err := c.Chat.Completions.New(context.Background(), params(openai.UserMessage("hi")))
	var apiErr *openai.Error
	if err == nil || errors.As(err, &apiErr) {
		t.Errorf("truncated body: %v", err)
	}
}

func TestDelayAndConcurrency(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	s.SetBehavior(key, Behavior{Delay: 150 * time.Millisecond})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := c.Chat.Completions.New(context.Background(), params(openai.UserMessage("hi"))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := s.MaxConcurrent(key); got != 3 {
		t.Errorf("max concurrent %d, want 3", got)
	}

	s.SetBehavior(key, Behavior{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Chat.Completions.New(ctx, params(openai.UserMessage("hi")))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("delayed request: %v after %v", err, time.Since(start))
	}

	s.SetBehavior(key, Behavior{Hangup: true, Times: 1})
	_, err = c.Chat.Completions.New(context.Background(), params(openai.UserMessage("hi")))
	var apiErr *openai.Error
	if err == nil || errors.As(err, &apiErr) {
		t.Errorf("hangup: %v", err)
	}

	s.Reset()
	if s.TotalRequests() != 0 || s.MaxConcurrent(key) != 0 || s.LastRequest().Path != "" {
		t.Error("Reset left state behind")
	}
	if _, err := c.Chat.Completions.New(context.Background(), params(openai.UserMessage("hi"))); err != nil {
		t.Errorf("after Reset: %v", err)
	}
}

func TestModels(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	ctx := context.Background()
	page, err := c.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != len(DefaultModels) || page.Data[0].ID != "gpt-4o" || page.Data[0].Object != "model" || page.Data[0].OwnedBy == "" {
		t.Errorf("models: %+v", page.Data)
	}
	s.SetModels([]string{"m1", "m2"})
	page, err = c.Models.List(ctx)
	if err != nil || len(page.Data) != 2 || page.Data[1].ID != "m2" {
		t.Errorf("models after SetModels: %+v %v", page, err)
	}
	if m, err := c.Models.Get(ctx, "m1"); err != nil || m.ID != "m1" {
		t.Errorf("get model: %+v %v", m, err)
	}
	_, err = c.Models.Get(ctx, "gpt-9")
	if e := asAPIError(t, err, 404); e.Code != "model_not_found" {
		t.Errorf("get unknown model: %s", e.RawJSON())
	}

	p := params(openai.UserMessage("hi"))
	p.Model = "unknown-model"
	_, err = c.Chat.Completions.New(ctx, p)
	if e := asAPIError(t, err, 404); e.Code != "model_not_found" || !strings.Contains(e.Message, "`unknown-model`") {
		t.Errorf("unknown model: %s", e.RawJSON())
	}
}

// TestValidation drives the validator over the wire with bodies the SDK
// would not produce.
func TestValidation(t *testing.T) {
	s := NewOpenAI(t, key)
	for _, tc := range []struct {
		name, body, param, code string
	}{
		{"not json", `{"model":`, "", ""},
		{"no model", `{"messages":[{"role":"user","content":"hi"}]}`, "", ""},
		{"model type", `{"model":4,"messages":[{"role":"user","content":"hi"}]}`, "model", "invalid_type"},
		{"no messages", `{"model":"gpt-4o"}`, "messages", "missing_required_parameter"},
		{"empty messages", `{"model":"gpt-4o","messages":[]}`, "messages", "empty_array"},
		{"bad role", `{"model":"gpt-4o","messages":[{"role":"robot","content":"hi"}]}`, "messages[0].role", "invalid_value"},
		{"no content", `{"model":"gpt-4o","messages":[{"role":"user"}]}`, "messages[0].content", "missing_required_parameter"},
		{"content type", `{"model":"gpt-4o","messages":[{"role":"user","content":3}]}`, "messages[0].content", "invalid_type"},
		{"part type", `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"video"}]}]}`, "messages[0].content[0].type", "invalid_value"},
		{"image url", `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, "messages[0].content[0].image_url.url", "missing_required_parameter"},
		{"assistant null", `{"model":"gpt-4o","messages":[{"role":"user","content":"a"},{"role":"assistant","content":null}]}`, "messages.[1].content", ""},
		{"args type", `{"model":"gpt-4o","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{}}}]}]}`, "messages[0].tool_calls[0].function.arguments", "invalid_type"},
		{"no tool_call_id", `{"model":"gpt-4o","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id", "missing_required_parameter"},
		{"tool type", `{"model":"gpt-4o","messages":[{"role":"user","content":"a"}],"tools":[{"type":"web"}]}`, "tools[0].type", "invalid_value"},
		{"tool name", `{"model":"gpt-4o","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":{}}]}`, "tools[0].function.name", "missing_required_parameter"},
		{"tool_choice alone", `{"model":"gpt-4o","messages":[{"role":"user","content":"a"}],"tool_choice":"auto"}`, "tool_choice", ""},
		{"n type", `{"model":"gpt-4o","messages":[{"role":"user","content":"a"}],"n":"2"}`, "n", "invalid_type"},
		{"n min", `{"model":"gpt-4o","messages":[{"role":"user","content":"a"}],"n":0}`, "n", "integer_below_min_value"},
		{"temperature type", `{"model":"gpt-4o","messages":[{"role":"user","content":"a"}],"temperature":"hot"}`, "temperature", "invalid_type"},
		{"temperature max", `{"model":"gpt-4o","messages":[{"role":"user","content":"a"}],"temperature":3}`, "temperature", "decimal_above_max_value"},
		{"stream type", `{"model":"gpt-4o","messages":[{"role":"user","content":"a"}],"stream":"yes"}`, "stream", "invalid_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.URL+"/chat/completions", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+key)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var e struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil || res.StatusCode != 400 || e.Error.Type != "invalid_request_error" || e.Error.Message == "" {
				t.Fatalf("%d %s", res.StatusCode, b)
			}
			if deref(e.Error.Param) != tc.param || deref(e.Error.Code) != tc.code {
				t.Errorf("param %q code %q, want %q %q: %s", deref(e.Error.Param), deref(e.Error.Code), tc.param, tc.code, e.Error.Message)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestNotFoundAndNoKey(t *testing.T) {
	s := NewOpenAI(t, key)
	res, err := http.Post(s.URL+"/embeddingz", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 404 || gjson.GetBytes(b, "error.message").Str != "Invalid URL (POST /v1/embeddingz)" {
		t.Errorf("%d %s", res.StatusCode, b)
	}

	res, err = http.Get(s.URL + "/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 401 || gjson.GetBytes(b, "error.code").Type != gjson.Null ||
		!strings.HasPrefix(gjson.GetBytes(b, "error.message").Str, "You didn't provide an API key") {
		t.Errorf("%d %s", res.StatusCode, b)
	}
}
