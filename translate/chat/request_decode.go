package chat

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// DecodeRequest reads a Chat Completions request body. Invalid input is a
// *RequestError naming the offending field.
func DecodeRequest(body []byte) (*translate.Request, error) {
	if !gjson.ValidBytes(body) {
		return nil, &translate.RequestError{Message: "We could not parse the JSON body of your request: it is not valid JSON."}
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, &translate.RequestError{Message: "The request body must be a JSON object."}
	}
	r := &translate.Request{}
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
				err = typeErr("model", "a string", v)
				return false
			}
			r.Model = v.Str
		case "messages":
			sawMessages = true
			err = decodeMessages(r, v)
		case "tools":
			err = decodeTools(r, v)
		case "tool_choice":
			r.ToolChoice, err = decodeToolChoice(v)
		case "parallel_tool_calls":
			if !v.IsBool() {
				err = typeErr("parallel_tool_calls", "a boolean", v)
				return false
			}
			b := v.Bool()
			r.ParallelToolCalls = &b
		case "max_tokens":
			maxTokens, err = decodeCount("max_tokens", v)
		case "max_completion_tokens":
			maxCompletionTokens, err = decodeCount("max_completion_tokens", v)
		case "temperature", "top_p":
			if v.Type != gjson.Number {
				err = typeErr(k.Str, "a number", v)
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
			n, err = decodeCount("top_k", v)
			if err == nil {
				r.TopK = &n
			}
		case "stop":
			r.Stop, err = decodeStop(v)
		case "n":
			if v.Type != gjson.Number {
				err = typeErr("n", "an integer", v)
			} else if v.Num != 1 {
				err = &translate.RequestError{Message: "Only n=1 is supported by this proxy.", Param: "n"}
			}
		case "response_format":
			r.ResponseFormat, err = decodeResponseFormat(v)
		case "reasoning_effort":
			r.Reasoning, err = decodeEffort(v)
		case "stream":
			if !v.IsBool() {
				err = typeErr("stream", "a boolean", v)
				return false
			}
			r.Stream = v.Bool()
		case "stream_options":
			if !v.IsObject() {
				err = typeErr("stream_options", "an object", v)
				return false
			}
			if iu := v.Get("include_usage"); iu.Exists() && iu.Type != gjson.Null {
				if !iu.IsBool() {
					err = typeErr("stream_options.include_usage", "a boolean", iu)
					return false
				}
				r.IncludeUsage = iu.Bool()
			}
		case "user":
			if v.Type != gjson.String {
				err = typeErr("user", "a string", v)
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
		return nil, &translate.RequestError{Message: "You must provide a model parameter.", Param: "model"}
	}
	if !sawMessages {
		return nil, &translate.RequestError{Message: "Missing required parameter: 'messages'.", Param: "messages"}
	}
	if maxCompletionTokens > 0 {
		r.MaxTokens = maxCompletionTokens
	} else {
		r.MaxTokens = maxTokens
	}
	// NameTools also names each tool result after the call it answers.
	translate.NameTools(r)
	return r, nil
}

