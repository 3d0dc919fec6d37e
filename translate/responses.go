package translate

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// The OpenAI Responses API codec. It is inbound only: clients speak it, no
// provider here does, so there is a request decoder and response / stream
// encoders but no request encoder or stream decoder.
//
// Mapping notes (where the Responses API and the canonical model differ):
//   - The proxy keeps no conversation state: previous_response_id,
//     conversation, background mode, stored prompts and item_reference
//     items are refused (400) rather than silently answered out of context.
//   - store, metadata, truncation, include, service_tier, prompt_cache_key,
//     top_logprobs, max_tool_calls, stream_options, text.verbosity and
//     reasoning.summary are accepted and ignored.
//   - instructions and system/developer messages (wherever they appear in
//     input) become the system prompt, instructions first, joined by blank
//     lines.
//   - Only function tools are forwarded; hosted tools (web_search,
//     file_search, computer use, code interpreter, MCP, custom tools...) are
//     refused. A tool's strict flag is dropped (the canonical model has no
//     per-tool strict mode); text.format's strict is kept.
//   - Reasoning items come back as reasoning output items whose summary is
//     the provider's reasoning text. A provider's reasoning signature
//     (Anthropic thinking signature, Gemini thoughtSignature, redacted
//     thinking) travels in encrypted_content with a "llmproxy:" prefix, so a
//     client that sends its reasoning items back (as stateless clients do)
//     hands the provider its signature again. encrypted_content the proxy
//     did not make (OpenAI's own) means nothing to other providers and is
//     dropped.
//   - Echoed request settings in the response object (temperature, top_p,
//     tool_choice, tools, parallel_tool_calls, text) are the API defaults:
//     the proxy's response carries only what the provider answered.

// Prefixes of the encrypted_content the proxy makes for reasoning items.
const (
	respSigPrefix      = "llmproxy:sig:"
	respRedactedPrefix = "llmproxy:redacted:"
)

// DecodeResponsesRequest reads an OpenAI Responses API request.
func DecodeResponsesRequest(body []byte) (*Request, error) {
	if !gjson.ValidBytes(body) {
		return nil, &RequestError{Message: "request body is not valid JSON"}
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, &RequestError{Message: "request body must be a JSON object"}
	}
	if v := root.Get("previous_response_id"); respPresent(v) {
		return nil, &RequestError{
			Message: "previous_response_id is not supported: this proxy keeps no conversation state; send the whole conversation in input",
			Param:   "previous_response_id",
		}
	}
	if v := root.Get("conversation"); respPresent(v) {
		return nil, &RequestError{
			Message: "conversation is not supported: this proxy keeps no conversation state; send the whole conversation in input",
			Param:   "conversation",
		}
	}
	if root.Get("background").Type == gjson.True {
		return nil, &RequestError{Message: "background mode is not supported by this proxy", Param: "background"}
	}
	if v := root.Get("prompt"); respPresent(v) {
		return nil, &RequestError{Message: "stored prompts (prompt) are not supported by this proxy; send instructions and input instead", Param: "prompt"}
	}

	r := &Request{}
	m := root.Get("model")
	if m.Type != gjson.String || m.Str == "" {
		return nil, &RequestError{Message: "model is required and must be a string", Param: "model"}
	}
	r.Model = m.Str

	var system []string
	if v := root.Get("instructions"); respPresent(v) {
		if v.Type != gjson.String {
			return nil, &RequestError{Message: "instructions must be a string", Param: "instructions"}
		}
		if v.Str != "" {
			system = append(system, v.Str)
		}
	}

	in := root.Get("input")
	switch {
	case in.Type == gjson.String:
		if in.Str == "" {
			return nil, &RequestError{Message: "input must not be empty", Param: "input"}
		}
		r.Messages = append(r.Messages, Message{Role: RoleUser, Parts: []Part{{Type: PartText, Text: in.Str}}})
	case in.IsArray():
		var err error
		if system, err = respDecodeInput(r, in, system); err != nil {
			return nil, err
		}
	case !respPresent(in):
		return nil, &RequestError{Message: "input is required", Param: "input"}
	default:
		return nil, &RequestError{Message: "input must be a string or an array of input items", Param: "input"}
	}
	if len(r.Messages) == 0 {
		return nil, &RequestError{Message: "input holds no message to answer", Param: "input"}
	}
	r.System = strings.Join(system, "\n\n")
	ResolveToolNames(r)

	if err := respDecodeTools(r, root); err != nil {
		return nil, err
	}
	if err := respDecodeSettings(r, root); err != nil {
		return nil, err
	}
	return r, nil
}

