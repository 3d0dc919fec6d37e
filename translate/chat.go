package translate

// OpenAI Chat Completions codec: inbound (clients speaking /v1/chat/completions)
// and provider (OpenAI and the OpenAI-compatible servers: DeepSeek, vLLM,
// Ollama, OpenRouter, Groq...). Reasoning text travels as `reasoning_content`
// (the DeepSeek/vLLM convention); `reasoning` (OpenRouter) is read too.

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// ---------------------------------------------------------------------------
// Request decoding (client -> canonical)

// DecodeChatRequest reads a Chat Completions request body. Invalid input is a
// *RequestError naming the offending field.
func DecodeChatRequest(body []byte) (*Request, error) {
	if !gjson.ValidBytes(body) {
		return nil, &RequestError{Message: "We could not parse the JSON body of your request: it is not valid JSON."}
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, &RequestError{Message: "The request body must be a JSON object."}
	}
	r := &Request{}
	var err error
	var sawModel, sawMessages bool
	var maxTokens, maxCompletionTokens int
	root.ForEach(func(k, v gjson.Result) bool {
		if v.Type == gjson.Null {
			switch k.Str {
			case "model", "messages":
			default:
				return true // optional fields may be null
			}
		}
		switch k.Str {
		case "model":
			sawModel = true
			if v.Type != gjson.String {
				err = chatTypeErr("model", "a string", v)
				return false
			}
			r.Model = v.Str
		case "messages":
			sawMessages = true
			err = chatDecodeMessages(r, v)
		case "tools":
			err = chatDecodeTools(r, v)
		case "tool_choice":
			r.ToolChoice, err = chatDecodeToolChoice(v)
		case "parallel_tool_calls":
			if !v.IsBool() {
				err = chatTypeErr("parallel_tool_calls", "a boolean", v)
				return false
			}
			b := v.Bool()
			r.ParallelToolCalls = &b
		case "max_tokens":
			maxTokens, err = chatDecodeCount("max_tokens", v)
		case "max_completion_tokens":
			maxCompletionTokens, err = chatDecodeCount("max_completion_tokens", v)
		case "temperature", "top_p":
			if v.Type != gjson.Number {
				err = chatTypeErr(k.Str, "a number", v)
				return false
			}
			f := v.Num
			if k.Str == "temperature" {
				r.Temperature = &f
			} else {
				r.TopP = &f
			}
		case "top_k": // vLLM / OpenRouter extension
			var n int
			n, err = chatDecodeCount("top_k", v)
			if err == nil {
				r.TopK = &n
			}
		case "stop":
			r.Stop, err = chatDecodeStop(v)
		case "n":
			if v.Type != gjson.Number {
				err = chatTypeErr("n", "an integer", v)
			} else if v.Num != 1 {
				err = &RequestError{Message: "Only n=1 is supported by this proxy.", Param: "n"}
			}
		case "response_format":
			r.ResponseFormat, err = chatDecodeResponseFormat(v)
		case "reasoning_effort":
			r.Reasoning, err = chatDecodeEffort(v)
		case "stream":
			if !v.IsBool() {
				err = chatTypeErr("stream", "a boolean", v)
				return false
			}
			r.Stream = v.Bool()
		case "stream_options":
			if !v.IsObject() {
				err = chatTypeErr("stream_options", "an object", v)
				return false
			}
			if iu := v.Get("include_usage"); iu.Exists() && iu.Type != gjson.Null {
				if !iu.IsBool() {
					err = chatTypeErr("stream_options.include_usage", "a boolean", iu)
					return false
				}
				r.IncludeUsage = iu.Bool()
			}
		case "user":
			if v.Type != gjson.String {
				err = chatTypeErr("user", "a string", v)
				return false
			}
			r.User = v.Str
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if !sawModel || r.Model == "" {
		return nil, &RequestError{Message: "You must provide a model parameter.", Param: "model"}
	}
	if !sawMessages {
		return nil, &RequestError{Message: "Missing required parameter: 'messages'.", Param: "messages"}
	}
	if maxCompletionTokens > 0 {
		r.MaxTokens = maxCompletionTokens
	} else {
		r.MaxTokens = maxTokens
	}
	ResolveToolNames(r)
	return r, nil
}

func chatTypeName(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		return "a string"
	case gjson.Number:
		return "a number"
	case gjson.True, gjson.False:
		return "a boolean"
	case gjson.Null:
		return "null"
	}
	if v.IsArray() {
		return "an array"
	}
	if v.IsObject() {
		return "an object"
	}
	return "nothing"
}

func chatTypeErr(param, want string, v gjson.Result) *RequestError {
	return &RequestError{
		Message: fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.", param, want, chatTypeName(v)),
		Param:   param,
	}
}

func chatDecodeCount(param string, v gjson.Result) (int, error) {
	if v.Type != gjson.Number || v.Num != math.Trunc(v.Num) {
		return 0, chatTypeErr(param, "an integer", v)
	}
	if v.Num < 0 || v.Num > math.MaxInt32 {
		return 0, &RequestError{Message: fmt.Sprintf("Invalid value for '%s': %s is out of range.", param, v.Raw), Param: param}
	}
	return int(v.Num), nil
}

func chatDecodeStop(v gjson.Result) ([]string, error) {
	switch {
	case v.Type == gjson.String:
		if v.Str == "" {
			return nil, nil
		}
		return []string{v.Str}, nil
	case v.IsArray():
		var out []string
		var err error
		i := 0
		v.ForEach(func(_, s gjson.Result) bool {
			if s.Type != gjson.String {
				err = chatTypeErr("stop["+strconv.Itoa(i)+"]", "a string", s)
				return false
			}
			if s.Str != "" {
				out = append(out, s.Str)
			}
			i++
			return true
		})
		return out, err
	}
	return nil, chatTypeErr("stop", "a string or an array of strings", v)
}

func chatDecodeEffort(v gjson.Result) (*Reasoning, error) {
	if v.Type != gjson.String {
		return nil, chatTypeErr("reasoning_effort", "a string", v)
	}
	switch v.Str {
	case "none":
		return &Reasoning{Off: true}, nil
	case "minimal", "low", "medium", "high":
		return &Reasoning{Effort: v.Str}, nil
	case "xhigh":
		return &Reasoning{Effort: "high"}, nil
	}
	return nil, &RequestError{
		Message: fmt.Sprintf("Invalid value for 'reasoning_effort': %q. Supported values are: 'none', 'minimal', 'low', 'medium' and 'high'.", v.Str),
		Param:   "reasoning_effort",
	}
}

func chatDecodeResponseFormat(v gjson.Result) (*ResponseFormat, error) {
	if !v.IsObject() {
		return nil, chatTypeErr("response_format", "an object", v)
	}
	t := v.Get("type")
	if t.Type != gjson.String {
		return nil, chatTypeErr("response_format.type", "a string", t)
	}
	switch t.Str {
	case "text", "json_object":
		return &ResponseFormat{Type: t.Str}, nil
	case "json_schema":
		js := v.Get("json_schema")
		if !js.IsObject() {
			return nil, chatTypeErr("response_format.json_schema", "an object", js)
		}
		rf := &ResponseFormat{Type: "json_schema"}
		if n := js.Get("name"); n.Exists() && n.Type != gjson.Null {
			if n.Type != gjson.String {
				return nil, chatTypeErr("response_format.json_schema.name", "a string", n)
			}
			rf.Name = n.Str
		}
		if s := js.Get("schema"); s.Exists() && s.Type != gjson.Null {
			if !s.IsObject() {
				return nil, chatTypeErr("response_format.json_schema.schema", "an object", s)
			}
			rf.Schema = json.RawMessage(s.Raw)
		}
		if s := js.Get("strict"); s.Exists() && s.Type != gjson.Null {
			if !s.IsBool() {
				return nil, chatTypeErr("response_format.json_schema.strict", "a boolean", s)
			}
			rf.Strict = s.Bool()
		}
		return rf, nil
	}
	return nil, &RequestError{
		Message: fmt.Sprintf("Invalid value for 'response_format.type': %q. Supported values are: 'text', 'json_object' and 'json_schema'.", t.Str),
		Param:   "response_format.type",
	}
}

func chatDecodeTools(r *Request, v gjson.Result) error {
	if !v.IsArray() {
		return chatTypeErr("tools", "an array", v)
	}
	var err error
	i := 0
	v.ForEach(func(_, t gjson.Result) bool {
		p := "tools[" + strconv.Itoa(i) + "]"
		i++
		if !t.IsObject() {
			err = chatTypeErr(p, "an object", t)
			return false
		}
		if typ := t.Get("type"); typ.Exists() && typ.Str != "function" {
			err = &RequestError{Message: fmt.Sprintf("Unsupported tool type %s: only 'function' tools are supported.", typ.Raw), Param: p + ".type"}
			return false
		}
		fn := t.Get("function")
		if !fn.IsObject() {
			err = chatTypeErr(p+".function", "an object", fn)
			return false
		}
		name := fn.Get("name")
		if name.Type != gjson.String || name.Str == "" {
			err = chatTypeErr(p+".function.name", "a non-empty string", name)
			return false
		}
		tool := Tool{Name: name.Str}
		if d := fn.Get("description"); d.Exists() && d.Type != gjson.Null {
			if d.Type != gjson.String {
				err = chatTypeErr(p+".function.description", "a string", d)
				return false
			}
			tool.Description = d.Str
		}
		if ps := fn.Get("parameters"); ps.Exists() && ps.Type != gjson.Null {
			if !ps.IsObject() {
				err = chatTypeErr(p+".function.parameters", "an object", ps)
				return false
			}
			tool.Parameters = json.RawMessage(ps.Raw)
		}
		r.Tools = append(r.Tools, tool)
		return true
	})
	return err
}

func chatDecodeToolChoice(v gjson.Result) (*ToolChoice, error) {
	if v.Type == gjson.String {
		switch v.Str {
		case "auto", "none", "required":
			return &ToolChoice{Mode: v.Str}, nil
		}
		return nil, &RequestError{
			Message: fmt.Sprintf("Invalid value for 'tool_choice': %q. Supported values are: 'none', 'auto' and 'required'.", v.Str),
			Param:   "tool_choice",
		}
	}
	if !v.IsObject() {
		return nil, chatTypeErr("tool_choice", "a string or an object", v)
	}
	if t := v.Get("type"); t.Str != "function" {
		return nil, &RequestError{Message: fmt.Sprintf("Unsupported tool_choice type %s: only 'function' is supported.", t.Raw), Param: "tool_choice.type"}
	}
	name := v.Get("function.name")
	if name.Type != gjson.String || name.Str == "" {
		return nil, chatTypeErr("tool_choice.function.name", "a non-empty string", name)
	}
	return &ToolChoice{Mode: "tool", Name: name.Str}, nil
}

func chatDecodeMessages(r *Request, v gjson.Result) error {
	if !v.IsArray() {
		return chatTypeErr("messages", "an array", v)
	}
	var sys []string
	var err error
	i := -1
	v.ForEach(func(_, m gjson.Result) bool {
		i++
		p := "messages[" + strconv.Itoa(i) + "]"
		if !m.IsObject() {
			err = chatTypeErr(p, "an object", m)
			return false
		}
		role := m.Get("role")
		if role.Type != gjson.String {
			err = chatTypeErr(p+".role", "a string", role)
			return false
		}
		content := m.Get("content")
		switch role.Str {
		case "system", "developer":
			err = chatTextPieces(content, p+".content", func(s string) {
				if s != "" {
					sys = append(sys, s)
				}
			})
		case "user":
			var parts []Part
			parts, err = chatUserParts(content, p+".content", false)
			if err == nil {
				r.Messages = append(r.Messages, Message{Role: RoleUser, Parts: parts})
			}
		case "assistant":
			var msg Message
			msg, err = chatAssistantMessage(m, p)
			if err == nil {
				r.Messages = append(r.Messages, msg)
			}
		case "tool":
			id := m.Get("tool_call_id")
			if id.Type != gjson.String || id.Str == "" {
				err = chatTypeErr(p+".tool_call_id", "a non-empty string", id)
				return false
			}
			var parts []Part
			parts, err = chatUserParts(content, p+".content", true)
			if err != nil {
				return false
			}
			res := Part{Type: PartToolResult, ToolCallID: id.Str, Content: parts}
			if n := len(r.Messages); n > 0 && r.Messages[n-1].Role == RoleTool {
				r.Messages[n-1].Parts = append(r.Messages[n-1].Parts, res)
			} else {
				r.Messages = append(r.Messages, Message{Role: RoleTool, Parts: []Part{res}})
			}
		case "function":
			err = &RequestError{
				Message: "The legacy 'function' role is not supported: use 'tools' and messages with role 'tool'.",
				Param:   p + ".role",
			}
		default:
			err = &RequestError{
				Message: fmt.Sprintf("Invalid value for '%s.role': %q. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.", p, role.Str),
				Param:   p + ".role",
			}
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	if i < 0 {
		return &RequestError{Message: "Invalid 'messages': empty array. Expected an array with minimum length 1.", Param: "messages"}
	}
	r.System = strings.Join(sys, "\n\n")
	if r.Messages == nil {
		r.Messages = []Message{}
	}
	return nil
}

// chatTextPieces calls fn with each text of a content that may only hold
// text: a string, or an array of text parts.
func chatTextPieces(c gjson.Result, p string, fn func(string)) error {
	switch {
	case !c.Exists() || c.Type == gjson.Null:
		return nil
	case c.Type == gjson.String:
		fn(c.Str)
		return nil
	case c.IsArray():
		var err error
		j := 0
		c.ForEach(func(_, part gjson.Result) bool {
			pp := p + "[" + strconv.Itoa(j) + "]"
			j++
			if !part.IsObject() {
				err = chatTypeErr(pp, "an object", part)
				return false
			}
			if t := part.Get("type"); t.Str != "text" {
				err = &RequestError{Message: fmt.Sprintf("Invalid content part type %s: only 'text' is supported here.", t.Raw), Param: pp + ".type"}
				return false
			}
			tx := part.Get("text")
			if tx.Type != gjson.String {
				err = chatTypeErr(pp+".text", "a string", tx)
				return false
			}
			fn(tx.Str)
			return true
		})
		return err
	}
	return chatTypeErr(p, "a string or an array of content parts", c)
}

// chatUserParts reads user (or tool) content: a string or text and
// image_url parts.
func chatUserParts(c gjson.Result, p string, tool bool) ([]Part, error) {
	switch {
	case !c.Exists() || c.Type == gjson.Null:
		if tool {
			return nil, nil
		}
		return nil, &RequestError{Message: fmt.Sprintf("Missing required parameter: '%s'.", p), Param: p}
	case c.Type == gjson.String:
		if tool && c.Str == "" {
			return nil, nil
		}
		return []Part{{Type: PartText, Text: c.Str}}, nil
	case !c.IsArray():
		return nil, chatTypeErr(p, "a string or an array of content parts", c)
	}
	parts := []Part{}
	var err error
	j := 0
	c.ForEach(func(_, part gjson.Result) bool {
		pp := p + "[" + strconv.Itoa(j) + "]"
		j++
		if !part.IsObject() {
			err = chatTypeErr(pp, "an object", part)
			return false
		}
		t := part.Get("type")
		if t.Type != gjson.String {
			err = chatTypeErr(pp+".type", "a string", t)
			return false
		}
		switch t.Str {
		case "text":
			tx := part.Get("text")
			if tx.Type != gjson.String {
				err = chatTypeErr(pp+".text", "a string", tx)
				return false
			}
			if tx.Str != "" {
				parts = append(parts, Part{Type: PartText, Text: tx.Str})
			}
		case "image_url":
			iu := part.Get("image_url")
			u := iu.Get("url")
			if iu.Type == gjson.String { // lenient: "image_url": "https://..."
				u = iu
			}
			if u.Type != gjson.String {
				err = chatTypeErr(pp+".image_url.url", "a string", u)
				return false
			}
			var img Part
			img, err = chatImageFromURL(u.Str, pp+".image_url.url")
			if err != nil {
				return false
			}
			parts = append(parts, img)
		default:
			err = &RequestError{
				Message: fmt.Sprintf("Unsupported content part type %q: this proxy accepts 'text' and 'image_url' parts.", t.Str),
				Param:   pp + ".type",
			}
			return false
		}
		return true
	})
	return parts, err
}

// chatImageFromURL makes an image part of a data URL or an http(s) URL.
func chatImageFromURL(u, p string) (Part, error) {
	if len(u) >= 5 && strings.EqualFold(u[:5], "data:") {
		meta, data, ok := strings.Cut(u[5:], ",")
		mt, isB64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isB64 || data == "" {
			return Part{}, &RequestError{Message: "Invalid image data URL: expected data:<media type>;base64,<data>.", Param: p}
		}
		if k := strings.IndexByte(mt, ';'); k >= 0 {
			mt = mt[:k]
		}
		return Part{Type: PartImage, MediaType: mt, Data: data}, nil
	}
	if chatHasPrefixFold(u, "https://") || chatHasPrefixFold(u, "http://") {
		return Part{Type: PartImage, URL: u}, nil
	}
	return Part{}, &RequestError{Message: "Invalid image URL: expected an http(s) URL or a base64 data URL.", Param: p}
}

func chatHasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func chatAssistantMessage(m gjson.Result, p string) (Message, error) {
	msg := Message{Role: RoleAssistant, Parts: []Part{}}
	for _, key := range [...]string{"reasoning_content", "reasoning"} {
		if rc := m.Get(key); rc.Type == gjson.String {
			if rc.Str != "" {
				msg.Parts = append(msg.Parts, Part{Type: PartThinking, Text: rc.Str})
			}
			break
		}
	}
	nText := len(msg.Parts)
	c := m.Get("content")
	switch {
	case !c.Exists() || c.Type == gjson.Null:
	case c.Type == gjson.String:
		if c.Str != "" {
			msg.Parts = append(msg.Parts, Part{Type: PartText, Text: c.Str})
		}
	case c.IsArray():
		var err error
		j := 0
		c.ForEach(func(_, part gjson.Result) bool {
			pp := p + ".content[" + strconv.Itoa(j) + "]"
			j++
			if !part.IsObject() {
				err = chatTypeErr(pp, "an object", part)
				return false
			}
			key := ""
			switch t := part.Get("type").Str; t {
			case "text":
				key = "text"
			case "refusal":
				key = "refusal"
			default:
				err = &RequestError{Message: fmt.Sprintf("Unsupported assistant content part type %q: expected 'text' or 'refusal'.", t), Param: pp + ".type"}
				return false
			}
			tx := part.Get(key)
			if tx.Type != gjson.String {
				err = chatTypeErr(pp+"."+key, "a string", tx)
				return false
			}
			if tx.Str != "" {
				msg.Parts = append(msg.Parts, Part{Type: PartText, Text: tx.Str})
			}
			return true
		})
		if err != nil {
			return msg, err
		}
	default:
		return msg, chatTypeErr(p+".content", "a string, an array of content parts or null", c)
	}
	if len(msg.Parts) == nText {
		if rf := m.Get("refusal"); rf.Type == gjson.String && rf.Str != "" {
			msg.Parts = append(msg.Parts, Part{Type: PartText, Text: rf.Str})
		}
	}
	if fc := m.Get("function_call"); fc.Exists() && fc.Type != gjson.Null {
		return msg, &RequestError{Message: "The legacy 'function_call' field is not supported: use 'tool_calls'.", Param: p + ".function_call"}
	}
	tcs := m.Get("tool_calls")
	if !tcs.Exists() || tcs.Type == gjson.Null {
		return msg, nil
	}
	if !tcs.IsArray() {
		return msg, chatTypeErr(p+".tool_calls", "an array", tcs)
	}
	var err error
	j := 0
	tcs.ForEach(func(_, tc gjson.Result) bool {
		pp := p + ".tool_calls[" + strconv.Itoa(j) + "]"
		j++
		if !tc.IsObject() {
			err = chatTypeErr(pp, "an object", tc)
			return false
		}
		if t := tc.Get("type"); t.Exists() && t.Str != "function" {
			err = &RequestError{Message: fmt.Sprintf("Unsupported tool call type %s: only 'function' is supported.", t.Raw), Param: pp + ".type"}
			return false
		}
		id := tc.Get("id")
		if id.Type != gjson.String || id.Str == "" {
			err = chatTypeErr(pp+".id", "a non-empty string", id)
			return false
		}
		name := tc.Get("function.name")
		if name.Type != gjson.String || name.Str == "" {
			err = chatTypeErr(pp+".function.name", "a non-empty string", name)
			return false
		}
		args := "{}"
		switch a := tc.Get("function.arguments"); {
		case a.Type == gjson.String:
			if strings.TrimSpace(a.Str) != "" {
				args = a.Str
			}
		case a.IsObject(): // lenient: arguments sent as an object
			args = a.Raw
		case !a.Exists() || a.Type == gjson.Null:
		default:
			err = chatTypeErr(pp+".function.arguments", "a string", a)
			return false
		}
		msg.Parts = append(msg.Parts, Part{Type: PartToolCall, ToolCallID: id.Str, ToolName: name.Str, Arguments: args})
		return true
	})
	return msg, err
}

// ---------------------------------------------------------------------------
// Request encoding (canonical -> OpenAI-compatible provider)

// EncodeChatRequest writes a Chat Completions request body for an
// OpenAI-compatible provider.
func EncodeChatRequest(r *Request) ([]byte, error) {
	if r.Model == "" {
		return nil, fmt.Errorf("chat: request has no model")
	}
	b := make([]byte, 0, 512)
	b = append(b, `{"model":`...)
	b = AppendJSONString(b, r.Model)
	b = append(b, `,"messages":[`...)
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	if r.System != "" {
		sep()
		b = append(b, `{"role":"system","content":`...)
		b = AppendJSONString(b, r.System)
		b = append(b, '}')
	}
	for mi := range r.Messages {
		m := &r.Messages[mi]
		switch m.Role {
		case RoleAssistant:
			sep()
			b = chatAppendAssistant(b, m)
		default: // user and tool: tool results become tool messages, the rest one user message
			var images []Part
			for pi := range m.Parts {
				p := &m.Parts[pi]
				if p.Type != PartToolResult {
					continue
				}
				sep()
				b = append(b, `{"role":"tool","tool_call_id":`...)
				b = AppendJSONString(b, chatWireToolID(p.ToolCallID))
				b = append(b, `,"content":`...)
				b = AppendJSONString(b, chatJoinText(p.Content, "\n"))
				b = append(b, '}')
				for _, c := range p.Content {
					if c.Type == PartImage {
						images = append(images, c)
					}
				}
			}
			var user []Part
			for pi := range m.Parts {
				switch m.Parts[pi].Type {
				case PartText, PartImage:
					user = append(user, m.Parts[pi])
				}
			}
			if len(images) > 0 || len(user) > 0 || (m.Role == RoleUser && !chatHasToolResults(m.Parts)) {
				sep()
				b = chatAppendUser(b, append(images, user...))
			}
		}
	}
	b = append(b, ']')

	if len(r.Tools) > 0 {
		b = append(b, `,"tools":[`...)
		for i, t := range r.Tools {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":"function","function":{"name":`...)
			b = AppendJSONString(b, t.Name)
			if t.Description != "" {
				b = append(b, `,"description":`...)
				b = AppendJSONString(b, t.Description)
			}
			b = append(b, `,"parameters":`...)
			if len(t.Parameters) > 0 && gjson.ValidBytes(t.Parameters) {
				b = append(b, t.Parameters...)
			} else if len(t.Parameters) > 0 {
				return nil, fmt.Errorf("chat: tool %q has invalid parameters JSON", t.Name)
			} else {
				b = append(b, `{"type":"object","properties":{}}`...)
			}
			b = append(b, `}}`...)
		}
		b = append(b, ']')
		// tool_choice and parallel_tool_calls are only allowed with tools.
		if tc := r.ToolChoice; tc != nil {
			b = append(b, `,"tool_choice":`...)
			switch tc.Mode {
			case "none", "required":
				b = AppendJSONString(b, tc.Mode)
			case "tool":
				b = append(b, `{"type":"function","function":{"name":`...)
				b = AppendJSONString(b, tc.Name)
				b = append(b, `}}`...)
			default:
				b = append(b, `"auto"`...)
			}
		}
		if r.ParallelToolCalls != nil {
			b = append(b, `,"parallel_tool_calls":`...)
			b = strconv.AppendBool(b, *r.ParallelToolCalls)
		}
	}

	reasoning := r.Reasoning != nil && !r.Reasoning.Off
	if r.MaxTokens > 0 {
		if reasoning || chatReasoningModel(r.Model) {
			b = append(b, `,"max_completion_tokens":`...)
		} else {
			b = append(b, `,"max_tokens":`...)
		}
		b = strconv.AppendInt(b, int64(r.MaxTokens), 10)
	}
	// OpenAI's reasoning models reject sampling parameters and stop
	// sequences ("Unsupported parameter"): they are left out for them.
	sampling := !chatReasoningModel(r.Model) || strings.HasPrefix(r.Model, "gpt-5-chat")
	if r.Temperature != nil && sampling {
		b = append(b, `,"temperature":`...)
		b = AppendFloat(b, *r.Temperature)
	}
	if r.TopP != nil && sampling {
		b = append(b, `,"top_p":`...)
		b = AppendFloat(b, *r.TopP)
	}
	if len(r.Stop) > 0 && sampling {
		b = append(b, `,"stop":[`...)
		for i, s := range r.Stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, s)
		}
		b = append(b, ']')
	}
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			b = append(b, `,"response_format":{"type":"json_object"}`...)
		case "json_schema":
			if len(rf.Schema) > 0 && !gjson.ValidBytes(rf.Schema) {
				return nil, fmt.Errorf("chat: response format has invalid schema JSON")
			}
			b = append(b, `,"response_format":{"type":"json_schema","json_schema":{"name":`...)
			name := rf.Name
			if name == "" {
				name = "response"
			}
			b = AppendJSONString(b, name)
			b = append(b, `,"schema":`...)
			if len(rf.Schema) > 0 {
				b = append(b, rf.Schema...)
			} else {
				b = append(b, `{"type":"object"}`...)
			}
			if rf.Strict {
				b = append(b, `,"strict":true`...)
			}
			b = append(b, `}}`...)
		case "text":
			b = append(b, `,"response_format":{"type":"text"}`...)
		}
	}
	if reasoning {
		b = append(b, `,"reasoning_effort":`...)
		b = AppendJSONString(b, r.Reasoning.EffortLevel())
	}
	if r.Stream {
		// Usage is always asked for: the proxy needs it for accounting.
		b = append(b, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	if r.User != "" {
		b = append(b, `,"user":`...)
		b = AppendJSONString(b, r.User)
	}
	return append(b, '}'), nil
}

// chatReasoningModel reports OpenAI's reasoning model families, which take
// max_completion_tokens rather than max_tokens.
func chatReasoningModel(model string) bool {
	return strings.HasPrefix(model, "o1") || strings.HasPrefix(model, "o3") ||
		strings.HasPrefix(model, "o4") || strings.HasPrefix(model, "gpt-5")
}

func chatHasToolResults(parts []Part) bool {
	for i := range parts {
		if parts[i].Type == PartToolResult {
			return true
		}
	}
	return false
}

func chatJoinText(parts []Part, sep string) string {
	n := 0
	var only string
	for i := range parts {
		if parts[i].Type == PartText {
			n++
			only = parts[i].Text
		}
	}
	if n <= 1 {
		return only
	}
	var sb strings.Builder
	k := 0
	for i := range parts {
		if parts[i].Type == PartText {
			if k > 0 {
				sb.WriteString(sep)
			}
			sb.WriteString(parts[i].Text)
			k++
		}
	}
	return sb.String()
}

func chatAppendUser(b []byte, parts []Part) []byte {
	b = append(b, `{"role":"user","content":`...)
	if len(parts) == 1 && parts[0].Type == PartText {
		b = AppendJSONString(b, parts[0].Text)
		return append(b, '}')
	}
	if len(parts) == 0 {
		return append(b, `""}`...)
	}
	b = append(b, '[')
	for i := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		p := &parts[i]
		if p.Type == PartImage {
			b = append(b, `{"type":"image_url","image_url":{"url":`...)
			b = AppendJSONString(b, chatImageURL(p))
			b = append(b, `}}`...)
		} else {
			b = append(b, `{"type":"text","text":`...)
			b = AppendJSONString(b, p.Text)
			b = append(b, '}')
		}
	}
	return append(b, `]}`...)
}

// chatImageURL is the URL of an image part: its http URL, else a data URL.
func chatImageURL(p *Part) string {
	if p.Data == "" && p.URL != "" {
		return p.URL
	}
	mt := p.MediaType
	if mt == "" {
		mt = "image/png"
	}
	return "data:" + mt + ";base64," + p.Data
}

func chatAppendAssistant(b []byte, m *Message) []byte {
	b = append(b, `{"role":"assistant","content":`...)
	text, calls := 0, 0
	for i := range m.Parts {
		switch m.Parts[i].Type {
		case PartText:
			text++
		case PartToolCall:
			calls++
		}
	}
	switch {
	case text > 0:
		// Text blocks are concatenated as a streamed answer would be.
		b = AppendJSONString(b, chatJoinText(m.Parts, ""))
	case calls > 0:
		b = append(b, "null"...)
	default:
		b = append(b, `""`...)
	}
	if calls > 0 {
		b = append(b, `,"tool_calls":[`...)
		k := 0
		for i := range m.Parts {
			p := &m.Parts[i]
			if p.Type != PartToolCall {
				continue
			}
			if k > 0 {
				b = append(b, ',')
			}
			k++
			b = append(b, `{"id":`...)
			b = AppendJSONString(b, chatWireToolID(p.ToolCallID))
			b = append(b, `,"type":"function","function":{"name":`...)
			b = AppendJSONString(b, p.ToolName)
			b = append(b, `,"arguments":`...)
			args := p.Arguments
			if strings.TrimSpace(args) == "" {
				args = "{}"
			}
			b = AppendJSONString(b, args)
			b = append(b, `}}`...)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// chatMaxToolIDLen is OpenAI's limit on tool call ids in requests
// ("string_above_max_length").
const chatMaxToolIDLen = 40

// chatWireToolID is id as sent upstream: kept when it fits, else replaced by
// a stable shorter id (the same for the call and its result).
func chatWireToolID(id string) string {
	if len(id) <= chatMaxToolIDLen {
		return id
	}
	return MakeToolCallID("call_", id, 0)
}

// ---------------------------------------------------------------------------
// Response decoding (provider -> canonical)

// DecodeChatResponse reads a whole Chat Completions answer.
func DecodeChatResponse(body []byte) (*Response, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("chat: response is not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, fmt.Errorf("chat: response is not a JSON object")
	}
	if e := root.Get("error"); e.Exists() && e.Type != gjson.Null {
		msg, _ := chatErrorInfo(e)
		return nil, fmt.Errorf("chat: upstream error: %s", msg)
	}
	r := &Response{ID: root.Get("id").String(), Model: root.Get("model").String(), Parts: []Part{}}
	choice := root.Get("choices.0")
	msg := choice.Get("message")
	if rc := msg.Get("reasoning_content"); rc.Type == gjson.String && rc.Str != "" {
		r.Parts = append(r.Parts, Part{Type: PartThinking, Text: rc.Str})
	} else if rc := msg.Get("reasoning"); rc.Type == gjson.String && rc.Str != "" {
		r.Parts = append(r.Parts, Part{Type: PartThinking, Text: rc.Str})
	}
	switch c := msg.Get("content"); {
	case c.Type == gjson.String:
		if c.Str != "" {
			r.Parts = append(r.Parts, Part{Type: PartText, Text: c.Str})
		}
	case c.IsArray(): // some servers answer content parts
		c.ForEach(func(_, p gjson.Result) bool {
			if t := p.Get("text"); t.Type == gjson.String && t.Str != "" {
				r.Parts = append(r.Parts, Part{Type: PartText, Text: t.Str})
			}
			return true
		})
	}
	if rf := msg.Get("refusal"); rf.Type == gjson.String && rf.Str != "" {
		r.Parts = append(r.Parts, Part{Type: PartText, Text: rf.Str})
	}
	n := 0
	msg.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
		r.Parts = append(r.Parts, chatToolCallPart(tc, r.ID, n))
		n++
		return true
	})
	if fc := msg.Get("function_call"); n == 0 && fc.IsObject() {
		r.Parts = append(r.Parts, chatToolCallPart(gjson.Parse(`{"function":`+fc.Raw+`}`), r.ID, 0))
		n++
	}
	fr := choice.Get("finish_reason").String()
	r.StopReason = chatStopReason(fr)
	if n > 0 && r.StopReason == StopEnd {
		r.StopReason = StopToolUse
	}
	if sr := choice.Get("stop_reason"); fr == "stop" && sr.Type == gjson.String && sr.Str != "" {
		// vLLM names the stop sequence that matched.
		r.StopReason, r.StopSequence = StopSequence, sr.Str
	}
	if u := root.Get("usage"); u.IsObject() {
		r.Usage = chatUsageOf(u)
	}
	return r, nil
}

func chatToolCallPart(tc gjson.Result, seed string, n int) Part {
	p := Part{Type: PartToolCall, ToolCallID: tc.Get("id").String(), ToolName: tc.Get("function.name").String()}
	if p.ToolCallID == "" {
		p.ToolCallID = MakeToolCallID("call_", seed, n)
	}
	switch a := tc.Get("function.arguments"); {
	case a.Type == gjson.String:
		p.Arguments = a.Str
	case a.IsObject():
		p.Arguments = a.Raw
	}
	if strings.TrimSpace(p.Arguments) == "" {
		p.Arguments = "{}"
	}
	return p
}

func chatStopReason(fr string) StopReason {
	switch fr {
	case "length":
		return StopMaxTokens
	case "tool_calls", "function_call":
		return StopToolUse
	case "content_filter":
		return StopContentFilter
	}
	return StopEnd
}

// chatUsageOf reads a Chat Completions usage object (DeepSeek's
// prompt_cache_hit_tokens counts as cached input when the standard field is
// absent).
func chatUsageOf(r gjson.Result) Usage {
	var u Usage
	var hit int64
	r.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens":
			u.Input = v.Int()
		case "completion_tokens":
			u.Output = v.Int()
		case "prompt_tokens_details":
			u.Cached = v.Get("cached_tokens").Int()
		case "completion_tokens_details":
			u.Reasoning = v.Get("reasoning_tokens").Int()
		case "prompt_cache_hit_tokens":
			hit = v.Int()
		}
		return true
	})
	if u.Cached == 0 {
		u.Cached = hit
	}
	return u
}

