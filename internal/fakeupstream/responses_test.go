package fakeupstream

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/gjson"
)

var respLookup = responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
	Name:        "lookup",
	Description: openai.String("Look something up."),
	Parameters: map[string]any{
		"type":       "object",
		"properties": map[string]any{"q": map[string]any{"type": "string"}},
		"required":   []string{"q"},
	},
	Strict: openai.Bool(false),
}}

func userInput(text string) responses.ResponseInputItemUnionParam {
	return responses.ResponseInputItemParamOfMessage(text, responses.EasyInputMessageRoleUser)
}

func fnOutput(callID, text string) responses.ResponseInputItemUnionParam {
	out := responses.ResponseInputItemParamOfFunctionCallOutput(text)
	out.OfFunctionCallOutput.CallID = openai.String(callID)
	return out
}

func inputList(items ...responses.ResponseInputItemUnionParam) responses.ResponseNewParamsInputUnion {
	return responses.ResponseNewParamsInputUnion{OfInputItemList: items}
}

// rawItem is an input item written as JSON, for what the SDK's types
// cannot say (a reasoning item without its id).
func rawItem(s string) responses.ResponseInputItemUnionParam {
	return param.Override[responses.ResponseInputItemUnionParam](json.RawMessage(s))
}

// post sends a raw body to /v1/responses.
func post(t *testing.T, s *Server, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/responses", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestResponsesText(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	r, err := c.Responses.New(context.Background(), responses.ResponseNewParams{
		Model:        "gpt-4o",
		Instructions: openai.String("be brief"),
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("hello world")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.OutputText() != "echo: hello world" || r.Status != "completed" || !strings.HasPrefix(r.ID, "resp_") || r.Model != "gpt-4o" {
		t.Errorf("response: %s", r.RawJSON())
	}
	if len(r.Output) != 1 || r.Output[0].Type != "message" || !strings.HasPrefix(r.Output[0].ID, "msg_") {
		t.Errorf("output: %+v", r.Output)
	}
	// input: len("be brief")+len("hello world") = 19 bytes -> 19/4+1; output: 3 words.
	if u := r.Usage; u.InputTokens != 5 || u.OutputTokens != 3 || u.TotalTokens != 8 || u.OutputTokensDetails.ReasoningTokens != 0 {
		t.Errorf("usage: %+v", u)
	}
	if r.Instructions.OfString != "be brief" || !gjson.Get(r.RawJSON(), "store").Bool() || r.Temperature != 1 || r.ToolChoice.OfToolChoiceMode != "auto" {
		t.Errorf("echoed settings: %s", r.RawJSON())
	}
	if last := s.LastRequest(); last.Path != "/v1/responses" || last.Key != key {
		t.Errorf("last request: %+v", last)
	}
}

// streamResponse runs a streamed request through the SDK, checking the
// framing the SDK does not: event names, sequence numbers, one terminal
// event last.
func streamResponse(t *testing.T, c openai.Client, p responses.ResponseNewParams) (*responses.Response, []responses.ResponseStreamEventUnion) {
	t.Helper()
	st := c.Responses.NewStreaming(context.Background(), p)
	var evs []responses.ResponseStreamEventUnion
	var done *responses.Response
	for st.Next() {
		ev := st.Current()
		if ev.SequenceNumber != int64(len(evs)) {
			t.Fatalf("event %d has sequence_number %d", len(evs), ev.SequenceNumber)
		}
		if done != nil {
			t.Fatalf("event after the end: %s", ev.RawJSON())
		}
		switch ev.Type {
		case "response.completed", "response.incomplete", "response.failed":
			r := ev.Response
			done = &r
		}
		evs = append(evs, ev)
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if done == nil {
		t.Fatal("no terminal event")
	}
	return done, evs
}

func TestResponsesStream(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	r, evs := streamResponse(t, c, responses.ResponseNewParams{Model: "gpt-4o-mini", Input: inputList(userInput("one two three"))})
	var deltas strings.Builder
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
		if ev.Type == "response.output_text.delta" {
			deltas.WriteString(ev.Delta)
			if ev.ItemID != r.Output[0].ID || gjson.Get(ev.RawJSON(), "obfuscation").Str == "" {
				t.Errorf("delta: %s", ev.RawJSON())
			}
		}
	}
	want := "response.created response.in_progress response.output_item.added response.content_part.added " +
		strings.Repeat("response.output_text.delta ", 4) +
		"response.output_text.done response.content_part.done response.output_item.done response.completed"
	if strings.Join(types, " ") != want {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(types, " "), want)
	}
	if deltas.String() != "echo: one two three" || r.OutputText() != deltas.String() || r.Usage.OutputTokens != 4 {
		t.Errorf("text %q, final %s", deltas.String(), r.RawJSON())
	}
	if evs[0].Response.Status != "in_progress" || evs[0].Response.Usage.TotalTokens != 0 || len(evs[0].Response.Output) != 0 {
		t.Errorf("created: %s", evs[0].RawJSON())
	}
}

