package llmproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	anthropicopt "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/sjson"
	"google.golang.org/genai"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
)

// The tool every matrix case offers: lookup(q string).
var lookupSchema = map[string]any{
	"type":       "object",
	"properties": map[string]any{"q": map[string]any{"type": "string"}},
	"required":   []any{"q"},
}

// toolTurn is what a client saw of the model's tool call.
type toolTurn struct {
	name, args string
}

// sdkDriver drives one inbound API with its official SDK.
type sdkDriver interface {
	// text asks "hello there" and returns the answer's text.
	text(ctx context.Context, model string, stream bool) (string, error)
	// tools asks "weather?" with the lookup tool, checks the call, answers
	// it with "sunny" and returns the call and the final text.
	tools(ctx context.Context, model string, stream bool) (toolTurn, string, error)
}

// TestMatrix drives every inbound API, with its official SDK, against
// every provider, streamed and not, with plain text and a tool round trip:
// 4 × 4 × 2 × 2 = 64 cases through a real Caddy, against local upstreams
// that validate requests as strictly as the real providers. The
// openai_responses column uses a reasoning model, so every client's tool
// loop also carries OpenAI's encrypted reasoning back to the upstream
// (which verifies it) where the client's API can hold it.
func TestMatrix(t *testing.T) {
	oai := fakeupstream.NewOpenAI(t, "sk-matrix-openai")
	ant := fakeupstream.NewAnthropic(t, "sk-ant-matrix")
	gem := fakeupstream.NewGemini(t, "AIzaMatrixGeminiKey")
	rsp := fakeupstream.NewOpenAI(t, "sk-matrix-responses")
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key sk-matrix-openai
			models gpt-*
		}
		upstream ant {
			provider anthropic
			base_url %s
			key sk-ant-matrix
			models claude-*
		}
		upstream gem {
			provider gemini
			base_url %s
			key AIzaMatrixGeminiKey
			models gemini-*
		}
		upstream rsp {
			provider openai_responses
			base_url %s
			key sk-matrix-responses
			models o3-*
			alias matrix-reasoner o3-mini
		}
	}`, instanceName(t), oai.URL, ant.URL, gem.URL, rsp.URL))

	drivers := []struct {
		name string
		d    sdkDriver
	}{
		{"chat", chatDriver{openaiClient()}},
		{"responses", responsesDriver{openaiClient()}},
		{"messages", messagesDriver{anthropic.NewClient(anthropicopt.WithBaseURL(proxyBase), anthropicopt.WithAPIKey("unused"), anthropicopt.WithMaxRetries(0))}},
		{"gemini", newGeminiDriver(t)},
	}
	providers := []struct{ name, model string }{
		{"openai", "gpt-4o"},
		{"anthropic", "claude-sonnet-4-5"},
		{"gemini", "gemini-2.5-flash"},
		{"openai_responses", "o3-mini"},
	}
	passed := 0
	for _, d := range drivers {
		for _, pr := range providers {
			for _, stream := range []bool{false, true} {
				mode := "json"
				if stream {
					mode = "stream"
				}
				t.Run(fmt.Sprintf("%s_to_%s_%s_text", d.name, pr.name, mode), func(t *testing.T) {
					got, err := d.d.text(context.Background(), pr.model, stream)
					if err != nil {
						t.Fatal(err)
					}
					if got != "echo: hello there" {
						t.Fatalf("text = %q", got)
					}
					passed++
				})
				t.Run(fmt.Sprintf("%s_to_%s_%s_tools", d.name, pr.name, mode), func(t *testing.T) {
					call, final, err := d.d.tools(context.Background(), pr.model, stream)
					if err != nil {
						t.Fatal(err)
					}
					var args map[string]any
					if call.name != "lookup" || json.Unmarshal([]byte(call.args), &args) != nil || args["q"] != "weather?" {
						t.Fatalf("tool call = %+v", call)
					}
					if !strings.HasPrefix(final, "result: ") || !strings.Contains(final, "sunny") {
						t.Fatalf("after the tool result: %q", final)
					}
					// Clients whose API holds a reasoning signature (Anthropic
					// thinking blocks, Gemini thoughtSignature) hand OpenAI's
					// encrypted reasoning back; the upstream verified it.
					if pr.name == "openai_responses" && (d.name == "messages" || d.name == "gemini") &&
						!strings.Contains(string(rsp.LastRequest().Body), `"type":"reasoning","summary":[],"encrypted_content":"gAAAAA`) {
						t.Errorf("encrypted reasoning not handed back: %s", rsp.LastRequest().Body)
					}
					passed++
				})
			}
		}
	}
	t.Logf("matrix: %d/64 passed", passed)

	t.Run("responses_to_openai_responses_passthrough", func(t *testing.T) {
		responsesPassthrough(t, rsp)
	})
}