// chatErrorInfo reads an error value: {"message","code",...} or a string.
func chatErrorInfo(e gjson.Result) (msg string, status int) {
	if e.Type == gjson.String {
		return e.Str, 0
	}
	msg = e.Get("message").String()
	if msg == "" {
		msg = e.Raw
	}
	for _, k := range [...]string{"code", "status"} {
		if c := e.Get(k); c.Type == gjson.Number && c.Num >= 100 && c.Num < 600 {
			return msg, int(c.Num)
		}
	}
	return msg, 0
}

// ---------------------------------------------------------------------------
// Response encoding (canonical -> client)

// EncodeChatResponse writes a chat.completion object as OpenAI sends it.
func EncodeChatResponse(r *Response) []byte {
	b := make([]byte, 0, 512)
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, chatCompletionID(r.ID))
	b = append(b, `,"object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, Now().Unix(), 10)
	b = append(b, `,"model":`...)
	b = AppendJSONString(b, r.Model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	text, think, calls := 0, 0, 0
	for i := range r.Parts {
		switch p := &r.Parts[i]; p.Type {
		case PartText:
			text++
		case PartThinking:
			if !p.Redacted && p.Text != "" {
				think++
			}
		case PartToolCall:
			calls++
		}
	}
	switch {
	case text > 0:
		b = AppendJSONString(b, chatJoinText(r.Parts, ""))
	case calls > 0:
		b = append(b, "null"...)
	default:
		b = append(b, `""`...)
	}
	if think > 0 {
		b = append(b, `,"reasoning_content":`...)
		var sb strings.Builder
		for i := range r.Parts {
			if p := &r.Parts[i]; p.Type == PartThinking && !p.Redacted {
				sb.WriteString(p.Text)
			}
		}
		b = AppendJSONString(b, sb.String())
	}
	if calls > 0 {
		b = append(b, `,"tool_calls":[`...)
		k := 0
		for i := range r.Parts {
			p := &r.Parts[i]
			if p.Type != PartToolCall {
				continue
			}
			if k > 0 {
				b = append(b, ',')
			}
			id := p.ToolCallID
			if id == "" {
				id = MakeToolCallID("call_", r.ID, k)
			}
			k++
			b = append(b, `{"id":`...)
			b = AppendJSONString(b, id)
			b = append(b, `,"type":"function","function":{"name":`...)
			b = AppendJSONString(b, p.ToolName)
			b = append(b, `,"arguments":`...)
			args := p.Arguments
			if strings.TrimSpace(args) == "" {
				args = "{}"
			}
			b = AppendJSONString(b, args)
			b = append(b, `}}`...)
		}
		b = append(b, ']')
	}
	b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":`...)
	b = AppendJSONString(b, chatFinishReason(r.StopReason, calls > 0))
	b = append(b, `}],"usage":`...)
	b = chatAppendUsage(b, r.Usage)
	return append(b, `,"system_fingerprint":null}`...)
}

