package fakeupstream

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// The Responses API, POST /v1/responses, on the OpenAI server: what it
// validates (the commonly hit subset of what the real API refuses), what
// it stores (responses made with store left true, for previous_response_id
// and item ids), and the encrypted reasoning it issues and verifies.
//
//   - Reasoning models (o1/o3/o4, gpt-5 but gpt-5-chat) reason before every
//     answer: a reasoning item comes first, whose text is "thinking about:
//     <subject>" (the subject of the reply, as for Anthropic), shown as its
//     summary only when reasoning.summary is set, and counted as
//     reasoning_tokens either way; its encrypted_content is sent when
//     include asks for "reasoning.encrypted_content". They refuse
//     temperature and top_p; other models refuse reasoning parameters and
//     reasoning input items.
//   - Input tokens are (bytes of instructions, message text, function and
//     custom tool call names, arguments and inputs, and tool outputs)/4 + 1.
//   - A conversation is the stored chain of previous_response_id, then
//     input. Every function_call_output must answer a function_call before
//     it and every function_call must be answered; so with
//     custom_tool_call_output and custom_tool_call. A reasoning item is
//     taken back by its encrypted_content (verified, and issued for the
//     item's id when it gives one: the id is then not looked up, so
//     stateless clients such as Codex may send it with store false) or by
//     the id of a stored one; an id without encrypted_content that is not
//     stored is 404, as the real API answers it (with store false nothing
//     is stored).
//   - Function tools are strict unless "strict": false, and a strict
//     schema must say additionalProperties false and require every
//     property at every level, as the real API checks (a function in a
//     namespace only when it says "strict": true: the API falls back to
//     non-strict for an incompatible schema otherwise).
//   - Tools are offered top-level (tools) and partway through the
//     conversation (additional_tools input items, role developer, whose
//     tools are validated like top-level ones); a namespace tool groups
//     function and custom tools under its name (a name, a description,
//     tools). A custom tool takes free text, or text in a Lark or regex
//     grammar (format). The callable tools, in declaration order (tools,
//     then the additional_tools items of the conversation; namespaces
//     flattened), are what the reply rule calls: the first one, or the one
//     tool_choice forces ({"type":"function"} or {"type":"custom"}, by
//     name). A namespaced tool's call carries its namespace.
//   - background, conversation and prompt are refused with a 400 saying
//     the fake does not implement them.

// respRequest is a validated POST /v1/responses body.
type respRequest struct {
	root         gjson.Result
	model        string
	stream       bool
	obfuscation  bool
	store        bool
	reasons      bool   // the model reasons
	summary      string // reasoning.summary, "" = none
	encrypted    bool   // include reasoning.encrypted_content
	maxOutput    int    // 0 = unset
	items        []respItem
	promptTokens int
	lastRole     string // "user", "tool" (a tool output) or "assistant"
	lastUserText string
	lastToolText string
	call         *respTool // the tool the reply calls, nil for text
	previous     string
}

// respTool is a callable tool: a function or custom tool, top-level, in a
// namespace or in an additional_tools item.
type respTool struct {
	name      string
	namespace string // "" outside a namespace
	custom    bool
}

// respItem is one item of a conversation, as stored.
type respItem struct {
	raw   string // the item's JSON
	typ   string
	role  string
	id    string
	call  string     // call_id
	text  string     // message text, tool output text
	tools []respTool // the callable tools of an additional_tools item
}