// responsesPassthrough: a Responses client reaching an openai_responses
// upstream is relayed byte for byte but for the model (here an alias), so
// what the proxy cannot translate works there: hosted tools,
// previous_response_id (the upstream's own stored conversation), and
// reasoning items handed back by their encrypted content.
func responsesPassthrough(t *testing.T, rsp *fakeupstream.Server) {
	var sent []byte // the body the SDK sent the proxy
	c := openaiClient(option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		sent = b
		req.Body = io.NopCloser(bytes.NewReader(b))
		return next(req)
	}))
	ctx := context.Background()
	// relayed checks that the upstream got the client's body untouched
	// but for the aliased model.
	relayed := func(what string) {
		t.Helper()
		want, err := sjson.SetBytes(bytes.Clone(sent), "model", "o3-mini")
		if err != nil {
			t.Fatal(err)
		}
		if got := rsp.LastRequest().Body; !bytes.Equal(got, want) {
			t.Errorf("%s: the upstream got\n%s\nthe client sent\n%s", what, got, sent)
		}
	}
	tools := []responses.ToolUnionParam{
		{OfWebSearch: &responses.WebSearchToolParam{Type: responses.WebSearchToolTypeWebSearch}},
		responses.ToolParamOfFunction("lookup", lookupSchema, false),
	}
	callOf := func(r *responses.Response) responses.ResponseFunctionToolCall {
		t.Helper()
		for _, it := range r.Output {
			if it.Type == "function_call" {
				return it.AsFunctionCall()
			}
		}
		t.Fatalf("no function_call in %s", r.RawJSON())
		return responses.ResponseFunctionToolCall{}
	}
	output := func(callID, text string) responses.ResponseInputItemUnionParam {
		out := responses.ResponseInputItemParamOfFunctionCallOutput(text)
		out.OfFunctionCallOutput.CallID = openai.String(callID)
		return out
	}
	user := responses.ResponseInputItemParamOfMessage("weather?", responses.EasyInputMessageRoleUser)

	// Stored conversation: the second turn names the first by its id.
	first, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "matrix-reasoner", Tools: tools,
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{user}}})
	if err != nil {
		t.Fatal(err)
	}
	relayed("first turn")
	if !bytes.Contains(rsp.LastRequest().Body, []byte(`"web_search"`)) {
		t.Errorf("hosted tool not relayed: %s", rsp.LastRequest().Body)
	}
	call := callOf(first)
	second, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "matrix-reasoner", Tools: tools,
		PreviousResponseID: openai.String(first.ID),
		Input:              responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{output(call.CallID, "sunny")}}})
	if err != nil {
		t.Fatal(err)
	}
	relayed("previous_response_id turn")
	if second.OutputText() != "result: sunny" {
		t.Errorf("after previous_response_id: %s", second.RawJSON())
	}

	// Stateless: the reasoning goes back by its encrypted content.
	p := responses.ResponseNewParams{Model: "matrix-reasoner", Tools: tools, Store: openai.Bool(false),
		Include:   []responses.ResponseIncludable{responses.ResponseIncludableReasoningEncryptedContent},
		Reasoning: shared.ReasoningParam{Effort: shared.ReasoningEffortLow, Summary: shared.ReasoningSummaryAuto},
		Input:     responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{user}}}
	first, err = c.Responses.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	relayed("stateless first turn")
	rs := first.Output[0].AsReasoning()
	if first.Output[0].Type != "reasoning" || rs.EncryptedContent == "" {
		t.Fatalf("no encrypted reasoning: %s", first.RawJSON())
	}
	call = callOf(first)
	reasoning, _ := json.Marshal(map[string]any{"type": "reasoning", "summary": rs.Summary, "encrypted_content": rs.EncryptedContent})
	p.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
		user,
		param.Override[responses.ResponseInputItemUnionParam](json.RawMessage(reasoning)),
		responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name),
		output(call.CallID, "sunny"),
	}}
	second, err = c.Responses.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	relayed("stateless second turn")
	if second.OutputText() != "result: sunny" || !bytes.Contains(rsp.LastRequest().Body, []byte(rs.EncryptedContent)) {
		t.Errorf("after the reasoning round trip: %s", second.RawJSON())
	}
}

type chatDriver struct{ c openai.Client }