// respPresent reports whether a field is set to something other than null.
func respPresent(v gjson.Result) bool { return v.Exists() && v.Type != gjson.Null }

// respDecodeInput reads the input items into r's messages; system and
// developer messages are appended to system.
func respDecodeInput(r *Request, in gjson.Result, system []string) ([]string, error) {
	var err error
	i := -1
	in.ForEach(func(_, it gjson.Result) bool {
		i++
		param := "input[" + strconv.Itoa(i) + "]"
		if !it.IsObject() {
			err = &RequestError{Message: param + " must be an object", Param: param}
			return false
		}
		typ := it.Get("type")
		if typ.Exists() && typ.Type != gjson.String {
			err = &RequestError{Message: param + ".type must be a string", Param: param + ".type"}
			return false
		}
		switch typ.Str {
		case "message", "":
			system, err = respDecodeMessage(r, it, param, system)
		case "function_call":
			err = respDecodeFunctionCall(r, it, param)
		case "function_call_output":
			err = respDecodeFunctionOutput(r, it, param)
		case "reasoning":
			err = respDecodeReasoning(r, it, param)
		case "item_reference":
			err = &RequestError{
				Message: param + ": item_reference is not supported: this proxy keeps no conversation state; send the items themselves",
				Param:   param,
			}
		default:
			err = &RequestError{Message: param + ": input item type " + strconv.Quote(typ.Str) + " is not supported by this proxy", Param: param + ".type"}
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
		if m.Role == RoleAssistant && respOnlyThinking(m.Parts) {
			continue
		}
		msgs = append(msgs, m)
	}
	r.Messages = msgs
	return system, nil
}

func respOnlyThinking(parts []Part) bool {
	for _, p := range parts {
		if p.Type != PartThinking {
			return false
		}
	}
	return true
}

// respAppend adds parts to the conversation. Assistant parts join an
// assistant message right before them (one turn: reasoning, text and
// function calls), tool results join a tool message right before them.
func respAppend(r *Request, role Role, parts ...Part) {
	if n := len(r.Messages); n > 0 && role != RoleUser && r.Messages[n-1].Role == role {
		r.Messages[n-1].Parts = append(r.Messages[n-1].Parts, parts...)
		return
	}
	r.Messages = append(r.Messages, Message{Role: role, Parts: parts})
}

func respDecodeMessage(r *Request, it gjson.Result, param string, system []string) ([]string, error) {
	role := it.Get("role")
	if role.Type != gjson.String {
		return system, &RequestError{Message: param + ".role is required and must be a string", Param: param + ".role"}
	}
	content := it.Get("content")
	switch role.Str {
	case "system", "developer":
		text, err := respSystemText(content, param)
		if err != nil {
			return system, err
		}
		if text != "" {
			system = append(system, text)
		}
		return system, nil
	case "user", "assistant":
	default:
		return system, &RequestError{Message: param + ".role must be one of user, assistant, system, developer", Param: param + ".role"}
	}
	parts, err := respContentParts(content, param+".content", role.Str == "user")
	if err != nil {
		return system, err
	}
	if len(parts) == 0 {
		return system, nil
	}
	if role.Str == "user" {
		respAppend(r, RoleUser, parts...)
	} else {
		respAppend(r, RoleAssistant, parts...)
	}
	return system, nil
}

// respSystemText is the text of a system or developer message.
func respSystemText(content gjson.Result, param string) (string, error) {
	if content.Type == gjson.String {
		return content.Str, nil
	}
	parts, err := respContentParts(content, param+".content", false)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != PartText {
			return "", &RequestError{Message: param + ": system and developer messages may only hold text", Param: param + ".content"}
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// respContentParts reads a message's content: a string or an array of
// content parts. Empty texts are dropped.
func respContentParts(content gjson.Result, param string, images bool) ([]Part, error) {
	if content.Type == gjson.String {
		if content.Str == "" {
			return nil, nil
		}
		return []Part{{Type: PartText, Text: content.Str}}, nil
	}
	if !content.IsArray() {
		return nil, &RequestError{Message: param + " must be a string or an array of content parts", Param: param}
	}
	var parts []Part
	var err error
	i := -1
	content.ForEach(func(_, c gjson.Result) bool {
		i++
		pp := param + "[" + strconv.Itoa(i) + "]"
		var p Part
		p, err = respContentPart(c, pp, images)
		if err != nil {
			return false
		}
		if p.Type == PartText && p.Text == "" {
			return true
		}
		parts = append(parts, p)
		return true
	})
	return parts, err
}

func respContentPart(c gjson.Result, param string, images bool) (Part, error) {
	if !c.IsObject() {
		return Part{}, &RequestError{Message: param + " must be an object", Param: param}
	}
	typ := c.Get("type").String()
	switch typ {
	case "input_text", "output_text", "text":
		t := c.Get("text")
		if t.Type != gjson.String {
			return Part{}, &RequestError{Message: param + ".text must be a string", Param: param + ".text"}
		}
		return Part{Type: PartText, Text: t.Str}, nil
	case "refusal":
		return Part{Type: PartText, Text: c.Get("refusal").String()}, nil
	case "input_image":
		if !images {
			return Part{}, &RequestError{Message: param + ": images are only accepted in user messages and function call outputs", Param: param}
		}
		u := c.Get("image_url")
		if u.Type != gjson.String || u.Str == "" {
			if respPresent(c.Get("file_id")) {
				return Part{}, &RequestError{Message: param + ": file_id images are not supported by this proxy; send image_url (a data URL or an http(s) URL)", Param: param + ".file_id"}
			}
			return Part{}, &RequestError{Message: param + ".image_url is required", Param: param + ".image_url"}
		}
		return respImagePart(u.Str, param+".image_url")
	default:
		return Part{}, &RequestError{Message: param + ": content type " + strconv.Quote(typ) + " is not supported by this proxy", Param: param + ".type"}
	}
}

// respImagePart reads an image URL: a base64 data URL or an http(s) URL.
func respImagePart(u, param string) (Part, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mt, isB64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isB64 || mt == "" || data == "" {
			return Part{}, &RequestError{Message: param + " must be a base64 data URL (data:<media type>;base64,<data>) or an http(s) URL", Param: param}
		}
		return Part{Type: PartImage, MediaType: mt, Data: data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return Part{Type: PartImage, URL: u}, nil
	}
	return Part{}, &RequestError{Message: param + " must be a base64 data URL or an http(s) URL", Param: param}
}

func respDecodeFunctionCall(r *Request, it gjson.Result, param string) error {
	id, name := it.Get("call_id"), it.Get("name")
	if id.Type != gjson.String || id.Str == "" {
		return &RequestError{Message: param + ".call_id is required", Param: param + ".call_id"}
	}
	if name.Type != gjson.String || name.Str == "" {
		return &RequestError{Message: param + ".name is required", Param: param + ".name"}
	}
	args := it.Get("arguments")
	if respPresent(args) && args.Type != gjson.String {
		return &RequestError{Message: param + ".arguments must be a string", Param: param + ".arguments"}
	}
	a := args.Str
	if strings.TrimSpace(a) == "" {
		a = "{}"
	}
	respAppend(r, RoleAssistant, Part{Type: PartToolCall, ToolCallID: id.Str, ToolName: name.Str, Arguments: a})
	return nil
}

func respDecodeFunctionOutput(r *Request, it gjson.Result, param string) error {
	id := it.Get("call_id")
	if id.Type != gjson.String || id.Str == "" {
		return &RequestError{Message: param + ".call_id is required", Param: param + ".call_id"}
	}
	p := Part{Type: PartToolResult, ToolCallID: id.Str, ToolName: it.Get("name").String()}
	out := it.Get("output")
	switch {
	case out.Type == gjson.String:
		if out.Str != "" {
			p.Content = []Part{{Type: PartText, Text: out.Str}}
		}
	case out.IsArray():
		parts, err := respContentParts(out, param+".output", true)
		if err != nil {
			return err
		}
		p.Content = parts
	default:
		return &RequestError{Message: param + ".output must be a string or an array of content parts", Param: param + ".output"}
	}
	respAppend(r, RoleTool, p)
	return nil
}

func respDecodeReasoning(r *Request, it gjson.Result, param string) error {
	var texts []string
	collect := func(field string) error {
		v := it.Get(field)
		if !respPresent(v) {
			return nil
		}
		if !v.IsArray() {
			return &RequestError{Message: param + "." + field + " must be an array", Param: param + "." + field}
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
	p := Part{Type: PartThinking, Text: strings.Join(texts, "\n\n")}
	enc := it.Get("encrypted_content").String()
	if s, ok := strings.CutPrefix(enc, respSigPrefix); ok {
		p.Signature = s
	} else if d, ok := strings.CutPrefix(enc, respRedactedPrefix); ok && d != "" {
		p = Part{Type: PartThinking, Redacted: true, Data: d}
	}
	if p.Text == "" && p.Signature == "" && !p.Redacted {
		return nil
	}
	respAppend(r, RoleAssistant, p)
	return nil
}

func respDecodeTools(r *Request, root gjson.Result) error {
	tools := root.Get("tools")
	if respPresent(tools) {
		if !tools.IsArray() {
			return &RequestError{Message: "tools must be an array", Param: "tools"}
		}
		var err error
		i := -1
		tools.ForEach(func(_, t gjson.Result) bool {
			i++
			param := "tools[" + strconv.Itoa(i) + "]"
			if !t.IsObject() {
				err = &RequestError{Message: param + " must be an object", Param: param}
				return false
			}
			if typ := t.Get("type").String(); typ != "function" {
				err = &RequestError{
					Message: param + ": tool type " + strconv.Quote(typ) + " is not supported by this proxy; only function tools are",
					Param:   param + ".type",
				}
				return false
			}
			name := t.Get("name")
			if name.Type != gjson.String || name.Str == "" {
				err = &RequestError{Message: param + ".name is required", Param: param + ".name"}
				return false
			}
			tool := Tool{Name: name.Str, Description: t.Get("description").String()}
			if p := t.Get("parameters"); respPresent(p) {
				if !p.IsObject() {
					err = &RequestError{Message: param + ".parameters must be a JSON Schema object", Param: param + ".parameters"}
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
	case !respPresent(tc):
	case tc.Type == gjson.String:
		switch tc.Str {
		case "auto", "none", "required":
			r.ToolChoice = &ToolChoice{Mode: tc.Str}
		default:
			return &RequestError{Message: "tool_choice must be auto, none, required or a function", Param: "tool_choice"}
		}
	case tc.IsObject():
		typ := tc.Get("type").String()
		if typ != "function" {
			return &RequestError{Message: "tool_choice type " + strconv.Quote(typ) + " is not supported by this proxy; use auto, none, required or a function", Param: "tool_choice"}
		}
		name := tc.Get("name").String()
		if name == "" {
			return &RequestError{Message: "tool_choice.name is required", Param: "tool_choice.name"}
		}
		r.ToolChoice = &ToolChoice{Mode: "tool", Name: name}
	default:
		return &RequestError{Message: "tool_choice must be a string or an object", Param: "tool_choice"}
	}

	if v := root.Get("parallel_tool_calls"); respPresent(v) {
		if !v.IsBool() {
			return &RequestError{Message: "parallel_tool_calls must be a boolean", Param: "parallel_tool_calls"}
		}
		b := v.Bool()
		r.ParallelToolCalls = &b
	}
	return nil
}

func respDecodeSettings(r *Request, root gjson.Result) error {
	if v := root.Get("max_output_tokens"); respPresent(v) {
		if v.Type != gjson.Number || v.Num < 1 || v.Num != float64(int64(v.Num)) || v.Num > 1<<31 {
			return &RequestError{Message: "max_output_tokens must be a positive integer", Param: "max_output_tokens"}
		}
		r.MaxTokens = int(v.Num)
	}
	for _, f := range [...]struct {
		name string
		dst  **float64
	}{{"temperature", &r.Temperature}, {"top_p", &r.TopP}} {
		if v := root.Get(f.name); respPresent(v) {
			if v.Type != gjson.Number {
				return &RequestError{Message: f.name + " must be a number", Param: f.name}
			}
			n := v.Num
			*f.dst = &n
		}
	}

	if v := root.Get("text.format"); respPresent(v) {
		if !v.IsObject() {
			return &RequestError{Message: "text.format must be an object", Param: "text.format"}
		}
		switch typ := v.Get("type").String(); typ {
		case "text":
		case "json_object":
			r.ResponseFormat = &ResponseFormat{Type: "json_object"}
		case "json_schema":
			s := v.Get("schema")
			if !s.IsObject() {
				return &RequestError{Message: "text.format.schema is required for json_schema and must be an object", Param: "text.format.schema"}
			}
			r.ResponseFormat = &ResponseFormat{
				Type:   "json_schema",
				Name:   v.Get("name").String(),
				Schema: []byte(s.Raw),
				Strict: v.Get("strict").Bool(),
			}
		default:
			return &RequestError{Message: "text.format.type must be text, json_object or json_schema", Param: "text.format.type"}
		}
	}

	if v := root.Get("reasoning"); respPresent(v) {
		if !v.IsObject() {
			return &RequestError{Message: "reasoning must be an object", Param: "reasoning"}
		}
		if e := v.Get("effort"); respPresent(e) {
			switch e.String() {
			case "none":
				r.Reasoning = &Reasoning{Off: true}
			case "minimal", "low":
				r.Reasoning = &Reasoning{Effort: "low"}
			case "medium":
				r.Reasoning = &Reasoning{Effort: "medium"}
			case "high", "xhigh":
				r.Reasoning = &Reasoning{Effort: "high"}
			default:
				return &RequestError{Message: "reasoning.effort must be one of none, minimal, low, medium, high, xhigh", Param: "reasoning.effort"}
			}
		}
	}

	if v := root.Get("stream"); respPresent(v) {
		if !v.IsBool() {
			return &RequestError{Message: "stream must be a boolean", Param: "stream"}
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

// ---- responses (non-streamed) ----

// EncodeResponsesResponse writes a canonical response as a Responses API
// response object.
func EncodeResponsesResponse(r *Response) []byte {
	o := respObject{
		id:      respID(r.ID),
		model:   r.Model,
		created: Now().Unix(),
		usage:   &r.Usage,
	}
	o.setStop(r.StopReason)
	o.completed = o.created
	var text strings.Builder
	flush := func() {
		if text.Len() == 0 {
			return
		}
		status := "completed"
		if o.status == "incomplete" {
			status = "incomplete"
		}
		o.output = append(o.output, respMessageItem(nil, respItemID("msg_", o.id, len(o.output)), status, text.String()))
		text.Reset()
	}
	for i := range r.Parts {
		p := &r.Parts[i]
		switch p.Type {
		case PartText:
			text.WriteString(p.Text)
		case PartThinking:
			enc := respEncrypted(p.Signature, p.Redacted, p.Data)
			if p.Text == "" && enc == "" {
				continue
			}
			flush()
			o.output = append(o.output, respReasoningItem(nil, respItemID("rs_", o.id, len(o.output)), p.Text, p.Text != "", enc))
		case PartToolCall:
			flush()
			n := len(o.output)
			callID := p.ToolCallID
			if callID == "" {
				callID = MakeToolCallID("call_", o.id, n)
			}
			args := p.Arguments
			if args == "" {
				args = "{}"
			}
			o.output = append(o.output, respFunctionItem(nil, respItemID("fc_", o.id, n), "completed", args, callID, p.ToolName))
		}
	}
	flush()
	return o.append(nil)
}

// respObject is a Response object as the API sends it.
type respObject struct {
	id, model          string
	created, completed int64 // completed: 0 = null
	status             string
	incomplete         string // incomplete_details.reason
	errCode, errMsg    string
	output             [][]byte
	usage              *Usage // nil = null
}

func (o *respObject) setStop(s StopReason) {
	o.status = "completed"
	switch s {
	case StopMaxTokens:
		o.status, o.incomplete = "incomplete", "max_output_tokens"
	case StopContentFilter:
		o.status, o.incomplete = "incomplete", "content_filter"
	}
}

func (o *respObject) append(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, o.id)
	b = append(b, `,"object":"response","created_at":`...)
	b = strconv.AppendInt(b, o.created, 10)
	b = append(b, `,"status":"`...)
	b = append(b, o.status...)
	b = append(b, `","background":false,"completed_at":`...)
	if o.completed != 0 {
		b = strconv.AppendInt(b, o.completed, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"error":`...)
	if o.errMsg != "" || o.errCode != "" {
		b = append(b, `{"code":`...)
		b = AppendJSONString(b, o.errCode)
		b = append(b, `,"message":`...)
		b = AppendJSONString(b, o.errMsg)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"incomplete_details":`...)
	if o.incomplete != "" {
		b = append(b, `{"reason":`...)
		b = AppendJSONString(b, o.incomplete)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"instructions":null,"max_output_tokens":null,"max_tool_calls":null,"model":`...)
	b = AppendJSONString(b, o.model)
	b = append(b, `,"output":[`...)
	for i, it := range o.output {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	b = append(b, `],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"service_tier":"default","store":false,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":`...)
	if o.usage != nil {
		u := o.usage
		b = append(b, `{"input_tokens":`...)
		b = strconv.AppendInt(b, u.Input, 10)
		b = append(b, `,"input_tokens_details":{"cached_tokens":`...)
		b = strconv.AppendInt(b, u.Cached, 10)
		b = append(b, `},"output_tokens":`...)
		b = strconv.AppendInt(b, u.Output, 10)
		b = append(b, `,"output_tokens_details":{"reasoning_tokens":`...)
		b = strconv.AppendInt(b, u.Reasoning, 10)
		b = append(b, `},"total_tokens":`...)
		b = strconv.AppendInt(b, u.Total(), 10)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"user":null,"metadata":{}}`...)
	return b
}

// respID is the response id for a provider's answer id.
func respID(id string) string {
	if id == "" {
		var buf [24]byte
		_, _ = rand.Read(buf[:])
		return "resp_" + hex.EncodeToString(buf[:])
	}
	if strings.HasPrefix(id, "resp_") {
		return id
	}
	return "resp_" + id
}

// respItemID is the id of output item n: stable for the same response id.
func respItemID(prefix, respID string, n int) string {
	return MakeToolCallID(prefix, respID, n)
}

// respEncrypted is the encrypted_content carrying a reasoning signature.
func respEncrypted(sig string, redacted bool, data string) string {
	switch {
	case redacted && data != "":
		return respRedactedPrefix + data
	case sig != "":
		return respSigPrefix + sig
	}
	return ""
}

func respMessageItem(b []byte, id, status, text string) []byte {
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, id)
	b = append(b, `,"type":"message","status":"`...)
	b = append(b, status...)
	b = append(b, `","content":[`...)
	b = respOutputText(b, text)
	b = append(b, `],"role":"assistant"}`...)
	return b
}

func respOutputText(b []byte, text string) []byte {
	b = append(b, `{"type":"output_text","annotations":[],"logprobs":[],"text":`...)
	b = AppendJSONString(b, text)
	return append(b, '}')
}

func respReasoningItem(b []byte, id, text string, hasSummary bool, enc string) []byte {
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, id)
	b = append(b, `,"type":"reasoning","summary":[`...)
	if hasSummary {
		b = respSummaryText(b, text)
	}
	b = append(b, ']')
	if enc != "" {
		b = append(b, `,"encrypted_content":`...)
		b = AppendJSONString(b, enc)
	}
	return append(b, '}')
}

func respSummaryText(b []byte, text string) []byte {
	b = append(b, `{"type":"summary_text","text":`...)
	b = AppendJSONString(b, text)
	return append(b, '}')
}

func respFunctionItem(b []byte, id, status, args, callID, name string) []byte {
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, id)
	b = append(b, `,"type":"function_call","status":"`...)
	b = append(b, status...)
	b = append(b, `","arguments":`...)
	b = AppendJSONString(b, args)
	b = append(b, `,"call_id":`...)
	b = AppendJSONString(b, callID)
	b = append(b, `,"name":`...)
	b = AppendJSONString(b, name)
	return append(b, '}')
}

// ---- streams ----

// Kinds of the output item a Responses stream has open.
const (
	respNone = iota
	respReasoning
	respMessage
	respFunction
)

type responsesStreamEncoder struct {
	o       StreamOptions
	seq     int64
	started bool
	ended   bool
	obj     respObject
	usage   Usage

	// The open output item.
	kind   int
	itemID string
	text   []byte // reasoning summary, message text or call arguments so far
	tool   int    // the canonical Index of the open function call
	callID string
	name   string
	tools  []int // canonical tool indexes already opened
}

// NewResponsesStreamEncoder makes a stream encoder for a Responses client.
func NewResponsesStreamEncoder(o StreamOptions) StreamEncoder {
	return &responsesStreamEncoder{o: o}
}

// event opens an SSE event of type typ; the caller appends the payload's
// further fields and closes it with endEvent.
func (e *responsesStreamEncoder) event(b []byte, typ string) []byte {
	b = append(b, "event: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: {\"type\":\""...)
	b = append(b, typ...)
	b = append(b, `","sequence_number":`...)
	b = strconv.AppendInt(b, e.seq, 10)
	e.seq++
	return b
}

func respEndEvent(b []byte) []byte { return append(b, "}\n\n"...) }

// itemFields appends the item_id and output_index of the open item.
func (e *responsesStreamEncoder) itemFields(b []byte) []byte {
	b = append(b, `,"item_id":`...)
	b = AppendJSONString(b, e.itemID)
	b = append(b, `,"output_index":`...)
	return strconv.AppendInt(b, int64(len(e.obj.output)), 10)
}

func (e *responsesStreamEncoder) start(b []byte, id, model string) []byte {
	e.started = true
	if e.o.Model != "" {
		model = e.o.Model
	}
	e.obj = respObject{id: respID(id), model: model, created: Now().Unix(), status: "in_progress"}
	for _, typ := range [...]string{"response.created", "response.in_progress"} {
		b = e.event(b, typ)
		b = append(b, `,"response":`...)
		b = e.obj.append(b)
		b = respEndEvent(b)
	}
	return b
}

func (e *responsesStreamEncoder) Encode(dst []byte, ev *StreamEvent) []byte {
	if e.ended {
		return dst
	}
	if !e.started {
		if ev.Type == EvStart {
			return e.start(dst, ev.ID, ev.Model)
		}
		dst = e.start(dst, "", "")
	}
	switch ev.Type {
	case EvText:
		if ev.Text == "" {
			return dst
		}
		if e.kind != respMessage {
			dst = e.closeItem(dst, "completed")
			dst = e.openMessage(dst)
		}
		e.text = append(e.text, ev.Text...)
		dst = e.event(dst, "response.output_text.delta")
		dst = e.itemFields(dst)
		dst = append(dst, `,"content_index":0,"delta":`...)
		dst = AppendJSONString(dst, ev.Text)
		dst = append(dst, `,"logprobs":[]`...)
		dst = respEndEvent(dst)
	case EvThinking:
		if ev.Text == "" {
			return dst
		}
		if e.kind != respReasoning {
			dst = e.closeItem(dst, "completed")
			dst = e.openReasoning(dst)
		}
		e.text = append(e.text, ev.Text...)
		dst = e.event(dst, "response.reasoning_summary_text.delta")
		dst = e.itemFields(dst)
		dst = append(dst, `,"summary_index":0,"delta":`...)
		dst = AppendJSONString(dst, ev.Text)
		dst = respEndEvent(dst)
	case EvSignature:
		enc := respEncrypted(ev.Text, ev.Redacted, ev.Text)
		if enc == "" {
			return dst
		}
		if ev.Redacted && e.kind == respReasoning {
			// Redacted thinking is a block of its own, not the signature
			// of the reasoning streamed so far.
			dst = e.closeItem(dst, "completed")
		}
		if e.kind != respReasoning {
			// A signature without streamed reasoning text (or redacted
			// thinking): a reasoning item of its own, with an empty summary.
			dst = e.closeItem(dst, "completed")
			e.kind, e.itemID = respReasoning, respItemID("rs_", e.obj.id, len(e.obj.output))
			e.text = e.text[:0]
			dst = e.event(dst, "response.output_item.added")
			dst = e.itemAdded(dst)
		}
		dst = e.closeReasoning(dst, enc)
	case EvToolStart:
		if e.seenTool(ev.Index) {
			return dst
		}
		e.tools = append(e.tools, ev.Index)
		dst = e.closeItem(dst, "completed")
		n := len(e.obj.output)
		e.kind, e.itemID, e.tool = respFunction, respItemID("fc_", e.obj.id, n), ev.Index
		e.text = e.text[:0]
		e.callID, e.name = ev.ToolCallID, ev.ToolName
		if e.callID == "" {
			e.callID = MakeToolCallID("call_", e.obj.id, ev.Index)
		}
		dst = e.event(dst, "response.output_item.added")
		dst = e.itemAdded(dst)
	case EvToolArgs:
		// Arguments of a call already closed (another item came in
		// between) cannot be sent any more; no provider interleaves them.
		if e.kind != respFunction || e.tool != ev.Index || ev.Args == "" {
			return dst
		}
		e.text = append(e.text, ev.Args...)
		dst = e.event(dst, "response.function_call_arguments.delta")
		dst = e.itemFields(dst)
		dst = append(dst, `,"delta":`...)
		dst = AppendJSONString(dst, ev.Args)
		dst = respEndEvent(dst)
	case EvUsage:
		e.usage.Merge(ev.Usage)
	case EvFinish:
		e.obj.setStop(ev.StopReason)
		status := "completed"
		if e.obj.status == "incomplete" {
			status = "incomplete"
		}
		dst = e.closeItem(dst, status)
		e.obj.completed = Now().Unix()
		e.obj.usage = &e.usage
		typ := "response.completed"
		if e.obj.status == "incomplete" {
			typ = "response.incomplete"
		}
		dst = e.event(dst, typ)
		dst = append(dst, `,"response":`...)
		dst = e.obj.append(dst)
		dst = respEndEvent(dst)
		e.ended = true
	case EvError:
		e.obj.status = "failed"
		e.obj.errCode = "server_error"
		if ev.Status == 429 {
			e.obj.errCode = "rate_limit_exceeded"
		}
		e.obj.errMsg = ev.Text
		if e.obj.errMsg == "" {
			e.obj.errMsg = "the upstream stream failed"
		}
		e.obj.usage = &e.usage
		dst = e.event(dst, "response.failed")
		dst = append(dst, `,"response":`...)
		dst = e.obj.append(dst)
		dst = respEndEvent(dst)
		e.ended = true
	}
	return dst
}

func (e *responsesStreamEncoder) seenTool(i int) bool {
	for _, t := range e.tools {
		if t == i {
			return true
		}
	}
	return false
}

// itemAdded appends the output_index and the in-progress item of an
// output_item.added event and closes the event.
func (e *responsesStreamEncoder) itemAdded(b []byte) []byte {
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(len(e.obj.output)), 10)
	b = append(b, `,"item":`...)
	switch e.kind {
	case respReasoning:
		b = respReasoningItem(b, e.itemID, "", false, "")
	case respMessage:
		b = append(b, `{"id":`...)
		b = AppendJSONString(b, e.itemID)
		b = append(b, `,"type":"message","status":"in_progress","content":[],"role":"assistant"}`...)
	case respFunction:
		b = respFunctionItem(b, e.itemID, "in_progress", "", e.callID, e.name)
	}
	return respEndEvent(b)
}

func (e *responsesStreamEncoder) openMessage(b []byte) []byte {
	e.kind, e.itemID = respMessage, respItemID("msg_", e.obj.id, len(e.obj.output))
	e.text = e.text[:0]
	b = e.event(b, "response.output_item.added")
	b = e.itemAdded(b)
	b = e.event(b, "response.content_part.added")
	b = e.itemFields(b)
	b = append(b, `,"content_index":0,"part":`...)
	b = respOutputText(b, "")
	return respEndEvent(b)
}

func (e *responsesStreamEncoder) openReasoning(b []byte) []byte {
	e.kind, e.itemID = respReasoning, respItemID("rs_", e.obj.id, len(e.obj.output))
	e.text = e.text[:0]
	b = e.event(b, "response.output_item.added")
	b = e.itemAdded(b)
	b = e.event(b, "response.reasoning_summary_part.added")
	b = e.itemFields(b)
	b = append(b, `,"summary_index":0,"part":`...)
	b = respSummaryText(b, "")
	return respEndEvent(b)
}

// closeReasoning ends the open reasoning item, with encrypted content enc.
func (e *responsesStreamEncoder) closeReasoning(b []byte, enc string) []byte {
	text := string(e.text)
	if text != "" {
		b = e.event(b, "response.reasoning_summary_text.done")
		b = e.itemFields(b)
		b = append(b, `,"summary_index":0,"text":`...)
		b = AppendJSONString(b, text)
		b = respEndEvent(b)
		b = e.event(b, "response.reasoning_summary_part.done")
		b = e.itemFields(b)
		b = append(b, `,"summary_index":0,"part":`...)
		b = respSummaryText(b, text)
		b = respEndEvent(b)
	}
	item := respReasoningItem(nil, e.itemID, text, text != "", enc)
	return e.itemDone(b, item)
}

// itemDone sends output_item.done for the open item and records it.
func (e *responsesStreamEncoder) itemDone(b, item []byte) []byte {
	b = e.event(b, "response.output_item.done")
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(len(e.obj.output)), 10)
	b = append(b, `,"item":`...)
	b = append(b, item...)
	b = respEndEvent(b)
	e.obj.output = append(e.obj.output, item)
	e.kind = respNone
	return b
}

// closeItem ends the open item, if any; status is a message's final status.
func (e *responsesStreamEncoder) closeItem(b []byte, status string) []byte {
	switch e.kind {
	case respReasoning:
		return e.closeReasoning(b, "")
	case respMessage:
		text := string(e.text)
		b = e.event(b, "response.output_text.done")
		b = e.itemFields(b)
		b = append(b, `,"content_index":0,"text":`...)
		b = AppendJSONString(b, text)
		b = append(b, `,"logprobs":[]`...)
		b = respEndEvent(b)
		b = e.event(b, "response.content_part.done")
		b = e.itemFields(b)
		b = append(b, `,"content_index":0,"part":`...)
		b = respOutputText(b, text)
		b = respEndEvent(b)
		return e.itemDone(b, respMessageItem(nil, e.itemID, status, text))
	case respFunction:
		if len(e.text) == 0 {
			e.text = append(e.text, "{}"...)
			b = e.event(b, "response.function_call_arguments.delta")
			b = e.itemFields(b)
			b = append(b, `,"delta":"{}"`...)
			b = respEndEvent(b)
		}
		args := string(e.text)
		b = e.event(b, "response.function_call_arguments.done")
		b = e.itemFields(b)
		b = append(b, `,"arguments":`...)
		b = AppendJSONString(b, args)
		b = respEndEvent(b)
		return e.itemDone(b, respFunctionItem(nil, e.itemID, "completed", args, e.callID, e.name))
	}
	return b
}