func typeName(v gjson.Result) string {
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

func typeErr(param, want string, v gjson.Result) *translate.RequestError {
	return &translate.RequestError{
		Message: fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.", param, want, typeName(v)),
		Param:   param,
	}
}

func decodeCount(param string, v gjson.Result) (int, error) {
	if v.Type != gjson.Number || v.Num != math.Trunc(v.Num) {
		return 0, typeErr(param, "an integer", v)
	}
	if v.Num < 0 || v.Num > math.MaxInt32 {
		return 0, &translate.RequestError{Message: fmt.Sprintf("Invalid value for '%s': %s is out of range.", param, v.Raw), Param: param}
	}
	return int(v.Num), nil
}

func decodeStop(v gjson.Result) ([]string, error) {
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
				err = typeErr("stop["+strconv.Itoa(i)+"]", "a string", s)
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
	return nil, typeErr("stop", "a string or an array of strings", v)
}

func decodeEffort(v gjson.Result) (*translate.Reasoning, error) {
	if v.Type != gjson.String {
		return nil, typeErr("reasoning_effort", "a string", v)
	}
	switch v.Str {
	case "none":
		return &translate.Reasoning{Off: true}, nil
	case "minimal", "low", "medium", "high":
		return &translate.Reasoning{Effort: v.Str}, nil
	case "xhigh":
		return &translate.Reasoning{Effort: "high"}, nil
	}
	return nil, &translate.RequestError{
		Message: fmt.Sprintf("Invalid value for 'reasoning_effort': %q. Supported values are: 'none', 'minimal', 'low', 'medium' and 'high'.", v.Str),
		Param:   "reasoning_effort",
	}
}

func decodeResponseFormat(v gjson.Result) (*translate.ResponseFormat, error) {
	if !v.IsObject() {
		return nil, typeErr("response_format", "an object", v)
	}
	t := v.Get("type")
	if t.Type != gjson.String {
		return nil, typeErr("response_format.type", "a string", t)
	}
	switch t.Str {
	case "text", "json_object":
		return &translate.ResponseFormat{Type: t.Str}, nil
	case "json_schema":
		js := v.Get("json_schema")
		if !js.IsObject() {
			return nil, typeErr("response_format.json_schema", "an object", js)
		}
		rf := &translate.ResponseFormat{Type: "json_schema"}
		if n := js.Get("name"); n.Exists() && n.Type != gjson.Null {
			if n.Type != gjson.String {
				return nil, typeErr("response_format.json_schema.name", "a string", n)
			}
			rf.Name = n.Str
		}
		if s := js.Get("schema"); s.Exists() && s.Type != gjson.Null {
			if !s.IsObject() {
				return nil, typeErr("response_format.json_schema.schema", "an object", s)
			}
			rf.Schema = json.RawMessage(s.Raw)
		}
		if s := js.Get("strict"); s.Exists() && s.Type != gjson.Null {
			if !s.IsBool() {
				return nil, typeErr("response_format.json_schema.strict", "a boolean", s)
			}
			rf.Strict = s.Bool()
		}
		return rf, nil
	}
	return nil, &translate.RequestError{
		Message: fmt.Sprintf("Invalid value for 'response_format.type': %q. Supported values are: 'text', 'json_object' and 'json_schema'.", t.Str),
		Param:   "response_format.type",
	}
}

func decodeTools(r *translate.Request, v gjson.Result) error {
	if !v.IsArray() {
		return typeErr("tools", "an array", v)
	}
	var err error
	i := 0
	v.ForEach(func(_, t gjson.Result) bool {
		p := "tools[" + strconv.Itoa(i) + "]"
		i++
		if !t.IsObject() {
			err = typeErr(p, "an object", t)
			return false
		}
		if typ := t.Get("type"); typ.Exists() && typ.Str != "function" {
			err = &translate.RequestError{Message: fmt.Sprintf("Unsupported tool type %s: only 'function' tools are supported.", typ.Raw), Param: p + ".type"}
			return false
		}
		fn := t.Get("function")
		if !fn.IsObject() {
			err = typeErr(p+".function", "an object", fn)
			return false
		}
		name := fn.Get("name")
		if name.Type != gjson.String || name.Str == "" {
			err = typeErr(p+".function.name", "a non-empty string", name)
			return false
		}
		tool := translate.Tool{Name: name.Str}
		if d := fn.Get("description"); d.Exists() && d.Type != gjson.Null {
			if d.Type != gjson.String {
				err = typeErr(p+".function.description", "a string", d)
				return false
			}
			tool.Description = d.Str
		}
		if ps := fn.Get("parameters"); ps.Exists() && ps.Type != gjson.Null {
			if !ps.IsObject() {
				err = typeErr(p+".function.parameters", "an object", ps)
				return false
			}
			tool.Parameters = json.RawMessage(ps.Raw)
		}
		r.Tools = append(r.Tools, tool)
		return true
	})
	return err
}

func decodeToolChoice(v gjson.Result) (*translate.ToolChoice, error) {
	if v.Type == gjson.String {
		switch v.Str {
		case "auto", "none", "required":
			return &translate.ToolChoice{Mode: v.Str}, nil
		}
		return nil, &translate.RequestError{
			Message: fmt.Sprintf("Invalid value for 'tool_choice': %q. Supported values are: 'none', 'auto' and 'required'.", v.Str),
			Param:   "tool_choice",
		}
	}
	if !v.IsObject() {
		return nil, typeErr("tool_choice", "a string or an object", v)
	}
	if t := v.Get("type"); t.Str != "function" {
		return nil, &translate.RequestError{Message: fmt.Sprintf("Unsupported tool_choice type %s: only 'function' is supported.", t.Raw), Param: "tool_choice.type"}
	}
	name := v.Get("function.name")
	if name.Type != gjson.String || name.Str == "" {
		return nil, typeErr("tool_choice.function.name", "a non-empty string", name)
	}
	return &translate.ToolChoice{Mode: "tool", Name: name.Str}, nil
}

func decodeMessages(r *translate.Request, v gjson.Result) error {
	if !v.IsArray() {
		return typeErr("messages", "an array", v)
	}
	var sys []string
	var err error
	i := -1
	v.ForEach(func(_, m gjson.Result) bool {
		i++
		p := "messages[" + strconv.Itoa(i) + "]"
		if !m.IsObject() {
			err = typeErr(p, "an object", m)
			return false
		}
		role := m.Get("role")
		if role.Type != gjson.String {
			err = typeErr(p+".role", "a string", role)
			return false
		}
		content := m.Get("content")
		switch role.Str {
		case "system", "developer":
			err = textPieces(content, p+".content", func(s string) {
				if s != "" {
					sys = append(sys, s)
				}
			})
		case "user":
			var parts []translate.Part
			parts, err = userParts(content, p+".content", false)
			if err == nil {
				r.Messages = append(r.Messages, translate.Message{Role: translate.RoleUser, Parts: parts})
			}
		case "assistant":
			var msg translate.Message
			msg, err = assistantMessage(m, p)
			if err == nil {
				r.Messages = append(r.Messages, msg)
			}
		case "tool":
			id := m.Get("tool_call_id")
			if id.Type != gjson.String || id.Str == "" {
				err = typeErr(p+".tool_call_id", "a non-empty string", id)
				return false
			}
			var parts []translate.Part
			parts, err = userParts(content, p+".content", true)
			if err != nil {
				return false
			}
			res := translate.Part{Type: translate.PartToolResult, ToolCallID: id.Str, Content: parts}
			if n := len(r.Messages); n > 0 && r.Messages[n-1].Role == translate.RoleTool {
				r.Messages[n-1].Parts = append(r.Messages[n-1].Parts, res)
			} else {
				r.Messages = append(r.Messages, translate.Message{Role: translate.RoleTool, Parts: []translate.Part{res}})
			}
		case "function":
			err = &translate.RequestError{
				Message: "The legacy 'function' role is not supported: use 'tools' and messages with role 'tool'.",
				Param:   p + ".role",
			}
		default:
			err = &translate.RequestError{
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
		return &translate.RequestError{Message: "Invalid 'messages': empty array. Expected an array with minimum length 1.", Param: "messages"}
	}
	r.System = strings.Join(sys, "\n\n")
	if r.Messages == nil {
		r.Messages = []translate.Message{}
	}
	return nil
}

// textPieces calls fn with each text of a content that may only hold
// text: a string, or an array of text parts.
func textPieces(c gjson.Result, p string, fn func(string)) error {
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
				err = typeErr(pp, "an object", part)
				return false
			}
			if t := part.Get("type"); t.Str != "text" {
				err = &translate.RequestError{Message: fmt.Sprintf("Invalid content part type %s: only 'text' is supported here.", t.Raw), Param: pp + ".type"}
				return false
			}
			tx := part.Get("text")
			if tx.Type != gjson.String {
				err = typeErr(pp+".text", "a string", tx)
				return false
			}
			fn(tx.Str)
			return true
		})
		return err
	}
	return typeErr(p, "a string or an array of content parts", c)
}