var (
	// client_metadata is Codex's (the API takes it along with the rest).
	respParams = []string{"background", "client_metadata", "context_management", "conversation", "include", "input", "instructions",
		"max_output_tokens", "max_tool_calls", "metadata", "model", "parallel_tool_calls", "previous_response_id", "prompt",
		"prompt_cache_key", "prompt_cache_retention", "reasoning", "safety_identifier", "service_tier", "store", "stream",
		"stream_options", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation", "user"}
	respItemTypes = []string{"message", "reasoning", "function_call", "function_call_output", "item_reference", "additional_tools",
		"file_search_call", "web_search_call", "computer_call", "computer_call_output", "image_generation_call",
		"code_interpreter_call", "local_shell_call", "local_shell_call_output", "mcp_list_tools", "mcp_approval_request",
		"mcp_approval_response", "mcp_call", "custom_tool_call", "custom_tool_call_output", "tool_search_call", "tool_search_output"}
	respRoles       = []string{"user", "assistant", "system", "developer"}
	respInputParts  = []string{"input_text", "input_image", "input_file"}
	respOutputParts = []string{"output_text", "refusal"}
	respToolTypes   = []string{"function", "custom", "namespace", "file_search", "web_search", "web_search_preview", "web_search_2025_08_26",
		"web_search_preview_2025_03_11", "computer_use_preview", "mcp", "code_interpreter", "image_generation", "local_shell",
		"shell", "apply_patch", "tool_search"}
	respIncludes = []string{"code_interpreter_call.outputs", "computer_call_output.output.image_url", "file_search_call.results",
		"message.input_image.image_url", "message.output_text.logprobs", "reasoning.encrypted_content", "web_search_call.action.sources"}
	respEfforts   = []string{"none", "minimal", "low", "medium", "high", "xhigh"}
	respSummaries = []string{"auto", "concise", "detailed"}
	// The tools a namespace holds; text.verbosity.
	respNestedToolTypes = []string{"function", "custom"}
	respVerbosities     = []string{"low", "medium", "high"}
)

// reasoningModel reports the model families that reason.
func reasoningModel(m string) bool {
	if strings.HasPrefix(m, "gpt-5-chat") {
		return false
	}
	return strings.HasPrefix(m, "o1") || strings.HasPrefix(m, "o3") || strings.HasPrefix(m, "o4") || strings.HasPrefix(m, "gpt-5")
}

func errUnsupported(param string) *apiError {
	return badRequest(fmt.Sprintf("Unsupported parameter: '%s' is not supported with this model.", param), param, "unsupported_parameter")
}

func errNotFoundItem(id string, store bool) *apiError {
	msg := fmt.Sprintf("Item with id '%s' not found.", id)
	if !store {
		msg += " Items are not persisted when `store` is set to false. Try again with `store` set to true, or remove this item from your input."
	}
	return &apiError{Status: http.StatusNotFound, Message: msg, Type: "invalid_request_error", Param: "input"}
}

// parseResponses validates a Responses request the way OpenAI does and
// extracts what the reply needs.
func (s *Server) parseResponses(body []byte) (*respRequest, *apiError) {
	root := gjson.ParseBytes(body)
	if !gjson.ValidBytes(body) || !root.IsObject() {
		return nil, badRequest("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "+
			"HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have "+
			"trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)", "", "")
	}
	var err *apiError
	root.ForEach(func(k, _ gjson.Result) bool {
		if !slices.Contains(respParams, k.Str) {
			err = badRequest(fmt.Sprintf("Unknown parameter: '%s'.", k.Str), k.Str, "unknown_parameter")
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	req := &respRequest{root: root, store: true, obfuscation: true}
	model := root.Get("model")
	switch {
	case !present(model) || (model.Type == gjson.String && model.Str == ""):
		return nil, errMissing("model")
	case model.Type != gjson.String:
		return nil, errType("model", "a string", model)
	}
	req.model = model.Str
	req.reasons = reasoningModel(req.model)

	for _, f := range []string{"background", "conversation", "prompt"} {
		if v := root.Get(f); present(v) && v.Type != gjson.False {
			return nil, badRequest(fmt.Sprintf("'%s' is not implemented by this fake upstream.", f), f, "")
		}
	}
	for _, f := range []string{"store", "stream", "parallel_tool_calls"} {
		if v := root.Get(f); present(v) && !v.IsBool() {
			return nil, errType(f, "a boolean", v)
		}
	}
	if v := root.Get("store"); v.Type == gjson.False {
		req.store = false
	}
	req.stream = root.Get("stream").Type == gjson.True
	if so := root.Get("stream_options"); present(so) {
		if !req.stream {
			return nil, badRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options", "")
		}
		if !so.IsObject() {
			return nil, errType("stream_options", "an object", so)
		}
		req.obfuscation = so.Get("include_obfuscation").Type != gjson.False
	}
	if v := root.Get("instructions"); present(v) && v.Type != gjson.String && !v.IsArray() {
		return nil, errType("instructions", "a string", v)
	}
	for _, f := range []string{"safety_identifier", "user", "prompt_cache_key"} {
		v := root.Get(f)
		if !present(v) {
			continue
		}
		if v.Type != gjson.String {
			return nil, errType(f, "a string", v)
		}
		if f != "prompt_cache_key" && len(v.Str) > 64 {
			return nil, badRequest(fmt.Sprintf("Invalid '%s': string too long. Expected a string with maximum length 64, but got a string with length %d instead.", f, len(v.Str)), f, "string_above_max_length")
		}
	}
	if v := root.Get("max_output_tokens"); present(v) {
		if !isInteger(v) {
			return nil, errType("max_output_tokens", "an integer", v)
		}
		if v.Int() < 16 {
			return nil, badRequest(fmt.Sprintf("Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got %s instead.", v.Raw), "max_output_tokens", "integer_below_min_value")
		}
		req.maxOutput = int(v.Int())
	}
	for _, f := range []struct {
		name     string
		min, max float64
	}{{"temperature", 0, 2}, {"top_p", 0, 1}} {
		v := root.Get(f.name)
		if !present(v) {
			continue
		}
		if v.Type != gjson.Number {
			return nil, errType(f.name, "a decimal", v)
		}
		if req.reasons {
			return nil, errUnsupported(f.name)
		}
		switch {
		case v.Num < f.min:
			return nil, badRequest(fmt.Sprintf("Invalid '%s': decimal below minimum value. Expected a value >= %g, but got %s instead.", f.name, f.min, v.Raw), f.name, "decimal_below_min_value")
		case v.Num > f.max:
			return nil, badRequest(fmt.Sprintf("Invalid '%s': decimal above maximum value. Expected a value <= %g, but got %s instead.", f.name, f.max, v.Raw), f.name, "decimal_above_max_value")
		}
	}
	if e := checkReasoning(req, root.Get("reasoning")); e != nil {
		return nil, e
	}
	if inc := root.Get("include"); present(inc) {
		if !inc.IsArray() {
			return nil, errType("include", "an array", inc)
		}
		for i, v := range inc.Array() {
			if !slices.Contains(respIncludes, v.Str) {
				return nil, errValue(fmt.Sprintf("include[%d]", i), v.String(), respIncludes...)
			}
			req.encrypted = req.encrypted || v.Str == "reasoning.encrypted_content"
		}
	}
	if e := checkTextFormat(root.Get("text")); e != nil {
		return nil, e
	}
	tools, e := checkRespTools("tools", root.Get("tools"), false)
	if e != nil {
		return nil, e
	}

	// The conversation: the stored chain, then this input.
	if v := root.Get("previous_response_id"); present(v) {
		if v.Type != gjson.String {
			return nil, errType("previous_response_id", "a string", v)
		}
		prev := s.storedResponse(v.Str)
		if prev == nil {
			return nil, &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("Previous response with id '%s' not found.", v.Str),
				Type: "invalid_request_error", Param: "previous_response_id", Code: "previous_response_not_found"}
		}
		req.previous = v.Str
		req.items = slices.Clone(prev)
	}
	nPrev := len(req.items)
	in := root.Get("input")
	switch {
	case !present(in):
		if req.previous == "" {
			return nil, errMissing("input")
		}
	case in.Type == gjson.String:
		req.items = append(req.items, respItem{raw: string(jsonBytes(obj{{"type", "message"}, {"role", "user"}, {"content", in.Str}})),
			typ: "message", role: "user", text: in.Str})
	case in.IsArray():
		for i, it := range in.Array() {
			item, e := s.checkInputItem(req, fmt.Sprintf("input[%d]", i), it)
			if e != nil {
				return nil, e
			}
			req.items = append(req.items, item)
		}
	default:
		return nil, errType("input", "one of a string or array of input items", in)
	}
	if len(req.items) == 0 {
		return nil, errEmpty("input")
	}
	if e := checkCallPairs(req.items); e != nil {
		return nil, e
	}
	for _, it := range req.items {
		tools = append(tools, it.tools...)
	}
	forced, choice, e := checkRespToolChoice(root.Get("tool_choice"), tools)
	if e != nil {
		return nil, e
	}

	bytes := len(root.Get("instructions").String())
	for _, it := range req.items {
		bytes += len(it.text)
		if it.typ == "function_call" || it.typ == "custom_tool_call" {
			g := gjson.Parse(it.raw)
			bytes += len(g.Get("name").Str) + len(g.Get("arguments").Str) + len(g.Get("input").Str)
		}
	}
	req.promptTokens = bytes/4 + 1
	for i := len(req.items) - 1; i >= 0; i-- {
		it := req.items[i]
		if req.lastRole == "" {
			switch {
			case it.typ == "function_call_output", it.typ == "custom_tool_call_output":
				req.lastRole, req.lastToolText = "tool", it.text
			case it.typ == "message" && it.role == "user":
				req.lastRole = "user"
			case it.typ == "message" && it.role == "assistant", it.typ == "function_call", it.typ == "custom_tool_call":
				req.lastRole = "assistant"
			}
		}
		if it.typ == "message" && it.role == "user" {
			req.lastUserText = it.text
			break
		}
	}
	if req.lastRole == "user" && choice != "none" && len(req.items) > nPrev {
		switch {
		case forced != nil:
			req.call = forced
		case len(tools) > 0:
			req.call = &tools[0]
		}
	}
	if strings.HasPrefix(req.model, "unknown") {
		e := errModelNotFound(req.model)
		return nil, &e
	}
	return req, nil
}

func checkReasoning(req *respRequest, r gjson.Result) *apiError {
	if !present(r) {
		return nil
	}
	if !r.IsObject() {
		return errType("reasoning", "an object", r)
	}
	for _, f := range []struct {
		name string
		vals []string
	}{{"effort", respEfforts}, {"summary", respSummaries}, {"generate_summary", respSummaries}} {
		v := r.Get(f.name)
		if !present(v) {
			continue
		}
		if !req.reasons {
			return errUnsupported("reasoning." + f.name)
		}
		if !slices.Contains(f.vals, v.Str) {
			return errValue("reasoning."+f.name, v.String(), f.vals...)
		}
		if f.name != "effort" {
			req.summary = v.Str
		}
	}
	return nil
}

func checkTextFormat(t gjson.Result) *apiError {
	if !present(t) {
		return nil
	}
	if !t.IsObject() {
		return errType("text", "an object", t)
	}
	if v := t.Get("verbosity"); present(v) && !slices.Contains(respVerbosities, v.Str) {
		return errValue("text.verbosity", v.String(), respVerbosities...)
	}
	f := t.Get("format")
	if !present(f) {
		return nil
	}
	if !f.IsObject() {
		return errType("text.format", "an object", f)
	}
	typ := f.Get("type")
	if !typ.Exists() {
		return errMissing("text.format.type")
	}
	switch typ.Str {
	case "text", "json_object":
	case "json_schema":
		name := f.Get("name")
		switch {
		case !name.Exists():
			return errMissing("text.format.name")
		case name.Type != gjson.String:
			return errType("text.format.name", "a string", name)
		case !toolNameRegexp.MatchString(name.Str):
			return badRequest("Invalid 'text.format.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", "text.format.name", "invalid_value")
		}
		s := f.Get("schema")
		switch {
		case !s.Exists():
			return errMissing("text.format.schema")
		case !s.IsObject():
			return errType("text.format.schema", "an object", s)
		}
	default:
		return errValue("text.format.type", typ.String(), "text", "json_object", "json_schema")
	}
	return nil
}

// checkRespTools validates a list of tools at p ("tools", or an
// additional_tools item's); it returns the callable ones in declaration
// order, namespaces flattened. In a namespace (nested) only function and
// custom tools are allowed.
func checkRespTools(p string, tools gjson.Result, nested bool) ([]respTool, *apiError) {
	if !present(tools) {
		return nil, nil
	}
	if !tools.IsArray() {
		return nil, errType(p, "an array", tools)
	}
	var out []respTool
	for i, t := range tools.Array() {
		got, e := checkRespTool(fmt.Sprintf("%s[%d]", p, i), t, nested)
		if e != nil {
			return nil, e
		}
		out = append(out, got...)
	}
	return out, nil
}

// checkRespTool validates one tool and returns its callable tools.
func checkRespTool(p string, t gjson.Result, nested bool) ([]respTool, *apiError) {
	if !t.IsObject() {
		return nil, errType(p, "an object", t)
	}
	types := respToolTypes
	if nested {
		types = respNestedToolTypes
	}
	typ := t.Get("type")
	switch {
	case !typ.Exists():
		return nil, errMissing(p + ".type")
	case !slices.Contains(types, typ.Str):
		return nil, errValue(p+".type", typ.String(), types...)
	}
	switch typ.Str {
	case "function", "custom", "namespace":
		name := t.Get("name")
		switch {
		case !name.Exists():
			return nil, errMissing(p + ".name")
		case name.Type != gjson.String:
			return nil, errType(p+".name", "a string", name)
		case !toolNameRegexp.MatchString(name.Str):
			return nil, badRequest(fmt.Sprintf("Invalid '%s.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", p), p+".name", "invalid_value")
		}
		desc := t.Get("description")
		switch {
		case !desc.Exists() && typ.Str == "namespace":
			return nil, errMissing(p + ".description")
		case present(desc) && desc.Type != gjson.String:
			return nil, errType(p+".description", "a string", desc)
		}
		switch typ.Str {
		case "namespace":
			inner := t.Get("tools")
			if !inner.Exists() {
				return nil, errMissing(p + ".tools")
			}
			got, e := checkRespTools(p+".tools", inner, true)
			for i := range got {
				got[i].namespace = name.Str
			}
			return got, e
		case "custom":
			if e := checkCustomFormat(p+".format", t.Get("format")); e != nil {
				return nil, e
			}
			return []respTool{{name: name.Str, custom: true}}, nil
		}
		params := t.Get("parameters")
		if present(params) && !params.IsObject() {
			return nil, errType(p+".parameters", "an object", params)
		}
		st := t.Get("strict")
		if present(st) && !st.IsBool() {
			return nil, errType(p+".strict", "a boolean", st)
		}
		// Top-level functions are strict by default; in a namespace the API
		// falls back to non-strict unless strict is asked for.
		if (!nested && st.Type != gjson.False) || st.Type == gjson.True {
			if why := strictViolation(params, "()"); why != "" {
				return nil, badRequest(fmt.Sprintf("Invalid schema for function '%s': %s", name.Str, why), p+".parameters", "invalid_function_parameters")
			}
		}
		return []respTool{{name: name.Str}}, nil
	case "file_search":
		if !t.Get("vector_store_ids").IsArray() {
			return nil, errMissing(p + ".vector_store_ids")
		}
	case "mcp":
		if t.Get("server_label").Type != gjson.String {
			return nil, errMissing(p + ".server_label")
		}
	}
	return nil, nil
}

// checkCustomFormat validates a custom tool's format: unconstrained text,
// or a Lark or regex grammar.
func checkCustomFormat(p string, f gjson.Result) *apiError {
	if !present(f) {
		return nil
	}
	if !f.IsObject() {
		return errType(p, "an object", f)
	}
	typ := f.Get("type")
	switch {
	case !typ.Exists():
		return errMissing(p + ".type")
	case typ.Str == "text":
		return nil
	case typ.Str != "grammar":
		return errValue(p+".type", typ.String(), "text", "grammar")
	}
	syntax, def := f.Get("syntax"), f.Get("definition")
	switch {
	case !syntax.Exists():
		return errMissing(p + ".syntax")
	case syntax.Str != "lark" && syntax.Str != "regex":
		return errValue(p+".syntax", syntax.String(), "lark", "regex")
	case !def.Exists():
		return errMissing(p + ".definition")
	case def.Type != gjson.String:
		return errType(p+".definition", "a string", def)
	}
	return nil
}

// strictViolation is why a schema fails strict mode, "" if it passes: every
// object schema must say additionalProperties false and require every one
// of its properties.
func strictViolation(s gjson.Result, context string) string {
	if !s.IsObject() {
		return ""
	}
	props := s.Get("properties")
	if s.Get("type").Str == "object" || props.IsObject() {
		if s.Get("additionalProperties").Type != gjson.False {
			return fmt.Sprintf("In context=%s, 'additionalProperties' is required to be supplied and to be false.", context)
		}
		req := map[string]bool{}
		for _, r := range s.Get("required").Array() {
			req[r.Str] = true
		}
		var missing string
		props.ForEach(func(k, _ gjson.Result) bool {
			if !req[k.Str] {
				missing = k.Str
			}
			return missing == ""
		})
		if missing != "" {
			return fmt.Sprintf("In context=%s, 'required' is required to be supplied and to be an array including every key in properties. Missing '%s'.", context, missing)
		}
	}
	var why string
	props.ForEach(func(k, v gjson.Result) bool {
		why = strictViolation(v, fmt.Sprintf("('properties', '%s')", k.Str))
		return why == ""
	})
	if why == "" {
		why = strictViolation(s.Get("items"), "('items',)")
	}
	return why
}

// checkRespToolChoice validates tool_choice against the callable tools; it
// returns the forced tool (if any) and the mode.
func checkRespToolChoice(tc gjson.Result, tools []respTool) (*respTool, string, *apiError) {
	if !present(tc) {
		return nil, "auto", nil
	}
	switch {
	case tc.Type == gjson.String:
		if !slices.Contains(toolChoices, tc.Str) {
			return nil, "", errValue("tool_choice", tc.Str, toolChoices...)
		}
		return nil, tc.Str, nil
	case tc.IsObject():
		switch typ := tc.Get("type").Str; typ {
		case "function", "custom":
			name := tc.Get("name")
			if name.Type != gjson.String {
				return nil, "", errMissing("tool_choice.name")
			}
			i := slices.IndexFunc(tools, func(t respTool) bool { return t.name == name.Str && t.custom == (typ == "custom") })
			if i < 0 {
				return nil, "", badRequest(fmt.Sprintf("Tool choice '%s' not found in 'tools' parameter: %s.", typ, name.Str), "tool_choice", "")
			}
			return &tools[i], typ, nil
		case "allowed_tools":
			mode := tc.Get("mode").Str
			if mode == "" {
				mode = "auto"
			}
			return nil, mode, nil
		default:
			return nil, "hosted", nil
		}
	}
	return nil, "", errType("tool_choice", "one of a string or object", tc)
}

// checkInputItem validates one input item.
func (s *Server) checkInputItem(req *respRequest, p string, it gjson.Result) (respItem, *apiError) {
	if !it.IsObject() {
		return respItem{}, errType(p, "an object", it)
	}
	item := respItem{raw: it.Raw, typ: "message"}
	if typ := it.Get("type"); present(typ) {
		if typ.Type != gjson.String || !slices.Contains(respItemTypes, typ.Str) {
			return respItem{}, errValue(p+".type", typ.String(), respItemTypes...)
		}
		item.typ = typ.Str
	}
	item.id = it.Get("id").Str
	switch item.typ {
	case "message":
		role := it.Get("role")
		switch {
		case !role.Exists():
			return respItem{}, errMissing(p + ".role")
		case !slices.Contains(respRoles, role.Str):
			return respItem{}, errValue(p+".role", role.String(), respRoles...)
		}
		item.role = role.Str
		allowed := respInputParts
		if role.Str == "assistant" {
			allowed = respOutputParts
		}
		text, e := checkRespContent(p+".content", it.Get("content"), allowed)
		if e != nil {
			return respItem{}, e
		}
		item.text = text
	case "function_call", "custom_tool_call":
		payload := "arguments"
		if item.typ == "custom_tool_call" {
			payload = "input"
		}
		for _, f := range []string{"call_id", "name", payload} {
			v := it.Get(f)
			switch {
			case !v.Exists():
				return respItem{}, errMissing(p + "." + f)
			case v.Type != gjson.String:
				return respItem{}, errType(p+"."+f, "a string", v)
			}
		}
		if ns := it.Get("namespace"); present(ns) && ns.Type != gjson.String {
			return respItem{}, errType(p+".namespace", "a string", ns)
		}
		item.call = it.Get("call_id").Str
	case "additional_tools":
		role := it.Get("role")
		switch {
		case !role.Exists():
			return respItem{}, errMissing(p + ".role")
		case role.Str != "developer":
			return respItem{}, errValue(p+".role", role.String(), "developer")
		}
		tools := it.Get("tools")
		if !tools.Exists() {
			return respItem{}, errMissing(p + ".tools")
		}
		got, e := checkRespTools(p+".tools", tools, false)
		if e != nil {
			return respItem{}, e
		}
		item.tools = got
	case "function_call_output", "custom_tool_call_output":
		id := it.Get("call_id")
		switch {
		case !id.Exists():
			return respItem{}, errMissing(p + ".call_id")
		case id.Type != gjson.String:
			return respItem{}, errType(p+".call_id", "a string", id)
		}
		item.call = id.Str
		out := it.Get("output")
		switch {
		case !out.Exists():
			return respItem{}, errMissing(p + ".output")
		case out.Type == gjson.String:
			item.text = out.Str
		case out.IsArray():
			text, e := checkRespContent(p+".output", out, respInputParts)
			if e != nil {
				return respItem{}, e
			}
			item.text = text
		default:
			return respItem{}, errType(p+".output", "one of a string or array of objects", out)
		}
	case "reasoning":
		if !req.reasons {
			return respItem{}, badRequest("Reasoning input items can only be provided to a reasoning or computer use model. Remove reasoning items from your input and try again.", p, "")
		}
		sum := it.Get("summary")
		switch {
		case !sum.Exists():
			return respItem{}, errMissing(p + ".summary")
		case !sum.IsArray():
			return respItem{}, errType(p+".summary", "an array", sum)
		}
		// Taken back by its encrypted content (issued for the item's id,
		// if one is given: no look-up, so store false clients may keep
		// the ids), or else looked up by its id.
		enc := it.Get("encrypted_content")
		switch {
		case present(enc):
			if id, ok := verifyEncrypted(enc.String()); !ok || (item.id != "" && id != item.id) {
				what := "The encrypted content"
				if item.id != "" {
					what += " for item " + item.id
				}
				return respItem{}, badRequest(what+" could not be verified.", p+".encrypted_content", "invalid_encrypted_content")
			}
		case item.id == "":
			return respItem{}, errMissing(p + ".id")
		default:
			if _, ok := s.storedItem(item.id); !ok {
				return respItem{}, errNotFoundItem(item.id, req.store)
			}
		}
	case "item_reference":
		stored, ok := s.storedItem(item.id)
		if !ok {
			return respItem{}, errNotFoundItem(item.id, req.store)
		}
		return stored, nil
	}
	return item, nil
}

// checkRespContent validates a message's content (a string or an array of
// parts among allowed) and returns its text, parts joined by a space.
func checkRespContent(p string, c gjson.Result, allowed []string) (string, *apiError) {
	switch {
	case !c.Exists():
		return "", errMissing(p)
	case c.Type == gjson.String:
		return c.Str, nil
	case !c.IsArray():
		return "", errType(p, "one of a string or array of objects", c)
	}
	var texts []string
	for j, part := range c.Array() {
		pp := fmt.Sprintf("%s[%d]", p, j)
		if !part.IsObject() {
			return "", errType(pp, "an object", part)
		}
		t := part.Get("type")
		if !t.Exists() {
			return "", errMissing(pp + ".type")
		}
		if !slices.Contains(allowed, t.Str) {
			return "", errValue(pp+".type", t.String(), allowed...)
		}
		switch t.Str {
		case "input_text", "output_text":
			v := part.Get("text")
			switch {
			case !v.Exists():
				return "", errMissing(pp + ".text")
			case v.Type != gjson.String:
				return "", errType(pp+".text", "a string", v)
			}
			texts = append(texts, v.Str)
		case "refusal":
			if v := part.Get("refusal"); v.Type != gjson.String {
				return "", errMissing(pp + ".refusal")
			}
		case "input_image":
			u, f := part.Get("image_url"), part.Get("file_id")
			if !present(u) && !present(f) {
				return "", badRequest(fmt.Sprintf("Invalid '%s': one of 'image_url' or 'file_id' must be provided.", pp), pp, "")
			}
			if present(u) {
				if e := checkImageURL(pp+".image_url", u); e != nil {
					return "", e
				}
			}
			if d := part.Get("detail"); present(d) && !slices.Contains([]string{"low", "high", "auto", "original"}, d.Str) {
				return "", errValue(pp+".detail", d.String(), "low", "high", "auto", "original")
			}
		case "input_file":
			if !present(part.Get("file_id")) && !present(part.Get("file_data")) && !present(part.Get("file_url")) {
				return "", badRequest(fmt.Sprintf("Invalid '%s': one of 'file_id', 'file_data' or 'file_url' must be provided.", pp), pp, "")
			}
		}
	}
	return strings.Join(texts, " "), nil
}

// checkImageURL accepts an http(s) URL or a base64 data URL of an image.
func checkImageURL(p string, u gjson.Result) *apiError {
	if u.Type != gjson.String {
		return errType(p, "a string", u)
	}
	if strings.HasPrefix(u.Str, "https://") || strings.HasPrefix(u.Str, "http://") {
		return nil
	}
	if rest, ok := strings.CutPrefix(u.Str, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		if ok && strings.HasSuffix(meta, ";base64") {
			if raw, ok := decodeBase64(data); ok && sniffImage(raw) != "" {
				return nil
			}
			return badRequest("The image data you provided does not represent a valid image. Please check your input and try again with one of the supported image formats: ['image/jpeg', 'image/png', 'image/gif', 'image/webp'].", p, "invalid_image_format")
		}
	}
	return badRequest(fmt.Sprintf("Invalid '%s'. Expected a valid URL, but got a value with an invalid format.", p), p, "invalid_value")
}

// checkCallPairs enforces the pairing of tool calls and outputs in a
// conversation: function calls with function outputs, custom tool calls
// with custom tool outputs.
func checkCallPairs(items []respItem) *apiError {
	type key struct{ kind, id string }
	kinds := map[string]string{"function_call": "function call", "custom_tool_call": "custom tool call"}
	calls := map[key]bool{} // answered?
	var order []key
	for _, it := range items {
		switch it.typ {
		case "function_call", "custom_tool_call":
			k := key{kinds[it.typ], it.call}
			if _, ok := calls[k]; !ok {
				order = append(order, k)
			}
			calls[k] = false
		case "function_call_output", "custom_tool_call_output":
			k := key{kinds[strings.TrimSuffix(it.typ, "_output")], it.call}
			if _, ok := calls[k]; !ok {
				return badRequest(fmt.Sprintf("No tool call found for %s output with call_id %s.", k.kind, it.call), "input", "")
			}
			calls[k] = true
		}
	}
	for _, k := range order {
		if !calls[k] {
			return badRequest(fmt.Sprintf("No tool output found for %s %s.", k.kind, k.id), "input", "")
		}
	}
	return nil
}

// The encrypted reasoning the fake issues: a Fernet-shaped token (version
// byte 0x80, a zero timestamp) carrying the reasoning item's id and a MAC
// of it, so it verifies on any fake and nowhere else.

func encryptedContent(itemID string) string {
	raw := []byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0}
	raw = binary.BigEndian.AppendUint16(raw, uint16(len(itemID)))
	raw = append(raw, itemID...)
	raw = append(raw, encryptedMAC(itemID)...)
	return base64.URLEncoding.EncodeToString(raw)
}

func encryptedMAC(itemID string) []byte {
	m := hmac.New(sha256.New, signingKey)
	m.Write([]byte("responses-reasoning\x00" + itemID))
	return m.Sum(nil)
}

// verifyEncrypted returns the id of the reasoning item s was issued for,
// and whether it verifies.
func verifyEncrypted(s string) (string, bool) {
	raw, err := base64.URLEncoding.DecodeString(s)
	if err != nil || len(raw) < 11 || raw[0] != 0x80 {
		return "", false
	}
	n := int(binary.BigEndian.Uint16(raw[9:11]))
	if len(raw) != 11+n+32 {
		return "", false
	}
	id := string(raw[11 : 11+n])
	return id, bytes.Equal(raw[11+n:], encryptedMAC(id))
}
