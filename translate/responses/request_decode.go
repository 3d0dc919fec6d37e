package responses

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Prefixes of the encrypted_content the proxy makes for reasoning items.
const (
	sigPrefix      = "llmproxy:sig:"
	redactedPrefix = "llmproxy:redacted:"
)

// DecodeRequest reads an OpenAI Responses API request.
func DecodeRequest(body []byte) (*translate.Request, error) {
	if !gjson.ValidBytes(body) {
		return nil, &translate.RequestError{Message: "request body is not valid JSON"}
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, &translate.RequestError{Message: "request body must be a JSON object"}
	}
	if v := root.Get("previous_response_id"); present(v) {
		return nil, &translate.RequestError{
			Message: "previous_response_id is not supported: this proxy keeps no conversation state; send the whole conversation in input",
			Param:   "previous_response_id",
		}
	}
	if v := root.Get("conversation"); present(v) {
		return nil, &translate.RequestError{
			Message: "conversation is not supported: this proxy keeps no conversation state; send the whole conversation in input",
			Param:   "conversation",
		}
	}
	if root.Get("background").Type == gjson.True {
		return nil, &translate.RequestError{Message: "background mode is not supported by this proxy", Param: "background"}
	}
	if v := root.Get("prompt"); present(v) {
		return nil, &translate.RequestError{Message: "prompt (a stored prompt) is not supported by this proxy; send instructions and input instead", Param: "prompt"}
	}

	r := &translate.Request{}
	m := root.Get("model")
	if m.Type != gjson.String || m.Str == "" {
		return nil, &translate.RequestError{Message: "model is required and must be a string", Param: "model"}
	}
	r.Model = m.Str

	var system []string
	if v := root.Get("instructions"); present(v) {
		if v.Type != gjson.String {
			return nil, &translate.RequestError{Message: "instructions must be a string", Param: "instructions"}
		}
		if v.Str != "" {
			system = append(system, v.Str)
		}
	}

	d := &decoder{r: r}
	in := root.Get("input")
	switch {
	case in.Type == gjson.String:
		if in.Str == "" {
			return nil, &translate.RequestError{Message: "input must not be empty", Param: "input"}
		}
		r.Messages = append(r.Messages, translate.Message{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: in.Str}}})
	case in.IsArray():
		var err error
		if system, err = d.decodeInput(in, system); err != nil {
			return nil, err
		}
	case !present(in):
		return nil, &translate.RequestError{Message: "input is required", Param: "input"}
	default:
		return nil, &translate.RequestError{Message: "input must be a string or an array of input items", Param: "input"}
	}
	if len(r.Messages) == 0 {
		return nil, &translate.RequestError{Message: "input holds no message to answer", Param: "input"}
	}
	r.System = strings.Join(system, "\n\n")

	if err := d.decodeTools(root); err != nil {
		return nil, err
	}
	if err := decodeSettings(r, root); err != nil {
		return nil, err
	}
	return r, nil
}

// decoder holds what reading a request's parts shares: the tools that
// additional_tools items declare, which follow the top-level ones.
type decoder struct {
	r          *translate.Request
	additional []translate.Tool
}

// drop records something left out of the translation (see
// translate.Request.Dropped).
func (d *decoder) drop(param, what string) {
	d.r.Dropped = append(d.r.Dropped, param+": "+what)
}

// present reports whether a field is set to something other than null.
func present(v gjson.Result) bool { return v.Exists() && v.Type != gjson.Null }

// Input items that only the client's own provider can use: calls of its
// hosted tools and their results, and its compaction summaries. They are
// left out (and recorded in Dropped) when translating.
var providerItems = map[string]bool{
	"web_search_call": true, "file_search_call": true, "image_generation_call": true,
	"code_interpreter_call": true, "computer_call": true, "computer_call_output": true,
	"local_shell_call": true, "local_shell_call_output": true, "shell_call": true, "shell_call_output": true,
	"apply_patch_call": true, "apply_patch_call_output": true, "mcp_call": true, "mcp_list_tools": true,
	"mcp_approval_request": true, "mcp_approval_response": true, "tool_search_call": true,
	"tool_search_output": true, "compaction": true, "compaction_summary": true,
}