// userParts reads user (or tool) content: a string or text and
// image_url parts.
func userParts(c gjson.Result, p string, tool bool) ([]translate.Part, error) {
	switch {
	case !c.Exists() || c.Type == gjson.Null:
		if tool {
			return nil, nil
		}
		return nil, &translate.RequestError{Message: fmt.Sprintf("Missing required parameter: '%s'.", p), Param: p}
	case c.Type == gjson.String:
		if tool && c.Str == "" {
			return nil, nil
		}
		return []translate.Part{{Type: translate.PartText, Text: c.Str}}, nil
	case !c.IsArray():
		return nil, typeErr(p, "a string or an array of content parts", c)
	}
	parts := []translate.Part{}
	var err error
	j := 0
	c.ForEach(func(_, part gjson.Result) bool {
		pp := p + "[" + strconv.Itoa(j) + "]"
		j++
		if !part.IsObject() {
			err = typeErr(pp, "an object", part)
			return false
		}
		t := part.Get("type")
		if t.Type != gjson.String {
			err = typeErr(pp+".type", "a string", t)
			return false
		}
		switch t.Str {
		case "text":
			tx := part.Get("text")
			if tx.Type != gjson.String {
				err = typeErr(pp+".text", "a string", tx)
				return false
			}
			if tx.Str != "" {
				parts = append(parts, translate.Part{Type: translate.PartText, Text: tx.Str})
			}
		case "image_url":
			iu := part.Get("image_url")
			u := iu.Get("url")
			if iu.Type == gjson.String { // lenient: "image_url": "https://..."
				u = iu
			}
			if u.Type != gjson.String {
				err = typeErr(pp+".image_url.url", "a string", u)
				return false
			}
			var img translate.Part
			img, err = imageFromURL(u.Str, pp+".image_url.url")
			if err != nil {
				return false
			}
			parts = append(parts, img)
		default:
			err = &translate.RequestError{
				Message: fmt.Sprintf("Unsupported content part type %q: this proxy accepts 'text' and 'image_url' parts.", t.Str),
				Param:   pp + ".type",
			}
			return false
		}
		return true
	})
	return parts, err
}