func TestResponsesToolRoundTripStateless(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	ctx := context.Background()
	p := responses.ResponseNewParams{Model: "gpt-4o", Store: openai.Bool(false), Tools: []responses.ToolUnionParam{respLookup},
		Input: inputList(userInput("capital of France"))}
	first, evs := streamResponse(t, c, p)
	call := first.Output[0].AsFunctionCall()
	if len(first.Output) != 1 || call.Name != "lookup" || call.Arguments != `{"q":"capital of France"}` || call.CallID != "call_1" || gjson.Get(first.RawJSON(), "store").Bool() {
		t.Fatalf("first: %s", first.RawJSON())
	}
	var args strings.Builder
	for _, ev := range evs {
		if ev.Type == "response.function_call_arguments.delta" {
			args.WriteString(ev.Delta)
		}
	}
	if args.String() != call.Arguments {
		t.Errorf("streamed arguments %q", args.String())
	}

	out := fnOutput(call.CallID, "Paris")
	p.Input = inputList(userInput("capital of France"), responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name), out)
	second, err := c.Responses.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if second.OutputText() != "result: Paris" {
		t.Errorf("second: %s", second.RawJSON())
	}

	// Without its call, an output is refused; without its output, a call.
	p.Input = inputList(userInput("capital of France"), out)
	_, err = c.Responses.New(ctx, p)
	if e := asAPIError(t, err, 400); !strings.Contains(e.Message, "No tool call found for function call output with call_id call_1") {
		t.Errorf("orphan output: %s", e.RawJSON())
	}
	p.Input = inputList(userInput("capital of France"), responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name))
	_, err = c.Responses.New(ctx, p)
	if e := asAPIError(t, err, 400); !strings.Contains(e.Message, "No tool output found for function call call_1") {
		t.Errorf("unanswered call: %s", e.RawJSON())
	}
	// With store false nothing was stored.
	p.Input = inputList(out)
	p.PreviousResponseID = openai.String(first.ID)
	_, err = c.Responses.New(ctx, p)
	if e := asAPIError(t, err, 404); e.Code != "previous_response_not_found" {
		t.Errorf("previous of a store=false response: %s", e.RawJSON())
	}
}

func TestResponsesPreviousResponseID(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	ctx := context.Background()
	tools := []responses.ToolUnionParam{respLookup, {OfWebSearch: &responses.WebSearchToolParam{Type: responses.WebSearchToolTypeWebSearch}}}
	first, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", Tools: tools, Input: inputList(userInput("weather?"))})
	if err != nil {
		t.Fatal(err)
	}
	call := first.Output[0].AsFunctionCall()
	second, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", Tools: tools,
		PreviousResponseID: openai.String(first.ID),
		Input:              inputList(fnOutput(call.CallID, "sunny"))})
	if err != nil {
		t.Fatal(err)
	}
	if second.OutputText() != "result: sunny" || second.PreviousResponseID != first.ID {
		t.Errorf("second: %s", second.RawJSON())
	}
	// The chain goes on: the third turn sees the whole conversation.
	third, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o",
		PreviousResponseID: openai.String(second.ID), Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("thanks")}})
	if err != nil || third.OutputText() != "echo: thanks" || third.Usage.InputTokens <= second.Usage.InputTokens {
		t.Errorf("third: %v %s", err, third.RawJSON())
	}
	// An output item's id can be referred to.
	if code, b := post(t, s, `{"model":"gpt-4o","input":[{"type":"item_reference","id":"`+first.Output[0].ID+`"},{"type":"function_call_output","call_id":"`+call.CallID+`","output":"x"}]}`); code != 200 {
		t.Errorf("item_reference: %d %s", code, b)
	}
	_, err = c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", PreviousResponseID: openai.String("resp_nope"),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")}})
	if e := asAPIError(t, err, 404); e.Code != "previous_response_not_found" || e.Param != "previous_response_id" {
		t.Errorf("unknown previous: %s", e.RawJSON())
	}
	// Reset forgets the stored responses.
	s.Reset()
	_, err = c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", PreviousResponseID: openai.String(first.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("x")}})
	asAPIError(t, err, 404)
}