// decodeInput reads the input items into r's messages; system and
// developer messages are appended to system.
func (d *decoder) decodeInput(in gjson.Result, system []string) ([]string, error) {
	r := d.r
	var err error
	i := -1
	in.ForEach(func(_, it gjson.Result) bool {
		i++
		param := "input[" + strconv.Itoa(i) + "]"
		if !it.IsObject() {
			err = &translate.RequestError{Message: param + " must be an object", Param: param}
			return false
		}
		typ := it.Get("type")
		if typ.Exists() && typ.Type != gjson.String {
			err = &translate.RequestError{Message: param + ".type must be a string", Param: param + ".type"}
			return false
		}
		switch typ.Str {
		case "message", "":
			system, err = decodeMessage(r, it, param, system)
		case "function_call", "custom_tool_call":
			err = decodeCall(r, it, param, typ.Str == "custom_tool_call")
		case "function_call_output", "custom_tool_call_output":
			err = decodeFunctionOutput(r, it, param)
		case "reasoning":
			err = decodeReasoning(r, it, param)
		case "additional_tools":
			// Tools declared partway through the conversation (Codex): for
			// providers, the tool list is the conversation's.
			var tools []translate.Tool
			if tools, err = d.decodeToolList(it.Get("tools"), param+".tools"); err == nil {
				d.additional = append(d.additional, tools...)
			}
		case "item_reference":
			err = &translate.RequestError{
				Message: param + ": item_reference is not supported: this proxy keeps no conversation state; send the items themselves",
				Param:   param,
			}
		default:
			// The client's provider's own items (hosted tool calls,
			// compactions), and item types newer than this proxy: no other
			// provider can read them.
			what := typ.Str + " item"
			if !providerItems[typ.Str] {
				what = "unknown item type " + strconv.Quote(typ.Str)
			}
			d.drop(param, what)
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	// An assistant turn made only of reasoning (no text, no call) has
	// nothing a provider accepts as an assistant message: drop it.
	msgs := r.Messages[:0]
	for _, m := range r.Messages {
		if m.Role == translate.RoleAssistant && onlyThinking(m.Parts) {
			continue
		}
		msgs = append(msgs, m)
	}
	r.Messages = msgs
	return system, nil
}

func onlyThinking(parts []translate.Part) bool {
	for _, p := range parts {
		if p.Type != translate.PartThinking {
			return false
		}
	}
	return true
}

// appendParts adds parts to the conversation. Assistant parts join an
// assistant message right before them (one turn: reasoning, text and
// function calls), tool results join a tool message right before them.
func appendParts(r *translate.Request, role translate.Role, parts ...translate.Part) {
	if n := len(r.Messages); n > 0 && role != translate.RoleUser && r.Messages[n-1].Role == role {
		r.Messages[n-1].Parts = append(r.Messages[n-1].Parts, parts...)
		return
	}
	r.Messages = append(r.Messages, translate.Message{Role: role, Parts: parts})
}

func decodeMessage(r *translate.Request, it gjson.Result, param string, system []string) ([]string, error) {
	role := it.Get("role")
	if role.Type != gjson.String {
		return system, &translate.RequestError{Message: param + ".role is required and must be a string", Param: param + ".role"}
	}
	content := it.Get("content")
	switch role.Str {
	case "system", "developer":
		text, err := systemText(content, param)
		if err != nil {
			return system, err
		}
		if text != "" {
			system = append(system, text)
		}
		return system, nil
	case "user", "assistant":
	default:
		return system, &translate.RequestError{Message: param + ".role must be one of user, assistant, system, developer", Param: param + ".role"}
	}
	parts, err := contentParts(content, param+".content", role.Str == "user")
	if err != nil {
		return system, err
	}
	if len(parts) == 0 {
		return system, nil
	}
	if role.Str == "user" {
		appendParts(r, translate.RoleUser, parts...)
	} else {
		appendParts(r, translate.RoleAssistant, parts...)
	}
	return system, nil
}

// systemText is the text of a system or developer message.
func systemText(content gjson.Result, param string) (string, error) {
	if content.Type == gjson.String {
		return content.Str, nil
	}
	parts, err := contentParts(content, param+".content", false)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != translate.PartText {
			return "", &translate.RequestError{Message: param + ".content: system and developer messages may only hold text", Param: param + ".content"}
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// contentParts reads a message's content: a string or an array of
// content parts. Empty texts are dropped.
func contentParts(content gjson.Result, param string, images bool) ([]translate.Part, error) {
	if content.Type == gjson.String {
		if content.Str == "" {
			return nil, nil
		}
		return []translate.Part{{Type: translate.PartText, Text: content.Str}}, nil
	}
	if !content.IsArray() {
		return nil, &translate.RequestError{Message: param + " must be a string or an array of content parts", Param: param}
	}
	var parts []translate.Part
	var err error
	i := -1
	content.ForEach(func(_, c gjson.Result) bool {
		i++
		pp := param + "[" + strconv.Itoa(i) + "]"
		var p translate.Part
		p, err = contentPart(c, pp, images)
		if err != nil {
			return false
		}
		if p.Type == translate.PartText && p.Text == "" {
			return true
		}
		parts = append(parts, p)
		return true
	})
	return parts, err
}

func contentPart(c gjson.Result, param string, images bool) (translate.Part, error) {
	if !c.IsObject() {
		return translate.Part{}, &translate.RequestError{Message: param + " must be an object", Param: param}
	}
	typ := c.Get("type").String()
	switch typ {
	case "input_text", "output_text", "text":
		t := c.Get("text")
		if t.Type != gjson.String {
			return translate.Part{}, &translate.RequestError{Message: param + ".text must be a string", Param: param + ".text"}
		}
		return translate.Part{Type: translate.PartText, Text: t.Str}, nil
	case "refusal":
		return translate.Part{Type: translate.PartText, Text: c.Get("refusal").String()}, nil
	case "input_image":
		if !images {
			return translate.Part{}, &translate.RequestError{Message: param + ": images are only accepted in user messages and function call outputs", Param: param}
		}
		u := c.Get("image_url")
		if u.Type != gjson.String || u.Str == "" {
			if present(c.Get("file_id")) {
				return translate.Part{}, &translate.RequestError{Message: param + ".file_id: file_id images are not supported by this proxy; send image_url (a data URL or an http(s) URL)", Param: param + ".file_id"}
			}
			return translate.Part{}, &translate.RequestError{Message: param + ".image_url is required", Param: param + ".image_url"}
		}
		return imagePart(u.Str, param+".image_url")
	default:
		return translate.Part{}, &translate.RequestError{Message: param + ".type: content type " + strconv.Quote(typ) + " is not supported by this proxy", Param: param + ".type"}
	}
}

// imagePart reads an image URL: a base64 data URL or an http(s) URL.
func imagePart(u, param string) (translate.Part, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mt, isB64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isB64 || mt == "" || data == "" {
			return translate.Part{}, &translate.RequestError{Message: param + " must be a base64 data URL (data:<media type>;base64,<data>) or an http(s) URL", Param: param}
		}
		return translate.Part{Type: translate.PartImage, MediaType: mt, Data: data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return translate.Part{Type: translate.PartImage, URL: u}, nil
	}
	return translate.Part{}, &translate.RequestError{Message: param + " must be a base64 data URL or an http(s) URL", Param: param}
}

// decodeCall reads a function_call or custom_tool_call item. Its
// namespace, if any, stays on the part until translate.NameTools gives it
// the name providers see; a custom call's input becomes the arguments
// {"input": text} of the function its tool becomes.
func decodeCall(r *translate.Request, it gjson.Result, param string, custom bool) error {
	id, name := it.Get("call_id"), it.Get("name")
	if id.Type != gjson.String || id.Str == "" {
		return &translate.RequestError{Message: param + ".call_id is required", Param: param + ".call_id"}
	}
	if name.Type != gjson.String || name.Str == "" {
		return &translate.RequestError{Message: param + ".name is required", Param: param + ".name"}
	}
	ns := it.Get("namespace")
	if present(ns) && ns.Type != gjson.String {
		return &translate.RequestError{Message: param + ".namespace must be a string", Param: param + ".namespace"}
	}
	p := translate.Part{Type: translate.PartToolCall, ToolCallID: id.Str, ToolName: name.Str, Namespace: ns.Str}
	if custom {
		in := it.Get("input")
		if present(in) && in.Type != gjson.String {
			return &translate.RequestError{Message: param + ".input must be a string", Param: param + ".input"}
		}
		p.ToolKind, p.Arguments = translate.ToolCustom, translate.CustomToolArguments(in.Str)
	} else {
		args := it.Get("arguments")
		if present(args) && args.Type != gjson.String {
			return &translate.RequestError{Message: param + ".arguments must be a string", Param: param + ".arguments"}
		}
		p.Arguments = args.Str
		if strings.TrimSpace(p.Arguments) == "" {
			p.Arguments = "{}"
		}
	}
	appendParts(r, translate.RoleAssistant, p)
	return nil
}

func decodeFunctionOutput(r *translate.Request, it gjson.Result, param string) error {
	id := it.Get("call_id")
	if id.Type != gjson.String || id.Str == "" {
		return &translate.RequestError{Message: param + ".call_id is required", Param: param + ".call_id"}
	}
	p := translate.Part{Type: translate.PartToolResult, ToolCallID: id.Str, ToolName: it.Get("name").String()}
	out := it.Get("output")
	switch {
	case out.Type == gjson.String:
		if out.Str != "" {
			p.Content = []translate.Part{{Type: translate.PartText, Text: out.Str}}
		}
	case out.IsArray():
		parts, err := contentParts(out, param+".output", true)
		if err != nil {
			return err
		}
		p.Content = parts
	default:
		return &translate.RequestError{Message: param + ".output must be a string or an array of content parts", Param: param + ".output"}
	}
	appendParts(r, translate.RoleTool, p)
	return nil
}

func decodeReasoning(r *translate.Request, it gjson.Result, param string) error {
	var texts []string
	collect := func(field string) error {
		v := it.Get(field)
		if !present(v) {
			return nil
		}
		if !v.IsArray() {
			return &translate.RequestError{Message: param + "." + field + " must be an array", Param: param + "." + field}
		}
		v.ForEach(func(_, s gjson.Result) bool {
			if t := s.Get("text").String(); t != "" {
				texts = append(texts, t)
			}
			return true
		})
		return nil
	}
	if err := collect("summary"); err != nil {
		return err
	}
	if len(texts) == 0 {
		// Raw reasoning text (reasoning_text content), when there is no summary.
		if err := collect("content"); err != nil {
			return err
		}
	}
	p := translate.Part{Type: translate.PartThinking, Text: strings.Join(texts, "\n\n")}
	enc := it.Get("encrypted_content").String()
	if s, ok := strings.CutPrefix(enc, sigPrefix); ok {
		p.SignatureFormat, p.Signature = signatureIssuer(s)
	} else if d, ok := strings.CutPrefix(enc, redactedPrefix); ok && d != "" {
		p = translate.Part{Type: translate.PartThinking, Redacted: true}
		p.SignatureFormat, p.Data = signatureIssuer(d)
	}
	if p.Text == "" && p.Signature == "" && !p.Redacted {
		return nil
	}
	appendParts(r, translate.RoleAssistant, p)
	return nil
}

// signatureIssuer splits what follows the proxy's prefix in
// encrypted_content: the issuer's wire format, when the proxy recorded it
// (signatures are base64, without colons), and the signature.
func signatureIssuer(s string) (format, sig string) {
	for _, f := range [...]string{"anthropic", "gemini"} {
		if rest, ok := strings.CutPrefix(s, f+":"); ok {
			return f, rest
		}
	}
	return "", s
}

// decodeTools reads tools, the tools additional_tools items declared,
// tool_choice and parallel_tool_calls, and names the tools for providers.
func (d *decoder) decodeTools(root gjson.Result) error {
	r := d.r
	if tools := root.Get("tools"); present(tools) {
		list, err := d.decodeToolList(tools, "tools")
		if err != nil {
			return err
		}
		r.Tools = append(r.Tools, list...)
	}
	r.Tools = dedupeTools(append(r.Tools, d.additional...))

	// The tool choice names a tool as the client declared it.
	var choiceNS, choiceName string
	tc := root.Get("tool_choice")
	switch {
	case !present(tc):
	case tc.Type == gjson.String:
		switch tc.Str {
		case "auto", "none", "required":
			r.ToolChoice = &translate.ToolChoice{Mode: tc.Str}
		default:
			return &translate.RequestError{Message: "tool_choice must be auto, none, required or a function", Param: "tool_choice"}
		}
	case tc.IsObject():
		switch typ := tc.Get("type").String(); typ {
		case "function", "custom":
			name := tc.Get("name").String()
			if name == "" {
				return &translate.RequestError{Message: "tool_choice.name is required", Param: "tool_choice.name"}
			}
			choiceNS, choiceName = tc.Get("namespace").String(), name
			r.ToolChoice = &translate.ToolChoice{Mode: "tool"}
		case "allowed_tools":
			// The restriction to some tools has no counterpart elsewhere;
			// its mode does.
			mode := tc.Get("mode").String()
			if mode != "required" {
				mode = "auto"
			}
			r.ToolChoice = &translate.ToolChoice{Mode: mode}
		case "":
			return &translate.RequestError{Message: "tool_choice.type is required", Param: "tool_choice.type"}
		default:
			// A hosted tool (web_search, file_search, mcp...): dropped with
			// the tool itself.
			r.ToolChoice = &translate.ToolChoice{Mode: "auto"}
			d.drop("tool_choice", "forces the "+typ+" tool")
		}
	default:
		return &translate.RequestError{Message: "tool_choice must be a string or an object", Param: "tool_choice"}
	}

	if v := root.Get("parallel_tool_calls"); present(v) {
		if !v.IsBool() {
			return &translate.RequestError{Message: "parallel_tool_calls must be a boolean", Param: "parallel_tool_calls"}
		}
		b := v.Bool()
		r.ParallelToolCalls = &b
	}

	translate.NameTools(r)
	if choiceName != "" {
		r.ToolChoice.Name = translate.ProviderToolName(choiceNS, choiceName)
		for i := range r.Tools {
			t := &r.Tools[i]
			client := t.ClientName
			if client == "" {
				client = t.Name
			}
			if client == choiceName && (t.Namespace == choiceNS || choiceNS == "" && t.Namespace == translate.DefaultNamespace) {
				r.ToolChoice.Name = t.Name
				break
			}
		}
	}
	return nil
}

// dedupeTools keeps the last declaration of each tool (a tool that
// additional_tools items declare again, or anew; the default namespace is
// the top level): providers refuse a name declared twice.
func dedupeTools(tools []translate.Tool) []translate.Tool {
	type key struct{ ns, name string }
	keyOf := func(t *translate.Tool) key {
		if t.Namespace == translate.DefaultNamespace {
			return key{"", t.Name}
		}
		return key{t.Namespace, t.Name}
	}
	last := map[key]int{}
	for i := range tools {
		last[keyOf(&tools[i])] = i
	}
	if len(last) == len(tools) {
		return tools
	}
	out := tools[:0]
	for i := range tools {
		if last[keyOf(&tools[i])] == i {
			out = append(out, tools[i])
		}
	}
	return out
}

// decodeToolList reads an array of tool declarations: function and custom
// tools, and namespaces holding them. Hosted tools (web_search,
// file_search, image_generation, code_interpreter, mcp, tool_search,
// local_shell...) run at the client's own provider only: they are dropped,
// and recorded in Dropped.
func (d *decoder) decodeToolList(tools gjson.Result, param string) ([]translate.Tool, error) {
	if !tools.IsArray() {
		return nil, &translate.RequestError{Message: param + " must be an array", Param: param}
	}
	var out []translate.Tool
	var err error
	i := -1
	tools.ForEach(func(_, t gjson.Result) bool {
		i++
		p := param + "[" + strconv.Itoa(i) + "]"
		if !t.IsObject() {
			err = &translate.RequestError{Message: p + " must be an object", Param: p}
			return false
		}
		switch typ := t.Get("type").String(); typ {
		case "function", "custom":
			var tool translate.Tool
			if tool, err = decodeTool(t, p, typ, ""); err == nil {
				out = append(out, tool)
			}
		case "namespace":
			ns := t.Get("name")
			if ns.Type != gjson.String || ns.Str == "" {
				err = &translate.RequestError{Message: p + ".name is required", Param: p + ".name"}
				return false
			}
			inner := t.Get("tools")
			if !inner.IsArray() {
				err = &translate.RequestError{Message: p + ".tools must be an array", Param: p + ".tools"}
				return false
			}
			j := -1
			inner.ForEach(func(_, it gjson.Result) bool {
				j++
				ip := p + ".tools[" + strconv.Itoa(j) + "]"
				switch ityp := it.Get("type").String(); ityp {
				case "function", "custom":
					var tool translate.Tool
					if tool, err = decodeTool(it, ip, ityp, ns.Str); err == nil {
						out = append(out, tool)
					}
				default:
					d.drop(ip, hostedTool(ityp))
				}
				return err == nil
			})
		default:
			d.drop(p, hostedTool(typ))
		}
		return err == nil
	})
	return out, err
}

func hostedTool(typ string) string {
	if typ == "" {
		return "tool without a type"
	}
	return typ + " tool (hosted by the client's provider)"
}

// decodeTool reads a function or custom tool declared in namespace ns.
// A custom tool becomes a function of one string argument, "input", whose
// description gives the input format.
func decodeTool(t gjson.Result, param, typ, ns string) (translate.Tool, error) {
	name := t.Get("name")
	if name.Type != gjson.String || name.Str == "" {
		return translate.Tool{}, &translate.RequestError{Message: param + ".name is required", Param: param + ".name"}
	}
	tool := translate.Tool{Name: name.Str, Description: t.Get("description").String(), Namespace: ns}
	if typ == "custom" {
		tool.Kind = translate.ToolCustom
		if f := t.Get("format"); present(f) {
			if !f.IsObject() {
				return translate.Tool{}, &translate.RequestError{Message: param + ".format must be an object", Param: param + ".format"}
			}
			tool.Format = []byte(f.Raw)
		}
		tool.Description = translate.CustomToolDescription(tool.Description, tool.Format)
		tool.Parameters = []byte(translate.CustomToolParameters)
		return tool, nil
	}
	if p := t.Get("parameters"); present(p) {
		if !p.IsObject() {
			return translate.Tool{}, &translate.RequestError{Message: param + ".parameters must be a JSON Schema object", Param: param + ".parameters"}
		}
		tool.Parameters = []byte(p.Raw)
	}
	return tool, nil
}

func decodeSettings(r *translate.Request, root gjson.Result) error {
	if v := root.Get("max_output_tokens"); present(v) {
		if v.Type != gjson.Number || v.Num < 1 || v.Num != float64(int64(v.Num)) || v.Num > 1<<31 {
			return &translate.RequestError{Message: "max_output_tokens must be a positive integer", Param: "max_output_tokens"}
		}
		r.MaxTokens = int(v.Num)
	}
	for _, f := range [...]struct {
		name string
		dst  **float64
	}{{"temperature", &r.Temperature}, {"top_p", &r.TopP}} {
		if v := root.Get(f.name); present(v) {
			if v.Type != gjson.Number {
				return &translate.RequestError{Message: f.name + " must be a number", Param: f.name}
			}
			n := v.Num
			*f.dst = &n
		}
	}

	if v := root.Get("text.format"); present(v) {
		if !v.IsObject() {
			return &translate.RequestError{Message: "text.format must be an object", Param: "text.format"}
		}
		switch typ := v.Get("type").String(); typ {
		case "text":
		case "json_object":
			r.ResponseFormat = &translate.ResponseFormat{Type: "json_object"}
		case "json_schema":
			s := v.Get("schema")
			if !s.IsObject() {
				return &translate.RequestError{Message: "text.format.schema is required for json_schema and must be an object", Param: "text.format.schema"}
			}
			r.ResponseFormat = &translate.ResponseFormat{
				Type:   "json_schema",
				Name:   v.Get("name").String(),
				Schema: []byte(s.Raw),
				Strict: v.Get("strict").Bool(),
			}
		default:
			return &translate.RequestError{Message: "text.format.type must be text, json_object or json_schema", Param: "text.format.type"}
		}
	}

	if v := root.Get("reasoning"); present(v) {
		if !v.IsObject() {
			return &translate.RequestError{Message: "reasoning must be an object", Param: "reasoning"}
		}
		if e := v.Get("effort"); present(e) {
			switch e.String() {
			case "none":
				r.Reasoning = &translate.Reasoning{Off: true}
			case "minimal", "low":
				r.Reasoning = &translate.Reasoning{Effort: "low"}
			case "medium":
				r.Reasoning = &translate.Reasoning{Effort: "medium"}
			case "high", "xhigh":
				r.Reasoning = &translate.Reasoning{Effort: "high"}
			default:
				return &translate.RequestError{Message: "reasoning.effort must be one of none, minimal, low, medium, high, xhigh", Param: "reasoning.effort"}
			}
		}
	}

	if v := root.Get("stream"); present(v) {
		if !v.IsBool() {
			return &translate.RequestError{Message: "stream must be a boolean", Param: "stream"}
		}
		r.Stream = v.Bool()
	}
	if v := root.Get("user"); v.Type == gjson.String {
		r.User = v.Str
	} else if v := root.Get("safety_identifier"); v.Type == gjson.String {
		r.User = v.Str
	}
	return nil
}