func chatFinishReason(s StopReason, toolCalls bool) string {
	switch s {
	case StopMaxTokens:
		return "length"
	case StopToolUse:
		return "tool_calls"
	case StopContentFilter:
		return "content_filter"
	}
	if toolCalls {
		return "tool_calls"
	}
	return "stop"
}

func chatAppendUsage(b []byte, u Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, u.Input, 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, u.Output, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, u.Total(), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, u.Cached, 10)
	b = append(b, `,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, u.Reasoning, 10)
	return append(b, `,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
}

// chatCompletionID is id with OpenAI's "chatcmpl-" prefix (a new id if empty).
func chatCompletionID(id string) string {
	if id == "" {
		return chatNewID()
	}
	if strings.HasPrefix(id, "chatcmpl-") {
		return id
	}
	return "chatcmpl-" + id
}

const chatIDAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func chatNewID() string {
	var raw [29]byte
	_, _ = rand.Read(raw[:])
	out := make([]byte, 0, 9+len(raw))
	out = append(out, "chatcmpl-"...)
	for _, c := range raw {
		out = append(out, chatIDAlphabet[int(c)%len(chatIDAlphabet)])
	}
	return string(out)
}

// ---------------------------------------------------------------------------
// Stream decoding (provider SSE -> canonical events)