// imageFromURL makes an image part of a data URL or an http(s) URL.
func imageFromURL(u, p string) (translate.Part, error) {
	if len(u) >= 5 && strings.EqualFold(u[:5], "data:") {
		meta, data, ok := strings.Cut(u[5:], ",")
		mt, isB64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isB64 || data == "" {
			return translate.Part{}, &translate.RequestError{Message: "Invalid image data URL: expected data:<media type>;base64,<data>.", Param: p}
		}
		if k := strings.IndexByte(mt, ';'); k >= 0 {
			mt = mt[:k]
		}
		return translate.Part{Type: translate.PartImage, MediaType: mt, Data: data}, nil
	}
	if hasPrefixFold(u, "https://") || hasPrefixFold(u, "http://") {
		return translate.Part{Type: translate.PartImage, URL: u}, nil
	}
	return translate.Part{}, &translate.RequestError{Message: "Invalid image URL: expected an http(s) URL or a base64 data URL.", Param: p}
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func assistantMessage(m gjson.Result, p string) (translate.Message, error) {
	msg := translate.Message{Role: translate.RoleAssistant, Parts: []translate.Part{}}
	for _, key := range [...]string{"reasoning_content", "reasoning"} {
		if rc := m.Get(key); rc.Type == gjson.String {
			if rc.Str != "" {
				msg.Parts = append(msg.Parts, translate.Part{Type: translate.PartThinking, Text: rc.Str})
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
			msg.Parts = append(msg.Parts, translate.Part{Type: translate.PartText, Text: c.Str})
		}
	case c.IsArray():
		var err error
		j := 0
		c.ForEach(func(_, part gjson.Result) bool {
			pp := p + ".content[" + strconv.Itoa(j) + "]"
			j++
			if !part.IsObject() {
				err = typeErr(pp, "an object", part)
				return false
			}
			key := ""
			switch t := part.Get("type").Str; t {
			case "text":
				key = "text"
			case "refusal":
				key = "refusal"
			default:
				err = &translate.RequestError{Message: fmt.Sprintf("Unsupported assistant content part type %q: expected 'text' or 'refusal'.", t), Param: pp + ".type"}
				return false
			}
			tx := part.Get(key)
			if tx.Type != gjson.String {
				err = typeErr(pp+"."+key, "a string", tx)
				return false
			}
			if tx.Str != "" {
				msg.Parts = append(msg.Parts, translate.Part{Type: translate.PartText, Text: tx.Str})
			}
			return true
		})
		if err != nil {
			return msg, err
		}
	default:
		return msg, typeErr(p+".content", "a string, an array of content parts or null", c)
	}
	if len(msg.Parts) == nText {
		if rf := m.Get("refusal"); rf.Type == gjson.String && rf.Str != "" {
			msg.Parts = append(msg.Parts, translate.Part{Type: translate.PartText, Text: rf.Str})
		}
	}
	if fc := m.Get("function_call"); fc.Exists() && fc.Type != gjson.Null {
		return msg, &translate.RequestError{Message: "The legacy 'function_call' field is not supported: use 'tool_calls'.", Param: p + ".function_call"}
	}
	tcs := m.Get("tool_calls")
	if !tcs.Exists() || tcs.Type == gjson.Null {
		return msg, nil
	}
	if !tcs.IsArray() {
		return msg, typeErr(p+".tool_calls", "an array", tcs)
	}
	var err error
	j := 0
	tcs.ForEach(func(_, tc gjson.Result) bool {
		pp := p + ".tool_calls[" + strconv.Itoa(j) + "]"
		j++
		if !tc.IsObject() {
			err = typeErr(pp, "an object", tc)
			return false
		}
		if t := tc.Get("type"); t.Exists() && t.Str != "function" {
			err = &translate.RequestError{Message: fmt.Sprintf("Unsupported tool call type %s: only 'function' is supported.", t.Raw), Param: pp + ".type"}
			return false
		}
		id := tc.Get("id")
		if id.Type != gjson.String || id.Str == "" {
			err = typeErr(pp+".id", "a non-empty string", id)
			return false
		}
		name := tc.Get("function.name")
		if name.Type != gjson.String || name.Str == "" {
			err = typeErr(pp+".function.name", "a non-empty string", name)
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
			err = typeErr(pp+".function.arguments", "a string", a)
			return false
		}
		msg.Parts = append(msg.Parts, translate.Part{Type: translate.PartToolCall, ToolCallID: id.Str, ToolName: name.Str, Arguments: args})
		return true
	})
	return msg, err
}
