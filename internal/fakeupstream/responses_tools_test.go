package fakeupstream

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"
)

// The tool shapes Codex CLI sends: additional_tools input items, namespace
// tools, custom tools with freeform or grammar formats, and custom tool
// calls in history.

// rawTool is a tool written as JSON.
func rawTool(s string) responses.ToolUnionParam {
	return param.Override[responses.ToolUnionParam](json.RawMessage(s))
}

const (
	// Codex's exec: a custom tool with a Lark grammar, in the "functions"
	// namespace of an additional_tools item, before a function.
	codexExec = `{"type":"custom","name":"exec","description":"Run JavaScript","format":{"type":"grammar","syntax":"lark","definition":"start: SOURCE\nSOURCE: /[\\s\\S]+/\n"}}`
	codexWait = `{"type":"function","name":"wait","description":"Wait","strict":false,"parameters":{"type":"object","properties":{"cell_id":{"type":"string"}},"required":["cell_id"],"additionalProperties":false}}`
	codexNS   = `{"type":"namespace","name":"functions","description":"","tools":[` + codexExec + `,` + codexWait + `]}`
	codexAT   = `{"type":"additional_tools","id":"at_1","role":"developer","tools":[` + codexNS + `]}`
	// A namespace of functions, one loose (its strict left out).
	crmNS = `{"type":"namespace","name":"crm","description":"CRM tools","tools":[{"type":"function","name":"find","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}]}`
)

func TestResponsesCodexShapesAccepted(t *testing.T) {
	s := NewOpenAI(t, key)
	for _, body := range []string{
		// Codex's default model: its tools in an additional_tools item,
		// ids on every item, client_metadata, text.verbosity,
		// reasoning.context.
		`{"model":"gpt-5","stream":true,"store":false,"tool_choice":"auto","parallel_tool_calls":false,"include":["reasoning.encrypted_content"],` +
			`"reasoning":{"effort":"low","context":"all_turns"},"text":{"verbosity":"low"},"prompt_cache_key":"k","client_metadata":{"session_id":"s"},` +
			`"input":[` + codexAT + `,{"type":"message","id":"msg_1","role":"developer","content":[{"type":"input_text","text":"be good"}]},` +
			`{"type":"message","id":"msg_2","role":"user","content":[{"type":"input_text","text":"look around"}]}]}`,
		// Codex with a model it has no metadata for: top-level functions,
		// a namespace, a hosted tool.
		`{"model":"gpt-5","input":"x","tools":[` + codexWait + `,` + crmNS + `,{"type":"web_search","external_web_access":false}],"reasoning":{"summary":"auto"}}`,
		// Custom tools: freeform (no format, or text), regex grammar.
		`{"model":"gpt-4o","input":"x","tools":[{"type":"custom","name":"a"},{"type":"custom","name":"b","format":{"type":"text"}},` +
			`{"type":"custom","name":"c","format":{"type":"grammar","syntax":"regex","definition":"^\\d+$"}}],"tool_choice":{"type":"custom","name":"c"}}`,
		// Custom and namespaced calls in history, answered; an output of
		// input_text parts.
		`{"model":"gpt-4o","input":[` + codexAT + `,{"role":"user","content":"x"},` +
			`{"type":"custom_tool_call","id":"ctc_1","status":"completed","call_id":"c1","name":"exec","namespace":"functions","input":"text(1)"},` +
			`{"type":"custom_tool_call_output","id":"ctco_1","call_id":"c1","output":[{"type":"input_text","text":"Script completed"},{"type":"input_text","text":"1"}]},` +
			`{"type":"function_call","id":"fc_1","status":"completed","call_id":"c2","name":"wait","namespace":"functions","arguments":"{}"},` +
			`{"type":"function_call_output","id":"fco_1","call_id":"c2","output":"done"}]}`,
		// An empty additional_tools item.
		`{"model":"gpt-4o","input":[{"type":"additional_tools","role":"developer","tools":[]},{"role":"user","content":"x"}]}`,
	} {
		if status, b := post(t, s, body); status != 200 {
			t.Errorf("%s:\n%d %s", body, status, b)
		}
	}
}