// NewChatStreamDecoder decodes an OpenAI-compatible chat.completion.chunk
// stream.
func NewChatStreamDecoder() StreamDecoder { return &chatStreamDecoder{} }

type chatStreamDecoder struct {
	started    bool
	finished   bool
	haveReason bool
	reason     StopReason
	stopSeq    string
	id         string
	tools      []chatToolSlot
	nTools     int // tool calls started (our indexes 0..nTools-1)
}

// chatToolSlot maps a provider tool-call index to ours.
type chatToolSlot struct {
	pidx    int
	idx     int // ours; -1 while the start waits for a name
	id      string
	name    string
	pending []byte // arguments held while the name is unknown
}

func (d *chatStreamDecoder) Finished() bool { return d.finished }

func (d *chatStreamDecoder) Decode(dst []StreamEvent, ev Event) ([]StreamEvent, error) {
	if d.finished {
		return dst, nil
	}
	data := ev.Data
	if string(ev.Name) == "error" {
		e := gjson.ParseBytes(data)
		if inner := e.Get("error"); inner.Exists() {
			e = inner
		}
		if !e.IsObject() {
			e = gjson.Result{Type: gjson.String, Str: string(data)}
		}
		return d.fail(dst, e), nil
	}
	if len(data) == 0 {
		return dst, nil // comment or keep-alive
	}
	if IsDone(data) {
		return d.finish(dst), nil
	}
	if !gjson.ValidBytes(data) {
		return dst, fmt.Errorf("chat stream: chunk is not valid JSON")
	}
	root := gjson.ParseBytes(data)
	if !root.IsObject() {
		return dst, fmt.Errorf("chat stream: chunk is not a JSON object")
	}
	var id, model, object, choices, usage, errv, xgroq gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "id":
			id = v
		case "model":
			model = v
		case "object":
			object = v
		case "choices":
			choices = v
		case "usage":
			usage = v
		case "error":
			errv = v
		case "x_groq":
			xgroq = v
		}
		return true
	})
	if errv.Exists() && errv.Type != gjson.Null {
		return d.fail(dst, errv), nil
	}
	if object.Str == "error" { // vLLM: {"object":"error","message":...,"code":400}
		return d.fail(dst, root), nil
	}
	if !d.started {
		d.started = true
		d.id = id.String()
		dst = append(dst, StreamEvent{Type: EvStart, ID: d.id, Model: model.String()})
	}
	failed := false
	choices.ForEach(func(_, c gjson.Result) bool {
		if c.Get("index").Int() != 0 {
			return true // only the first choice is relayed
		}
		delta := c.Get("delta")
		if rc := delta.Get("reasoning_content"); rc.Type == gjson.String && rc.Str != "" {
			dst = append(dst, StreamEvent{Type: EvThinking, Text: rc.Str})
		} else if rc := delta.Get("reasoning"); rc.Type == gjson.String && rc.Str != "" {
			dst = append(dst, StreamEvent{Type: EvThinking, Text: rc.Str})
		}
		if t := delta.Get("content"); t.Type == gjson.String && t.Str != "" {
			dst = append(dst, StreamEvent{Type: EvText, Text: t.Str})
		}
		if t := delta.Get("refusal"); t.Type == gjson.String && t.Str != "" {
			dst = append(dst, StreamEvent{Type: EvText, Text: t.Str})
		}
		delta.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
			dst = d.toolDelta(dst, tc)
			return true
		})
		if fc := delta.Get("function_call"); fc.IsObject() { // legacy single call
			dst = d.toolDelta(dst, gjson.Parse(`{"index":0,"function":`+fc.Raw+`}`))
		}
		if fr := c.Get("finish_reason"); fr.Type == gjson.String && fr.Str != "" {
			if fr.Str == "error" { // OpenRouter: a mid-stream failure
				failed = true
				return false
			}
			d.haveReason, d.reason, d.stopSeq = true, chatStopReason(fr.Str), ""
			if sr := c.Get("stop_reason"); fr.Str == "stop" && sr.Type == gjson.String && sr.Str != "" {
				d.reason, d.stopSeq = StopSequence, sr.Str
			}
		}
		return true
	})
	if failed {
		return d.fail(dst, gjson.Parse(`{"message":"upstream stream ended with finish_reason \"error\""}`)), nil
	}
	if !usage.IsObject() {
		usage = xgroq.Get("usage") // Groq puts usage under x_groq
	}
	if usage.IsObject() {
		dst = append(dst, StreamEvent{Type: EvUsage, Usage: chatUsageOf(usage)})
		if d.haveReason {
			// The answer and its usage are complete: servers that send no
			// [DONE] after the usage are still finished properly.
			return d.finish(dst), nil
		}
	}
	return dst, nil
}