func TestResponsesReasoning(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	ctx := context.Background()
	p := responses.ResponseNewParams{
		Model: "o3-mini", Store: openai.Bool(false), Tools: []responses.ToolUnionParam{respLookup},
		Reasoning: shared.ReasoningParam{Effort: shared.ReasoningEffortLow, Summary: shared.ReasoningSummaryAuto},
		Include:   []responses.ResponseIncludable{responses.ResponseIncludableReasoningEncryptedContent},
		Input:     inputList(userInput("capital of France")),
	}
	first, evs := streamResponse(t, c, p)
	if len(first.Output) != 2 {
		t.Fatalf("output: %s", first.RawJSON())
	}
	rs, call := first.Output[0].AsReasoning(), first.Output[1].AsFunctionCall()
	if len(rs.Summary) != 1 || rs.Summary[0].Text != "thinking about: capital of France" || !strings.HasPrefix(rs.EncryptedContent, "gAAAAA") {
		t.Errorf("reasoning item: %s", first.Output[0].RawJSON())
	}
	if u := first.Usage; u.OutputTokensDetails.ReasoningTokens != 5 || u.OutputTokens != int64(5+len(fragments(call.Arguments, 4))) {
		t.Errorf("usage: %+v", u)
	}
	var summary strings.Builder
	for _, ev := range evs {
		if ev.Type == "response.reasoning_summary_text.delta" {
			summary.WriteString(ev.Delta)
		}
	}
	if summary.String() != rs.Summary[0].Text {
		t.Errorf("streamed summary %q", summary.String())
	}

	// The reasoning goes back by its encrypted content, without its id
	// (store is false: the id would be looked up, and is not stored).
	reasoning := `{"type":"reasoning","summary":[{"type":"summary_text","text":"x"}],"encrypted_content":"` + rs.EncryptedContent + `"}`
	out := fnOutput(call.CallID, "Paris")
	fc := responses.ResponseInputItemParamOfFunctionCall(call.Arguments, call.CallID, call.Name)
	p.Input = inputList(userInput("capital of France"), rawItem(reasoning), fc, out)
	second, err := c.Responses.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if second.OutputText() != "result: Paris" || second.Output[0].AsReasoning().Summary[0].Text != "thinking about: Paris" {
		t.Errorf("second: %s", second.RawJSON())
	}

	for name, tc := range map[string]struct {
		item   string
		status int
		want   string
	}{
		"tampered":        {`{"type":"reasoning","summary":[],"encrypted_content":"gAAAAABfake"}`, 400, "could not be verified"},
		"id, store false": {`{"type":"reasoning","id":"` + rs.ID + `","summary":[]}`, 404, "Items are not persisted when `store` is set to false"},
		"another item's id": {`{"type":"reasoning","id":"rs_other","summary":[],"encrypted_content":"` + rs.EncryptedContent + `"}`, 400,
			"The encrypted content for item rs_other could not be verified."},
		"no summary":              {`{"type":"reasoning","encrypted_content":"` + rs.EncryptedContent + `"}`, 400, "Missing required parameter: 'input[1].summary'"},
		"neither id nor contents": {`{"type":"reasoning","summary":[]}`, 400, "Missing required parameter: 'input[1].id'"},
	} {
		p.Input = inputList(userInput("capital of France"), rawItem(tc.item), fc, out)
		_, err := c.Responses.New(ctx, p)
		if e := asAPIError(t, err, tc.status); !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s: %s", name, e.RawJSON())
		}
	}
	// With its own id and encrypted content it is taken back, store false
	// or not, as Codex sends it: the content is verified, the id not
	// looked up.
	withID := `{"type":"reasoning","id":"` + rs.ID + `","summary":[],"content":null,"encrypted_content":"` + rs.EncryptedContent + `"}`
	p.Input = inputList(userInput("capital of France"), rawItem(withID), fc, out)
	if r, err := c.Responses.New(ctx, p); err != nil || r.OutputText() != "result: Paris" {
		t.Errorf("reasoning item with its id, store false: %v", err)
	}
	// A model that does not reason takes no reasoning items.
	_, err = c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", Input: inputList(userInput("q"), rawItem(reasoning))})
	if e := asAPIError(t, err, 400); !strings.Contains(e.Message, "Reasoning input items can only be provided to a reasoning") {
		t.Errorf("reasoning item to gpt-4o: %s", e.RawJSON())
	}
	// Without a summary asked for, the reasoning is counted but not shown.
	r, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "o3-mini", Input: inputList(userInput("hi"))})
	if err != nil || len(r.Output) != 2 || len(r.Output[0].AsReasoning().Summary) != 0 || r.Output[0].AsReasoning().EncryptedContent != "" ||
		r.Usage.OutputTokensDetails.ReasoningTokens != 3 || r.OutputText() != "echo: hi" {
		t.Errorf("plain reasoning: %v %s", err, r.RawJSON())
	}
}