func TestResponsesCodexShapesRefused(t *testing.T) {
	s := NewOpenAI(t, key)
	at := func(tools string) string {
		return `{"model":"gpt-4o","input":[{"type":"additional_tools","role":"developer","tools":[` + tools + `]},{"role":"user","content":"x"}]}`
	}
	loose := `{"type":"function","name":"f","strict":true,"parameters":{"type":"object","properties":{"q":{"type":"string"}}}}`
	for _, tc := range []struct {
		body, param, code, msg string
	}{
		{`{"model":"gpt-4o","input":[{"type":"additional_tools","role":"user","tools":[]}]}`, "input[0].role", "invalid_value",
			"Invalid value: 'user'. Supported values are: 'developer'."},
		{`{"model":"gpt-4o","input":[{"type":"additional_tools","tools":[]}]}`, "input[0].role", "missing_required_parameter", ""},
		{`{"model":"gpt-4o","input":[{"type":"additional_tools","role":"developer"}]}`, "input[0].tools", "missing_required_parameter", ""},
		{`{"model":"gpt-4o","input":[{"type":"additional_tools","role":"developer","tools":{}}]}`, "input[0].tools", "invalid_type", ""},
		// The nested tools are validated like top-level ones.
		{at(`{"type":"browser"}`), "input[0].tools[0].type", "invalid_value", ""},
		{at(`{"type":"custom","name":"a b"}`), "input[0].tools[0].name", "invalid_value", ""},
		{at(loose), "input[0].tools[0].parameters", "invalid_function_parameters", "Invalid schema for function 'f'"},
		// Namespaces: a name, a description, function and custom tools.
		{at(`{"type":"namespace","name":"n","tools":[]}`), "input[0].tools[0].description", "missing_required_parameter", ""},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"namespace","description":"","tools":[]}]}`, "tools[0].name", "missing_required_parameter", ""},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"namespace","name":"n.s","description":"","tools":[]}]}`, "tools[0].name", "invalid_value", ""},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"namespace","name":"n","description":""}]}`, "tools[0].tools", "missing_required_parameter", ""},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"namespace","name":"n","description":"","tools":[{"type":"web_search"}]}]}`, "tools[0].tools[0].type",
			"invalid_value", "Invalid value: 'web_search'. Supported values are: 'function' and 'custom'."},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"namespace","name":"n","description":"","tools":[{"type":"namespace","name":"m","description":"","tools":[]}]}]}`,
			"tools[0].tools[0].type", "invalid_value", ""},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"namespace","name":"n","description":"","tools":[` + loose + `]}]}`, "tools[0].tools[0].parameters",
			"invalid_function_parameters", ""},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"namespace","name":"n","description":"","tools":[{"type":"custom"}]}]}`, "tools[0].tools[0].name",
			"missing_required_parameter", ""},
		// Custom tool formats.
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"custom","name":"c","format":"lark"}]}`, "tools[0].format", "invalid_type", ""},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"custom","name":"c","format":{"type":"json"}}]}`, "tools[0].format.type", "invalid_value",
			"Invalid value: 'json'. Supported values are: 'text' and 'grammar'."},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"custom","name":"c","format":{"type":"grammar","syntax":"ebnf","definition":"x"}}]}`,
			"tools[0].format.syntax", "invalid_value", ""},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"custom","name":"c","format":{"type":"grammar","syntax":"lark"}}]}`,
			"tools[0].format.definition", "missing_required_parameter", ""},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"custom","name":"c","description":1}]}`, "tools[0].description", "invalid_type", ""},
		// Custom tool calls and their outputs.
		{`{"model":"gpt-4o","input":[{"type":"custom_tool_call","call_id":"c","name":"exec"}]}`, "input[0].input", "missing_required_parameter", ""},
		{`{"model":"gpt-4o","input":[{"type":"custom_tool_call","call_id":"c","name":"exec","input":{}}]}`, "input[0].input", "invalid_type", ""},
		{`{"model":"gpt-4o","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}","namespace":1}]}`, "input[0].namespace", "invalid_type", ""},
		{`{"model":"gpt-4o","input":[{"type":"custom_tool_call_output","call_id":"c"}]}`, "input[0].output", "missing_required_parameter", ""},
		{`{"model":"gpt-4o","input":[{"role":"user","content":"x"},{"type":"custom_tool_call_output","call_id":"c","output":"o"}]}`, "input", "",
			"No tool call found for custom tool call output with call_id c."},
		{`{"model":"gpt-4o","input":[{"role":"user","content":"x"},{"type":"custom_tool_call","call_id":"c","name":"exec","input":"1"}]}`, "input", "",
			"No tool output found for custom tool call c."},
		// A custom call is not answered by a function output.
		{`{"model":"gpt-4o","input":[{"role":"user","content":"x"},{"type":"custom_tool_call","call_id":"c","name":"exec","input":"1"},` +
			`{"type":"function_call_output","call_id":"c","output":"o"}]}`, "input", "", "No tool call found for function call output with call_id c."},
		// Forcing a tool that is not offered, or of another kind.
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"custom","name":"c"}],"tool_choice":{"type":"custom","name":"d"}}`, "tool_choice", "",
			"Tool choice 'custom' not found in 'tools' parameter: d."},
		{`{"model":"gpt-4o","input":"x","tools":[{"type":"custom","name":"c"}],"tool_choice":{"type":"function","name":"c"}}`, "tool_choice", "", ""},
		{`{"model":"gpt-4o","input":"x","text":{"verbosity":"loud"}}`, "text.verbosity", "invalid_value", ""},
		// What the real API does not know is still refused.
		{`{"model":"gpt-4o","input":[{"type":"extra_tools","role":"developer","tools":[]}]}`, "input[0].type", "invalid_value", ""},
	} {
		status, b := post(t, s, tc.body)
		e := gjson.GetBytes(b, "error")
		if status != 400 || e.Get("param").Str != tc.param || e.Get("code").Str != tc.code || !strings.Contains(e.Get("message").Str, tc.msg) {
			t.Errorf("%s:\n%d %s", tc.body, status, b)
		}
	}
}

// customInputStream collects a streamed custom tool call: its input
// deltas, the done event's input, and the event types.
func customInputStream(evs []responses.ResponseStreamEventUnion) (deltas, done string, types []string) {
	var b strings.Builder
	for _, ev := range evs {
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.custom_tool_call_input.delta":
			b.WriteString(ev.AsResponseCustomToolCallInputDelta().Delta)
		case "response.custom_tool_call_input.done":
			done = ev.AsResponseCustomToolCallInputDone().Input
		}
	}
	return b.String(), done, types
}

func TestResponsesCustomToolCall(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	ctx := context.Background()
	p := responses.ResponseNewParams{Model: "gpt-4o", Store: openai.Bool(false),
		Input: inputList(rawItem(codexAT), userInput("e2e tools turn: look around"))}

	// Codex's first tool is exec, a custom tool in the "functions"
	// namespace of an additional_tools item: it gets the user's text.
	r, err := c.Responses.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	ct := r.Output[0].AsCustomToolCall()
	if len(r.Output) != 1 || r.Output[0].Type != "custom_tool_call" || ct.Name != "exec" || ct.Namespace != "functions" ||
		ct.Input != "e2e tools turn: look around" || ct.CallID != "call_1" || !strings.HasPrefix(ct.ID, "ctc_") ||
		gjson.Get(r.Output[0].RawJSON(), "status").Str != "completed" || gjson.Get(r.Output[0].RawJSON(), "arguments").Exists() {
		t.Fatalf("output: %s", r.RawJSON())
	}
	if n := len(fragments(ct.Input, 4)); r.Usage.OutputTokens != int64(n) {
		t.Errorf("usage %+v, want %d output tokens", r.Usage, n)
	}

	// Streamed: the item added without its input, the input in
	// custom_tool_call_input deltas, done, the item done.
	final, evs := streamResponse(t, c, p)
	deltas, done, types := customInputStream(evs)
	n := len(fragments("e2e tools turn: look around", 4))
	want := "response.created response.in_progress response.output_item.added " +
		strings.Repeat("response.custom_tool_call_input.delta ", n) +
		"response.custom_tool_call_input.done response.output_item.done response.completed"
	if strings.Join(types, " ") != want {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(types, " "), want)
	}
	added := evs[2].AsResponseOutputItemAdded().Item
	if deltas != "e2e tools turn: look around" || done != deltas || added.Type != "custom_tool_call" || added.AsCustomToolCall().Input != "" ||
		added.AsCustomToolCall().Namespace != "functions" || gjson.Get(added.RawJSON(), "status").Str != "in_progress" {
		t.Errorf("deltas %q, done %q, added %s", deltas, done, added.RawJSON())
	}
	for _, ev := range evs {
		if ev.Type == "response.custom_tool_call_input.delta" && (ev.ItemID != final.Output[0].ID || ev.OutputIndex != 0 || gjson.Get(ev.RawJSON(), "obfuscation").Str == "") {
			t.Errorf("delta: %s", ev.RawJSON())
		}
	}
	if fc := final.Output[0].AsCustomToolCall(); fc.Input != deltas || fc.Namespace != "functions" || fc.CallID != "call_2" {
		t.Errorf("final: %s", final.RawJSON())
	}

	// Its output, input_text parts, comes back: "result: <the text>".
	call := `{"type":"custom_tool_call","id":"` + ct.ID + `","status":"completed","call_id":"call_1","name":"exec","namespace":"functions","input":"x"}`
	out := `{"type":"custom_tool_call_output","id":"ctco_1","call_id":"call_1","output":[{"type":"input_text","text":"Script failed"},{"type":"input_text","text":"SyntaxError"}]}`
	p.Input = inputList(rawItem(codexAT), userInput("e2e tools turn: look around"), rawItem(call), rawItem(out))
	if r, err := c.Responses.New(ctx, p); err != nil || r.OutputText() != "result: Script failed SyntaxError" {
		t.Errorf("after the output: %v %s", err, r.RawJSON())
	}
	final, evs = streamResponse(t, c, p)
	if final.OutputText() != "result: Script failed SyntaxError" || countEvents(evs, "response.custom_tool_call_input.delta") != 0 {
		t.Errorf("streamed after the output: %s", final.RawJSON())
	}

	// A reasoning model thinks first.
	p.Model, p.Input = "gpt-5", inputList(rawItem(codexAT), userInput("look"))
	if r, err := c.Responses.New(ctx, p); err != nil || len(r.Output) != 2 || r.Output[0].Type != "reasoning" || r.Output[1].AsCustomToolCall().Input != "look" {
		t.Errorf("reasoning model: %v %s", err, r.RawJSON())
	}
}

// countEvents counts the events of a type.
func countEvents(evs []responses.ResponseStreamEventUnion, typ string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func TestResponsesNamespacedFunctionCall(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	ctx := context.Background()
	// Hosted tools are not called; the namespace's function is the first
	// callable tool.
	p := responses.ResponseNewParams{Model: "gpt-4o", Input: inputList(userInput("who is Ada")),
		Tools: []responses.ToolUnionParam{rawTool(`{"type":"web_search"}`), rawTool(crmNS), respLookup}}
	r, err := c.Responses.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	fc := r.Output[0].AsFunctionCall()
	if r.Output[0].Type != "function_call" || fc.Name != "find" || fc.Namespace != "crm" || fc.Arguments != `{"q":"who is Ada"}` ||
		gjson.Get(r.Output[0].RawJSON(), "input").Exists() {
		t.Fatalf("output: %s", r.RawJSON())
	}
	final, evs := streamResponse(t, c, p)
	if countEvents(evs, "response.function_call_arguments.delta") != len(fragments(fc.Arguments, 4)) || countEvents(evs, "response.function_call_arguments.done") != 1 ||
		countEvents(evs, "response.custom_tool_call_input.delta") != 0 || final.Output[0].AsFunctionCall().Namespace != "crm" ||
		evs[2].AsResponseOutputItemAdded().Item.AsFunctionCall().Namespace != "crm" {
		t.Errorf("stream: %s", final.RawJSON())
	}

	// The call and its output go back with the namespace; with
	// previous_response_id the stored call is answered.
	out := fnOutput(fc.CallID, "a mathematician")
	r2, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", Tools: p.Tools, PreviousResponseID: openai.String(r.ID),
		Input: inputList(out)})
	if err != nil || r2.OutputText() != "result: a mathematician" {
		t.Errorf("second: %v %s", err, r2.RawJSON())
	}

	// Top-level tools come before additional_tools items; tool_choice
	// forces another one, by kind and name.
	for _, tc := range []struct {
		choice   string
		typ, ns  string
		name     string
		noTopLvl bool
	}{
		{"", "function_call", "", "lookup", false},
		{"", "custom_tool_call", "functions", "exec", true},
		{`{"type":"custom","name":"exec"}`, "custom_tool_call", "functions", "exec", false},
		{`{"type":"function","name":"wait"}`, "function_call", "functions", "wait", false},
		{`{"type":"function","name":"find"}`, "function_call", "crm", "find", false},
	} {
		body := `{"model":"gpt-4o","input":[` + codexAT + `,{"role":"user","content":"q"}],"tools":[{"type":"web_search"},` + respLookupJSON + `,` + crmNS + `]`
		if tc.noTopLvl {
			body = `{"model":"gpt-4o","input":[` + codexAT + `,{"role":"user","content":"q"}],"tools":[{"type":"web_search"}]`
		}
		if tc.choice != "" {
			body += `,"tool_choice":` + tc.choice
		}
		status, b := post(t, s, body+"}")
		o := gjson.GetBytes(b, "output.0")
		if status != 200 || o.Get("type").Str != tc.typ || o.Get("name").Str != tc.name || o.Get("namespace").Str != tc.ns {
			t.Errorf("%s: %d %s", body, status, o.Raw)
		}
	}
}

const respLookupJSON = `{"type":"function","name":"lookup","strict":false,"parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}`

func TestResponsesConversationTools(t *testing.T) {
	s := NewOpenAI(t, key)
	c := newClient(s, key)
	ctx := context.Background()
	// The tools of an additional_tools item stay offered for the rest of
	// the stored conversation.
	first, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", Input: inputList(rawItem(codexAT), userInput("one"))})
	if err != nil {
		t.Fatal(err)
	}
	ct := first.Output[0].AsCustomToolCall()
	out := `{"type":"custom_tool_call_output","call_id":"` + ct.CallID + `","output":"1"}`
	second, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", PreviousResponseID: openai.String(first.ID),
		Input: inputList(rawItem(out))})
	if err != nil || second.OutputText() != "result: 1" {
		t.Fatalf("second: %v %s", err, second.RawJSON())
	}
	third, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", PreviousResponseID: openai.String(second.ID),
		Input: inputList(userInput("two"))})
	if err != nil || third.Output[0].AsCustomToolCall().Input != "two" || third.Output[0].AsCustomToolCall().Namespace != "functions" {
		t.Errorf("third: %v %s", err, third.RawJSON())
	}
	// Input tokens count the custom call's name and input and its output.
	if second.Usage.InputTokens != int64((len("one")+len("exec")+len("one")+len("1"))/4+1) {
		t.Errorf("input tokens %d", second.Usage.InputTokens)
	}

	// The text-only switch answers with text whatever offers the tools:
	// an additional_tools item, or the stored conversation.
	s.SetTextOnly(true)
	defer s.SetTextOnly(false)
	r, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", Input: inputList(rawItem(codexAT), userInput("hi"))})
	if err != nil || r.OutputText() != "echo: hi" {
		t.Errorf("text only, additional_tools: %v %s", err, r.RawJSON())
	}
	r, err = c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o", PreviousResponseID: openai.String(second.ID),
		Input: inputList(userInput("hi"))})
	if err != nil || r.OutputText() != "echo: hi" {
		t.Errorf("text only, stored tools: %v %s", err, r.RawJSON())
	}
}