func (d *chatStreamDecoder) toolDelta(dst []StreamEvent, tc gjson.Result) []StreamEvent {
	id := tc.Get("id").String()
	fn := tc.Get("function")
	name := fn.Get("name").String()
	var args string
	switch a := fn.Get("arguments"); {
	case a.Type == gjson.String:
		args = a.Str
	case a.IsObject():
		args = a.Raw
	}
	var slot *chatToolSlot
	if ir := tc.Get("index"); ir.Type == gjson.Number {
		p := int(ir.Int())
		if p == -1 {
			p = 0
		}
		for i := len(d.tools) - 1; i >= 0; i-- {
			if d.tools[i].pidx == p {
				slot = &d.tools[i]
				break
			}
		}
		// A new id at a known index is a new call (servers that number
		// every call 0).
		if slot != nil && id != "" && slot.id != "" && id != slot.id {
			slot.pidx = math.MinInt
			slot = nil
		}
		if slot == nil {
			d.tools = append(d.tools, chatToolSlot{pidx: p, idx: -1, id: id})
			slot = &d.tools[len(d.tools)-1]
		}
	} else {
		if id != "" {
			for i := range d.tools {
				if d.tools[i].id == id {
					slot = &d.tools[i]
					break
				}
			}
		} else if len(d.tools) > 0 {
			slot = &d.tools[len(d.tools)-1]
		}
		if slot == nil {
			d.tools = append(d.tools, chatToolSlot{pidx: math.MinInt, idx: -1, id: id})
			slot = &d.tools[len(d.tools)-1]
		}
	}
	if slot.id == "" {
		slot.id = id
	}
	if slot.idx < 0 {
		if slot.name == "" {
			slot.name = name
		}
		if slot.name == "" {
			slot.pending = append(slot.pending, args...)
			return dst
		}
		dst = d.startTool(dst, slot)
	}
	if args != "" {
		dst = append(dst, StreamEvent{Type: EvToolArgs, Index: slot.idx, Args: args})
	}
	return dst
}