func TestResponsesMaxOutputTokens(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	long := strings.Repeat("word ", 40)
	r, err := c.Responses.New(context.Background(), responses.ResponseNewParams{Model: "gpt-4o", MaxOutputTokens: openai.Int(16),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(long)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "incomplete" || r.IncompleteDetails.Reason != "max_output_tokens" || r.Usage.OutputTokens != 16 ||
		r.Output[0].AsMessage().Status != "incomplete" {
		t.Errorf("%s", r.RawJSON())
	}
	final, evs := streamResponse(t, c, responses.ResponseNewParams{Model: "o3-mini", MaxOutputTokens: openai.Int(16),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(long)}})
	if evs[len(evs)-1].Type != "response.incomplete" || len(final.Output) != 1 || final.Output[0].Type != "reasoning" {
		t.Errorf("reasoning used the whole budget: %s", final.RawJSON())
	}
}

func TestResponsesValidation(t *testing.T) {
	s := NewOpenAI(t, key)
	loose := `{"type":"function","name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}`
	for _, tc := range []struct {
		body, param, code, msg string
		status                 int
	}{
		{`{"model":"gpt-4o","input":"x","stop":["a"]}`, "stop", "unknown_parameter", "Unknown parameter: 'stop'.", 400},
		{`{"model":"gpt-4o","input":"x","max_tokens":5}`, "max_tokens", "unknown_parameter", "", 400},
		{`{"input":"x"}`, "model", "missing_required_parameter", "", 400},
		{`{"model":"gpt-4o"}`, "input", "missing_required_parameter", "", 400},
		{`{"model":"unknown-model","input":"x"}`, "", "model_not_found", "", 404},
		{`{"model":"gpt-4o","input":"x","tools":[` + loose + `]}`, "tools[0].parameters", "invalid_function_parameters",
			"Invalid schema for function 'lookup': In context=(), 'additionalProperties' is required to be supplied and to be false.", 400},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"function","name":"f","strict":true,"parameters":{"type":"object","properties":{"q":{"type":"string"}},"additionalProperties":false}}]}`,
			"tools[0].parameters", "invalid_function_parameters", "Missing 'q'.", 400},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"function","name":"a b","strict":false}]}`, "tools[0].name", "invalid_value", "", 400},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"browser"}]}`, "tools[0].type", "invalid_value", "", 400},
		{`{"model":"gpt-4o","input":"x","tools":[` + strings.Replace(loose, `"parameters"`, `"strict":false,"parameters"`, 1) + `],"tool_choice":{"type":"function","name":"other"}}`,
			"tool_choice", "", "", 400},
		{`{"model":"o3-mini","input":"x","temperature":0.5}`, "temperature", "unsupported_parameter", "Unsupported parameter: 'temperature' is not supported with this model.", 400},
		{`{"model":"gpt-4o","input":"x","reasoning":{"effort":"low"}}`, "reasoning.effort", "unsupported_parameter", "", 400},
		{`{"model":"o3-mini","input":"x","reasoning":{"effort":"max"}}`, "reasoning.effort", "invalid_value", "", 400},
		{`{"model":"gpt-4o","input":"x","max_output_tokens":5}`, "max_output_tokens", "integer_below_min_value", "", 400},
		{`{"model":"gpt-4o","input":"x","temperature":3}`, "temperature", "decimal_above_max_value", "", 400},
		{`{"model":"gpt-4o","input":"x","include":["nope"]}`, "include[0]", "invalid_value", "", 400},
		{`{"model":"gpt-4o","input":"x","safety_identifier":"` + strings.Repeat("s", 65) + `"}`, "safety_identifier", "string_above_max_length", "", 400},
		{`{"model":"gpt-4o","input":"x","stream_options":{"include_obfuscation":false}}`, "stream_options", "", "", 400},
		{`{"model":"gpt-4o","input":[{"type":"bogus"}]}`, "input[0].type", "invalid_value", "", 400},
		{`{"model":"gpt-4o","input":[{"role":"bot","content":"x"}]}`, "input[0].role", "invalid_value", "", 400},
		{`{"model":"gpt-4o","input":[{"role":"assistant","content":[{"type":"input_text","text":"x"}]}]}`, "input[0].content[0].type", "invalid_value",
			"Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'.", 400},
		{`{"model":"gpt-4o","input":[{"role":"user","content":[{"type":"output_text","text":"x"}]}]}`, "input[0].content[0].type", "invalid_value", "", 400},
		{`{"model":"gpt-4o","input":[{"role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,bm90IGFuIGltYWdl"}]}]}`,
			"input[0].content[0].image_url", "invalid_image_format", "", 400},
		{`{"model":"gpt-4o","input":[{"type":"function_call","call_id":"c","name":"f"}]}`, "input[0].arguments", "missing_required_parameter", "", 400},
		{`{"model":"gpt-4o","input":[{"type":"item_reference","id":"msg_x"}]}`, "input", "", "Item with id 'msg_x' not found.", 404},
		{`{"model":"gpt-4o","input":"x","background":true}`, "background", "", "", 400},
		{`{"model":"gpt-4o","input":"x","text":{"format":{"type":"json_schema","schema":{}}}}`, "text.format.name", "missing_required_parameter", "", 400},
	} {
		status, b := post(t, s, tc.body)
		e := gjson.GetBytes(b, "error")
		if status != tc.status || e.Get("param").Str != tc.param || e.Get("code").Str != tc.code || !strings.Contains(e.Get("message").Str, tc.msg) {
			t.Errorf("%s:\n%d %s", tc.body, status, b)
		}
	}
	// What the real API takes, the fake takes.
	for _, body := range []string{
		`{"model":"gpt-4o","input":"x","tools":[` + strings.Replace(loose, `"parameters"`, `"strict":false,"parameters"`, 1) + `],"tool_choice":{"type":"function","name":"lookup"},"parallel_tool_calls":false}`,
		`{"model":"gpt-4o","input":"x","tools":[{"type":"function","name":"f","parameters":{"type":"object","properties":{"q":{"type":"string"},"o":{"type":"object","properties":{},"additionalProperties":false,"required":[]}},"additionalProperties":false,"required":["q","o"]}}]}`,
		`{"model":"gpt-4o","input":[{"role":"developer","content":"d"},{"type":"message","role":"user","content":[{"type":"input_text","text":"x"},{"type":"input_image","image_url":"https://example.com/a.png","detail":"auto"}]},{"role":"assistant","content":"a"},{"role":"user","content":"y"}],"text":{"format":{"type":"json_schema","name":"r","schema":{"type":"object"},"strict":false}},"temperature":0.2,"top_p":0.5,"max_output_tokens":100,"safety_identifier":"u1","store":false,"metadata":{"k":"v"},"include":["message.output_text.logprobs"]}`,
		`{"model":"gpt-4o","input":"x","tools":[{"type":"web_search"},{"type":"custom","name":"apply_patch_tool"}],"tool_choice":"required"}`,
		`{"model":"gpt-5","input":"x","reasoning":{"effort":"minimal","summary":"detailed"},"include":["reasoning.encrypted_content"],"stream":false}`,
	} {
		if status, b := post(t, s, body); status != 200 {
			t.Errorf("%s:\n%d %s", body, status, b)
		}
	}
}

func TestResponsesBehaviors(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	s.SetBehavior(key, Behavior{Status: 429, RetryAfter: "7", Times: 1})
	_, err := c.Responses.New(context.Background(), responses.ResponseNewParams{Model: "gpt-4o", Input: inputList(userInput("x"))})
	if e := asAPIError(t, err, 429); e.Code != "rate_limit_exceeded" {
		t.Errorf("429: %s", e.RawJSON())
	}
	s.SetBehavior(key, Behavior{CutAfter: 3})
	st := c.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "gpt-4o", Input: inputList(userInput("a b c d"))})
	n := 0
	for st.Next() {
		n++
	}
	if n != 3 || st.Err() == nil {
		t.Errorf("cut stream: %d events, err %v", n, st.Err())
	}
	if got := s.Requests(key); got != 2 {
		t.Errorf("requests %d", got)
	}
}