func (d chatDriver) complete(ctx context.Context, p openai.ChatCompletionNewParams, stream bool) (openai.ChatCompletionMessage, error) {
	if !stream {
		resp, err := d.c.Chat.Completions.New(ctx, p)
		if err != nil {
			return openai.ChatCompletionMessage{}, err
		}
		return resp.Choices[0].Message, nil
	}
	s := d.c.Chat.Completions.NewStreaming(ctx, p)
	var acc openai.ChatCompletionAccumulator
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if err := s.Err(); err != nil {
		return openai.ChatCompletionMessage{}, err
	}
	if len(acc.Choices) == 0 {
		return openai.ChatCompletionMessage{}, fmt.Errorf("stream had no choices")
	}
	return acc.Choices[0].Message, nil
}

func (d chatDriver) text(ctx context.Context, model string, stream bool) (string, error) {
	m, err := d.complete(ctx, userMessage(model, "hello there"), stream)
	return m.Content, err
}

func (d chatDriver) tools(ctx context.Context, model string, stream bool) (toolTurn, string, error) {
	tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
		Name: "lookup", Description: openai.String("Look something up"), Parameters: lookupSchema,
	})}
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather?")}
	m, err := d.complete(ctx, openai.ChatCompletionNewParams{Model: model, Tools: tools, Messages: msgs}, stream)
	if err != nil {
		return toolTurn{}, "", err
	}
	if len(m.ToolCalls) != 1 {
		return toolTurn{}, "", fmt.Errorf("want one tool call, got %+v", m)
	}
	call := m.ToolCalls[0]
	msgs = append(msgs, m.ToParam(), openai.ToolMessage("sunny", call.ID))
	final, err := d.complete(ctx, openai.ChatCompletionNewParams{Model: model, Tools: tools, Messages: msgs}, stream)
	return toolTurn{call.Function.Name, call.Function.Arguments}, final.Content, err
}

type responsesDriver struct{ c openai.Client }

func (d responsesDriver) create(ctx context.Context, p responses.ResponseNewParams, stream bool) (*responses.Response, error) {
	if !stream {
		return d.c.Responses.New(ctx, p)
	}
	s := d.c.Responses.NewStreaming(ctx, p)
	var deltas strings.Builder
	var done *responses.Response
	for s.Next() {
		ev := s.Current()
		switch ev.Type {
		case "response.output_text.delta":
			deltas.WriteString(ev.Delta)
		case "response.completed":
			r := ev.AsResponseCompleted().Response
			done = &r
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	if done == nil {
		return nil, fmt.Errorf("stream ended without response.completed")
	}
	if got := done.OutputText(); got != deltas.String() {
		return nil, fmt.Errorf("streamed deltas %q differ from the completed response's text %q", deltas.String(), got)
	}
	return done, nil
}

func (d responsesDriver) text(ctx context.Context, model string, stream bool) (string, error) {
	r, err := d.create(ctx, responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello there")}}, stream)
	if err != nil {
		return "", err
	}
	return r.OutputText(), nil
}

func (d responsesDriver) tools(ctx context.Context, model string, stream bool) (toolTurn, string, error) {
	tools := []responses.ToolUnionParam{responses.ToolParamOfFunction("lookup", lookupSchema, false)}
	input := responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage("weather?", responses.EasyInputMessageRoleUser)}
	r, err := d.create(ctx, responses.ResponseNewParams{Model: model, Tools: tools, Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input}}, stream)
	if err != nil {
		return toolTurn{}, "", err
	}
	var call *responses.ResponseFunctionToolCall
	for _, item := range r.Output {
		if item.Type == "function_call" {
			fc := item.AsFunctionCall()
			call = &fc
		}
	}
	if call == nil {
		return toolTurn{}, "", fmt.Errorf("no function_call in %+v", r.Output)
	}
	out := responses.ResponseInputItemParamOfFunctionCallOutput("sunny")
	out.OfFunctionCallOutput.CallID = openai.String(call.CallID)
	input = append(input, responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name), out)
	r, err = d.create(ctx, responses.ResponseNewParams{Model: model, Tools: tools, Input: responses.ResponseNewParamsInputUnion{OfInputItemList: input}}, stream)
	if err != nil {
		return toolTurn{}, "", err
	}
	return toolTurn{call.Name, call.Arguments}, r.OutputText(), nil
}

type messagesDriver struct{ c anthropic.Client }