func (d *chatStreamDecoder) startTool(dst []StreamEvent, slot *chatToolSlot) []StreamEvent {
	slot.idx = d.nTools
	d.nTools++
	if slot.id == "" {
		slot.id = MakeToolCallID("call_", d.id, slot.idx)
	}
	dst = append(dst, StreamEvent{Type: EvToolStart, Index: slot.idx, ToolCallID: slot.id, ToolName: slot.name})
	if len(slot.pending) > 0 {
		dst = append(dst, StreamEvent{Type: EvToolArgs, Index: slot.idx, Args: string(slot.pending)})
		slot.pending = nil
	}
	return dst
}

func (d *chatStreamDecoder) finish(dst []StreamEvent) []StreamEvent {
	if !d.started {
		d.started = true
		dst = append(dst, StreamEvent{Type: EvStart})
	}
	for i := range d.tools { // calls whose name never came
		if d.tools[i].idx < 0 && len(d.tools[i].pending) > 0 {
			dst = d.startTool(dst, &d.tools[i])
		}
	}
	reason := StopEnd
	if d.haveReason {
		reason = d.reason
	}
	if reason == StopEnd && d.nTools > 0 {
		reason = StopToolUse
	}
	d.finished = true
	return append(dst, StreamEvent{Type: EvFinish, StopReason: reason, StopSequence: d.stopSeq})
}

