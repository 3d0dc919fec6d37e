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
		return nil, &translate.RequestError{Message: "stored prompts (prompt) are not supported by this proxy; send instructions and input instead", Param: "prompt"}
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

	in := root.Get("input")
	switch {
	case in.Type == gjson.String:
		if in.Str == "" {
			return nil, &translate.RequestError{Message: "input must not be empty", Param: "input"}
		}
		r.Messages = append(r.Messages, translate.Message{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: in.Str}}})
	case in.IsArray():
		var err error
		if system, err = decodeInput(r, in, system); err != nil {
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
	translate.ResolveToolNames(r)

	if err := decodeTools(r, root); err != nil {
		return nil, err
	}
	if err := decodeSettings(r, root); err != nil {
		return nil, err
	}
	return r, nil
}

// present reports whether a field is set to something other than null.
func present(v gjson.Result) bool { return v.Exists() && v.Type != gjson.Null }

// decodeInput reads the input items into r's messages; system and
// developer messages are appended to system.
func decodeInput(r *translate.Request, in gjson.Result, system []string) ([]string, error) {
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
		case "function_call":
			err = decodeFunctionCall(r, it, param)
		case "function_call_output":
			err = decodeFunctionOutput(r, it, param)
		case "reasoning":
			err = decodeReasoning(r, it, param)
		case "item_reference":
			err = &translate.RequestError{
				Message: param + ": item_reference is not supported: this proxy keeps no conversation state; send the items themselves",
				Param:   param,
			}
		default:
			err = &translate.RequestError{Message: param + ": input item type " + strconv.Quote(typ.Str) + " is not supported by this proxy", Param: param + ".type"}
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
			return "", &translate.RequestError{Message: param + ": system and developer messages may only hold text", Param: param + ".content"}
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
				return translate.Part{}, &translate.RequestError{Message: param + ": file_id images are not supported by this proxy; send image_url (a data URL or an http(s) URL)", Param: param + ".file_id"}
			}
			return translate.Part{}, &translate.RequestError{Message: param + ".image_url is required", Param: param + ".image_url"}
		}
		return imagePart(u.Str, param+".image_url")
	default:
		return translate.Part{}, &translate.RequestError{Message: param + ": content type " + strconv.Quote(typ) + " is not supported by this proxy", Param: param + ".type"}
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

func decodeFunctionCall(r *translate.Request, it gjson.Result, param string) error {
	id, name := it.Get("call_id"), it.Get("name")
	if id.Type != gjson.String || id.Str == "" {
		return &translate.RequestError{Message: param + ".call_id is required", Param: param + ".call_id"}
	}
	if name.Type != gjson.String || name.Str == "" {
		return &translate.RequestError{Message: param + ".name is required", Param: param + ".name"}
	}
	args := it.Get("arguments")
	if present(args) && args.Type != gjson.String {
		return &translate.RequestError{Message: param + ".arguments must be a string", Param: param + ".arguments"}
	}
	a := args.Str
	if strings.TrimSpace(a) == "" {
		a = "{}"
	}
	appendParts(r, translate.RoleAssistant, translate.Part{Type: translate.PartToolCall, ToolCallID: id.Str, ToolName: name.Str, Arguments: a})
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
		p.Signature = s
	} else if d, ok := strings.CutPrefix(enc, redactedPrefix); ok && d != "" {
		p = translate.Part{Type: translate.PartThinking, Redacted: true, Data: d}
	}
	if p.Text == "" && p.Signature == "" && !p.Redacted {
		return nil
	}
	appendParts(r, translate.RoleAssistant, p)
	return nil
}

func decodeTools(r *translate.Request, root gjson.Result) error {
	tools := root.Get("tools")
	if present(tools) {
		if !tools.IsArray() {
			return &translate.RequestError{Message: "tools must be an array", Param: "tools"}
		}
		var err error
		i := -1
		tools.ForEach(func(_, t gjson.Result) bool {
			i++
			param := "tools[" + strconv.Itoa(i) + "]"
			if !t.IsObject() {
				err = &translate.RequestError{Message: param + " must be an object", Param: param}
				return false
			}
			if typ := t.Get("type").String(); typ != "function" {
				err = &translate.RequestError{
					Message: param + ": tool type " + strconv.Quote(typ) + " is not supported by this proxy; only function tools are",
					Param:   param + ".type",
				}
				return false
			}
			name := t.Get("name")
			if name.Type != gjson.String || name.Str == "" {
				err = &translate.RequestError{Message: param + ".name is required", Param: param + ".name"}
				return false
			}
			tool := translate.Tool{Name: name.Str, Description: t.Get("description").String()}
			if p := t.Get("parameters"); present(p) {
				if !p.IsObject() {
					err = &translate.RequestError{Message: param + ".parameters must be a JSON Schema object", Param: param + ".parameters"}
					return false
				}
				tool.Parameters = []byte(p.Raw)
			}
			r.Tools = append(r.Tools, tool)
			return true
		})
		if err != nil {
			return err
		}
	}

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
		typ := tc.Get("type").String()
		if typ != "function" {
			return &translate.RequestError{Message: "tool_choice type " + strconv.Quote(typ) + " is not supported by this proxy; use auto, none, required or a function", Param: "tool_choice"}
		}
		name := tc.Get("name").String()
		if name == "" {
			return &translate.RequestError{Message: "tool_choice.name is required", Param: "tool_choice.name"}
		}
		r.ToolChoice = &translate.ToolChoice{Mode: "tool", Name: name}
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
	return nil
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