func (d messagesDriver) create(ctx context.Context, p anthropic.MessageNewParams, stream bool) (*anthropic.Message, error) {
	if !stream {
		return d.c.Messages.New(ctx, p)
	}
	s := d.c.Messages.NewStreaming(ctx, p)
	var m anthropic.Message
	for s.Next() {
		if err := m.Accumulate(s.Current()); err != nil {
			return nil, err
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return &m, nil
}

func anthropicText(m *anthropic.Message) string {
	var b strings.Builder
	for _, c := range m.Content {
		if c.Type == "text" {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

func (d messagesDriver) text(ctx context.Context, model string, stream bool) (string, error) {
	m, err := d.create(ctx, anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 1024,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))}}, stream)
	if err != nil {
		return "", err
	}
	return anthropicText(m), nil
}

func (d messagesDriver) tools(ctx context.Context, model string, stream bool) (toolTurn, string, error) {
	tools := []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "lookup", Description: anthropic.String("Look something up"),
		InputSchema: anthropic.ToolInputSchemaParam{Properties: lookupSchema["properties"], Required: []string{"q"}}}}}
	msgs := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather?"))}
	m, err := d.create(ctx, anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 1024, Tools: tools, Messages: msgs}, stream)
	if err != nil {
		return toolTurn{}, "", err
	}
	var call *anthropic.ContentBlockUnion
	for i := range m.Content {
		if m.Content[i].Type == "tool_use" {
			call = &m.Content[i]
		}
	}
	if call == nil || m.StopReason != anthropic.StopReasonToolUse {
		return toolTurn{}, "", fmt.Errorf("no tool_use (stop %s) in %+v", m.StopReason, m.Content)
	}
	msgs = append(msgs, m.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(call.ID, "sunny", false)))
	m2, err := d.create(ctx, anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 1024, Tools: tools, Messages: msgs}, stream)
	if err != nil {
		return toolTurn{}, "", err
	}
	return toolTurn{call.Name, string(call.Input)}, anthropicText(m2), nil
}

type geminiDriver struct{ c *genai.Client }

func newGeminiDriver(t *testing.T) geminiDriver {
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: "unused", Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: proxyBase},
	})
	if err != nil {
		t.Fatal(err)
	}
	return geminiDriver{c}
}

func (d geminiDriver) generate(ctx context.Context, model string, contents []*genai.Content, cfg *genai.GenerateContentConfig, stream bool) (*genai.GenerateContentResponse, error) {
	if !stream {
		return d.c.Models.GenerateContent(ctx, model, contents, cfg)
	}
	// Gather a stream into one answer the way a client would use it.
	var parts []*genai.Part
	var last *genai.GenerateContentResponse
	for chunk, err := range d.c.Models.GenerateContentStream(ctx, model, contents, cfg) {
		if err != nil {
			return nil, err
		}
		last = chunk
		if len(chunk.Candidates) > 0 && chunk.Candidates[0].Content != nil {
			parts = append(parts, chunk.Candidates[0].Content.Parts...)
		}
	}
	if last == nil {
		return nil, fmt.Errorf("empty stream")
	}
	var text strings.Builder
	var merged []*genai.Part
	for _, p := range parts {
		if p.Text != "" && !p.Thought {
			text.WriteString(p.Text)
			continue
		}
		merged = append(merged, p)
	}
	if text.Len() > 0 {
		merged = append([]*genai.Part{{Text: text.String()}}, merged...)
	}
	return &genai.GenerateContentResponse{Candidates: []*genai.Candidate{{Content: &genai.Content{Role: "model", Parts: merged}}}}, nil
}

func (d geminiDriver) text(ctx context.Context, model string, stream bool) (string, error) {
	r, err := d.generate(ctx, model, genai.Text("hello there"), nil, stream)
	if err != nil {
		return "", err
	}
	return r.Text(), nil
}

func (d geminiDriver) tools(ctx context.Context, model string, stream bool) (toolTurn, string, error) {
	cfg := &genai.GenerateContentConfig{Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{
		Name: "lookup", Description: "Look something up", ParametersJsonSchema: lookupSchema,
	}}}}}
	contents := genai.Text("weather?")
	r, err := d.generate(ctx, model, contents, cfg, stream)
	if err != nil {
		return toolTurn{}, "", err
	}
	calls := r.FunctionCalls()
	if len(calls) != 1 {
		return toolTurn{}, "", fmt.Errorf("want one function call, got %d", len(calls))
	}
	args, _ := json.Marshal(calls[0].Args)
	resp := genai.NewPartFromFunctionResponse(calls[0].Name, map[string]any{"result": "sunny"})
	resp.FunctionResponse.ID = calls[0].ID
	contents = append(contents, r.Candidates[0].Content, &genai.Content{Role: "user", Parts: []*genai.Part{resp}})
	r, err = d.generate(ctx, model, contents, cfg, stream)
	if err != nil {
		return toolTurn{}, "", err
	}
	return toolTurn{calls[0].Name, string(args)}, r.Text(), nil
}