func (d *chatStreamDecoder) fail(dst []StreamEvent, e gjson.Result) []StreamEvent {
	msg, status := chatErrorInfo(e)
	if msg == "" {
		msg = "upstream stream error"
	}
	d.finished = true
	return append(dst, StreamEvent{Type: EvError, Text: msg, Status: status})
}

// ---------------------------------------------------------------------------
// Stream encoding (canonical events -> client SSE)

// NewChatStreamEncoder encodes canonical events as OpenAI chat.completion.chunk
// events, ending with `data: [DONE]`.
func NewChatStreamEncoder(o StreamOptions) StreamEncoder { return &chatStreamEncoder{o: o} }

type chatStreamEncoder struct {
	o       StreamOptions
	started bool
	done    bool
	prefix  []byte // `data: {"id":...,"choices":[`
	usage   Usage
	id      string
	tools   []bool // started tool calls by Index
	anyTool bool
}

func (e *chatStreamEncoder) Encode(dst []byte, ev *StreamEvent) []byte {
	if e.done {
		return dst
	}
	switch ev.Type {
	case EvStart:
		if !e.started {
			dst = e.open(dst, ev.ID, ev.Model)
		}
	case EvText, EvThinking:
		if ev.Text == "" {
			return dst
		}
		dst = e.open(dst, "", "")
		dst = append(dst, e.prefix...)
		if ev.Type == EvText {
			dst = append(dst, `{"index":0,"delta":{"content":`...)
		} else {
			dst = append(dst, `{"index":0,"delta":{"reasoning_content":`...)
		}
		dst = AppendJSONString(dst, ev.Text)
		dst = append(dst, `},"logprobs":null,"finish_reason":null}`...)
		dst = e.end(dst)
	case EvToolStart:
		if ev.Index < 0 || ev.Index > 1<<16 || (ev.Index < len(e.tools) && e.tools[ev.Index]) {
			return dst
		}
		for len(e.tools) <= ev.Index {
			e.tools = append(e.tools, false)
		}
		e.tools[ev.Index] = true
		e.anyTool = true
		dst = e.open(dst, "", "")
		id := ev.ToolCallID
		if id == "" {
			id = MakeToolCallID("call_", e.id, ev.Index)
		}
		dst = append(dst, e.prefix...)
		dst = append(dst, `{"index":0,"delta":{"tool_calls":[{"index":`...)
		dst = strconv.AppendInt(dst, int64(ev.Index), 10)
		dst = append(dst, `,"id":`...)
		dst = AppendJSONString(dst, id)
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = AppendJSONString(dst, ev.ToolName)
		dst = append(dst, `,"arguments":""}}]},"logprobs":null,"finish_reason":null}`...)
		dst = e.end(dst)
	case EvToolArgs:
		if ev.Args == "" || ev.Index < 0 || ev.Index >= len(e.tools) || !e.tools[ev.Index] {
			return dst
		}
		dst = append(dst, e.prefix...)
		dst = append(dst, `{"index":0,"delta":{"tool_calls":[{"index":`...)
		dst = strconv.AppendInt(dst, int64(ev.Index), 10)
		dst = append(dst, `,"function":{"arguments":`...)
		dst = AppendJSONString(dst, ev.Args)
		dst = append(dst, `}}]},"logprobs":null,"finish_reason":null}`...)
		dst = e.end(dst)
	case EvUsage:
		u := ev.Usage
		if u.Input != 0 {
			e.usage.Input = u.Input
		}
		if u.Output != 0 {
			e.usage.Output = u.Output
		}
		if u.Cached != 0 {
			e.usage.Cached = u.Cached
		}
		if u.Reasoning != 0 {
			e.usage.Reasoning = u.Reasoning
		}
	case EvFinish:
		dst = e.open(dst, "", "")
		dst = append(dst, e.prefix...)
		dst = append(dst, `{"index":0,"delta":{},"logprobs":null,"finish_reason":`...)
		dst = AppendJSONString(dst, chatFinishReason(ev.StopReason, e.anyTool))
		dst = append(dst, '}')
		dst = e.end(dst)
		if e.o.IncludeUsage {
			dst = append(dst, e.prefix...)
			dst = append(dst, `],"usage":`...)
			dst = chatAppendUsage(dst, e.usage)
			dst = append(dst, "}\n\n"...)
		}
		dst = append(dst, "data: [DONE]\n\n"...)
		e.done = true
	case EvError:
		msg := ev.Text
		if msg == "" {
			msg = "upstream stream interrupted"
		}
		dst = append(dst, `data: {"error":{"message":`...)
		dst = AppendJSONString(dst, msg)
		dst = append(dst, `,"type":"upstream_error","code":"stream_interrupted"}}`+"\n\n"...)
		e.done = true
	}
	return dst
}

// open writes the first chunk (role assistant) unless written already.
func (e *chatStreamEncoder) open(dst []byte, id, model string) []byte {
	if e.started {
		return dst
	}
	e.started = true
	e.id = chatCompletionID(id)
	if model == "" {
		model = e.o.Model
	}
	p := make([]byte, 0, 128)
	p = append(p, `data: {"id":`...)
	p = AppendJSONString(p, e.id)
	p = append(p, `,"object":"chat.completion.chunk","created":`...)
	p = strconv.AppendInt(p, Now().Unix(), 10)
	p = append(p, `,"model":`...)
	p = AppendJSONString(p, model)
	p = append(p, `,"choices":[`...)
	e.prefix = p
	dst = append(dst, p...)
	dst = append(dst, `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`...)
	return e.end(dst)
}

// end closes a chunk opened with prefix and a choice.
func (e *chatStreamEncoder) end(dst []byte) []byte {
	if e.o.IncludeUsage {
		return append(dst, "],\"usage\":null}\n\n"...)
	}
	return append(dst, "]}\n\n"...)
}

// ---------------------------------------------------------------------------
// Same-format patching

// PatchChatRequest applies an upstream's overrides to a Chat Completions body
// in place of a decode/encode round trip: the system prompt becomes a system
// message in front, the reasoning override sets or removes reasoning_effort.
func PatchChatRequest(body []byte, o Overrides) ([]byte, error) {
	out := body
	if o.SystemPrompt != "" {
		if !gjson.ValidBytes(out) {
			return nil, &RequestError{Message: "We could not parse the JSON body of your request: it is not valid JSON."}
		}
		msgs := gjson.GetBytes(out, "messages")
		if !msgs.IsArray() || len(msgs.Raw) < 2 {
			return nil, &RequestError{Message: "Invalid 'messages': expected an array.", Param: "messages"}
		}
		sys := append([]byte(`{"role":"system","content":`), AppendJSONString(nil, o.SystemPrompt)...)
		sys = append(sys, '}')
		inner := strings.TrimSpace(msgs.Raw[1 : len(msgs.Raw)-1])
		if inner != "" {
			sys = append(sys, ',')
		}
		if i := msgs.Index; i > 0 && i+len(msgs.Raw) <= len(out) && string(out[i:i+len(msgs.Raw)]) == msgs.Raw {
			n := make([]byte, 0, len(out)+len(sys))
			n = append(n, out[:i+1]...)
			n = append(n, sys...)
			n = append(n, out[i+1:]...)
			out = n
		} else {
			var err error
			out, err = sjson.SetRawBytes(out, "messages", append(append([]byte{'['}, sys...), msgs.Raw[1:]...))
			if err != nil {
				return nil, err
			}
		}
	}
	if rs := o.ReasoningOverride(); rs != nil {
		var err error
		if rs.Off {
			out, err = sjson.DeleteBytes(out, "reasoning_effort")
		} else {
			out, err = sjson.SetBytes(out, "reasoning_effort", rs.EffortLevel())
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
