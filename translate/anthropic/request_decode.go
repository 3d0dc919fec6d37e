package anthropic

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// DecodeRequest reads a Messages API request body.
func DecodeRequest(body []byte) (*translate.Request, error) {
	return decodeRequest(body, true)
}

// DecodeCountTokens reads a /v1/messages/count_tokens body: a
// Messages request without max_tokens.
func DecodeCountTokens(body []byte) (*translate.Request, error) {
	return decodeRequest(body, false)
}

func fieldErr(param, format string, args ...any) *translate.RequestError {
	return &translate.RequestError{Message: param + ": " + fmt.Sprintf(format, args...), Param: param}
}

func decodeRequest(body []byte, messagesAPI bool) (*translate.Request, error) {
	if !gjson.ValidBytes(body) {
		return nil, &translate.RequestError{Message: "There was an error parsing the body: the body is not valid JSON"}
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, &translate.RequestError{Message: "The request body must be a JSON object"}
	}
	var model, maxTok, system, messages, tools, toolChoice, temp, topP, topK,
		stop, stream, thinking, metadata, outFormat, outConfig gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			model = v
		case "max_tokens":
			maxTok = v
		case "system":
			system = v
		case "messages":
			messages = v
		case "tools":
			tools = v
		case "tool_choice":
			toolChoice = v
		case "temperature":
			temp = v
		case "top_p":
			topP = v
		case "top_k":
			topK = v
		case "stop_sequences":
			stop = v
		case "stream":
			stream = v
		case "thinking":
			thinking = v
		case "metadata":
			metadata = v
		case "output_format":
			outFormat = v
		case "output_config":
			outConfig = v
		}
		return true
	})

	r := &translate.Request{}
	if !model.Exists() {
		return nil, fieldErr("model", "Field required")
	}
	if model.Type != gjson.String {
		return nil, fieldErr("model", "Input should be a valid string")
	}
	r.Model = model.Str

	if maxTok.Exists() && maxTok.Type != gjson.Null {
		n, ok := integer(maxTok)
		if !ok {
			return nil, fieldErr("max_tokens", "Input should be a valid integer")
		}
		if n < 1 {
			return nil, fieldErr("max_tokens", "Input should be greater than or equal to 1")
		}
		r.MaxTokens = int(min(n, math.MaxInt32))
	} else if messagesAPI {
		return nil, fieldErr("max_tokens", "Field required")
	}

	var err error
	if r.System, err = decodeSystem(system); err != nil {
		return nil, err
	}
	var turnEffort string
	if r.Messages, turnEffort, err = decodeMessages(r, messages); err != nil {
		return nil, err
	}
	if r.Tools, err = decodeTools(r, tools); err != nil {
		return nil, err
	}
	if toolChoice.Exists() && toolChoice.Type != gjson.Null {
		if err := decodeToolChoice(r, toolChoice); err != nil {
			return nil, err
		}
	}
	if r.Temperature, err = number(temp, "temperature"); err != nil {
		return nil, err
	}
	if r.TopP, err = number(topP, "top_p"); err != nil {
		return nil, err
	}
	if topK.Exists() && topK.Type != gjson.Null {
		n, ok := integer(topK)
		if !ok || n < 0 {
			return nil, fieldErr("top_k", "Input should be a valid non-negative integer")
		}
		k := int(min(n, math.MaxInt32))
		r.TopK = &k
	}
	if stop.Exists() && stop.Type != gjson.Null {
		if !stop.IsArray() {
			return nil, fieldErr("stop_sequences", "Input should be a valid list")
		}
		for _, s := range stop.Array() {
			if s.Type != gjson.String {
				return nil, fieldErr("stop_sequences", "Input should be a list of strings")
			}
			r.Stop = append(r.Stop, s.Str)
		}
	}
	if stream.Exists() && stream.Type != gjson.Null {
		if !stream.IsBool() {
			return nil, fieldErr("stream", "Input should be a valid boolean")
		}
		r.Stream = stream.Bool()
	}
	if thinking.Exists() && thinking.Type != gjson.Null {
		if r.Reasoning, err = decodeThinking(thinking, outConfig); err != nil {
			return nil, err
		}
	} else if e := effortLevel(outConfig.Get("effort").Str); e != "" {
		// Effort without thinking settings (Claude 4.6 and later think
		// adaptively by default): how hard to think.
		r.Reasoning = &translate.Reasoning{Effort: e}
	}
	// A mid-conversation effort change (an effort-only system message)
	// sets the effort from there on.
	if turnEffort != "" && (r.Reasoning == nil || !r.Reasoning.Off) {
		r.Reasoning = &translate.Reasoning{Effort: turnEffort}
	}
	if metadata.IsObject() {
		if u := metadata.Get("user_id"); u.Type == gjson.String {
			r.User = u.Str
		}
	}
	// Structured outputs (output_format, or output_config.format).
	f := outFormat
	if !f.IsObject() {
		f = outConfig.Get("format")
	}
	if f.IsObject() && f.Get("type").Str == "json_schema" {
		r.ResponseFormat = &translate.ResponseFormat{Type: "json_schema"}
		if s := f.Get("schema"); s.IsObject() {
			r.ResponseFormat.Schema = []byte(s.Raw)
		}
	}
	// NameTools also names each tool result after the call it answers.
	translate.NameTools(r)
	return r, nil
}

// effortLevel is the canonical effort of an output_config.effort ("" for
// none or unknown).
func effortLevel(e string) string {
	switch e {
	case "low", "medium", "high":
		return e
	case "xhigh", "max":
		return "high"
	}
	return ""
}

// integer reads an integer (a JSON number without a fractional part).
func integer(v gjson.Result) (int64, bool) {
	if v.Type != gjson.Number || math.IsNaN(v.Num) || math.IsInf(v.Num, 0) || v.Num != math.Trunc(v.Num) {
		return 0, false
	}
	if v.Num > math.MaxInt64/2 || v.Num < math.MinInt64/2 {
		return 0, false
	}
	return int64(v.Num), true
}

func number(v gjson.Result, param string) (*float64, error) {
	if !v.Exists() || v.Type == gjson.Null {
		return nil, nil
	}
	if v.Type != gjson.Number {
		return nil, fieldErr(param, "Input should be a valid number")
	}
	f := v.Num
	return &f, nil
}

func decodeSystem(v gjson.Result) (string, error) {
	switch {
	case !v.Exists() || v.Type == gjson.Null:
		return "", nil
	case v.Type == gjson.String:
		return v.Str, nil
	case v.IsArray():
		var b strings.Builder
		var err error
		i := 0
		v.ForEach(func(_, blk gjson.Result) bool {
			if blk.Get("type").Str != "text" {
				err = fieldErr("system."+strconv.Itoa(i), "system blocks must be text blocks")
				return false
			}
			t := blk.Get("text")
			if t.Type != gjson.String {
				err = fieldErr("system."+strconv.Itoa(i)+".text", "Input should be a valid string")
				return false
			}
			if t.Str != "" {
				if b.Len() > 0 {
					b.WriteString("\n\n")
				}
				b.WriteString(t.Str)
			}
			i++
			return true
		})
		return b.String(), err
	}
	return "", fieldErr("system", "Input should be a valid string or a list of text blocks")
}

// decodeMessages reads the conversation. Besides user and assistant
// messages it takes mid-conversation system messages (role "system", and
// mid_conv_system content blocks), which become RoleSystem messages in
// place; effort is the last effort such a message sets ("" for none).
func decodeMessages(r *translate.Request, v gjson.Result) (out []translate.Message, effort string, err error) {
	if !v.Exists() {
		return nil, "", fieldErr("messages", "Field required")
	}
	if !v.IsArray() {
		return nil, "", fieldErr("messages", "Input should be a valid list")
	}
	list := v.Array()
	// lastUser is the index of the last user message: a system message
	// before it with clear_at "next_user_message" is already cleared.
	lastUser := -1
	for i, m := range list {
		if m.Get("role").Str == "user" {
			lastUser = i
		}
	}
	for i, m := range list {
		param := "messages." + strconv.Itoa(i)
		if m.IsObject() && m.Get("role").Str == "system" {
			var e string
			if out, e, err = decodeSystemMessage(r, out, m, param, i < lastUser); err != nil {
				return nil, "", err
			}
			if e != "" {
				effort = e
			}
			continue
		}
		if out, err = decodeMessage(r, out, m, i); err != nil {
			return nil, "", err
		}
	}
	if len(list) == 0 {
		return nil, "", fieldErr("messages", "at least one message is required")
	}
	for _, m := range out {
		if m.Role != translate.RoleSystem {
			return out, effort, nil
		}
	}
	return nil, "", fieldErr("messages", "at least one user or assistant message is required")
}

// decodeSystemMessage reads a mid-conversation system message: its text
// (a string or text blocks; cache_control is the API's business) becomes
// a RoleSystem message, its output_config.effort the effort from there on.
// One cleared before the last user message (clear_at
// "next_user_message") no longer applies; blocks other than text (tool
// changes) mean nothing to other providers and are recorded as dropped.
func decodeSystemMessage(r *translate.Request, out []translate.Message, m gjson.Result, param string, userFollows bool) ([]translate.Message, string, error) {
	effort := ""
	if oc := m.Get("output_config"); oc.IsObject() {
		effort = effortLevel(oc.Get("effort").Str)
	}
	if userFollows && m.Get("clear_at").Str == "next_user_message" {
		return out, effort, nil
	}
	var parts []translate.Part
	content := m.Get("content")
	switch {
	case !content.Exists() || content.Type == gjson.Null:
	case content.Type == gjson.String:
		parts = append(parts, translate.Part{Type: translate.PartText, Text: content.Str})
	case content.IsArray():
		j := 0
		var err error
		content.ForEach(func(_, b gjson.Result) bool {
			bp := param + ".content." + strconv.Itoa(j)
			j++
			if b.Get("type").Str != "text" {
				r.Dropped = append(r.Dropped, bp+": "+strconv.Quote(b.Get("type").String())+" block of a system message")
				return true
			}
			t := b.Get("text")
			if t.Type != gjson.String {
				err = fieldErr(bp+".text", "Input should be a valid string")
				return false
			}
			parts = append(parts, translate.Part{Type: translate.PartText, Text: t.Str})
			return true
		})
		if err != nil {
			return out, "", err
		}
	default:
		return out, "", fieldErr(param+".content", "Input should be a valid string or list")
	}
	if len(parts) == 0 {
		return out, effort, nil
	}
	return append(out, translate.Message{Role: translate.RoleSystem, Parts: parts}), effort, nil
}

func decodeMessage(r *translate.Request, out []translate.Message, m gjson.Result, i int) ([]translate.Message, error) {
	param := "messages." + strconv.Itoa(i)
	if !m.IsObject() {
		return out, fieldErr(param, "Input should be a valid dictionary")
	}
	var role translate.Role
	switch rv := m.Get("role"); {
	case !rv.Exists():
		return out, fieldErr(param+".role", "Field required")
	case rv.Type == gjson.String && rv.Str == "user":
		role = translate.RoleUser
	case rv.Type == gjson.String && rv.Str == "assistant":
		role = translate.RoleAssistant
	default:
		return out, fieldErr(param+".role", "Input should be 'user', 'assistant' or 'system'")
	}
	content := m.Get("content")
	switch {
	case !content.Exists():
		return out, fieldErr(param+".content", "Field required")
	case content.Type == gjson.String:
		return append(out, translate.Message{Role: role, Parts: []translate.Part{{Type: translate.PartText, Text: content.Str}}}), nil
	case !content.IsArray():
		return out, fieldErr(param+".content", "Input should be a valid string or list")
	}
	var parts, results []translate.Part
	var system []translate.Message // mid_conv_system blocks, which follow the message
	var err error
	j := 0
	content.ForEach(func(_, b gjson.Result) bool {
		bp := param + ".content." + strconv.Itoa(j)
		j++
		if !b.IsObject() {
			err = fieldErr(bp, "Input should be a valid dictionary")
			return false
		}
		typ := b.Get("type")
		if typ.Type != gjson.String {
			err = fieldErr(bp+".type", "Field required")
			return false
		}
		switch typ.Str {
		case "text":
			t := b.Get("text")
			if t.Type != gjson.String {
				err = fieldErr(bp+".text", "Input should be a valid string")
				return false
			}
			parts = append(parts, translate.Part{Type: translate.PartText, Text: t.Str})
		case "image":
			var p translate.Part
			if p, err = decodeImage(b, bp); err != nil {
				return false
			}
			parts = append(parts, p)
		case "tool_use":
			if role != translate.RoleAssistant {
				err = fieldErr(bp, "tool_use blocks are only allowed in assistant messages")
				return false
			}
			id, name := b.Get("id"), b.Get("name")
			if id.Type != gjson.String || name.Type != gjson.String {
				err = fieldErr(bp, "tool_use blocks need a string id and name")
				return false
			}
			args := "{}"
			if in := b.Get("input"); in.Exists() && in.Type != gjson.Null {
				if !in.IsObject() {
					err = fieldErr(bp+".input", "Input should be a valid dictionary")
					return false
				}
				args = in.Raw
			}
			parts = append(parts, translate.Part{Type: translate.PartToolCall, ToolCallID: id.Str, ToolName: name.Str, Arguments: args})
		case "tool_result":
			if role != translate.RoleUser {
				err = fieldErr(bp, "tool_result blocks are only allowed in user messages")
				return false
			}
			var p translate.Part
			if p, err = decodeToolResult(b, bp); err != nil {
				return false
			}
			results = append(results, p)
		case "thinking":
			// Thinking only belongs to assistant turns; elsewhere it is dropped.
			if role == translate.RoleAssistant {
				p := translate.Part{Type: translate.PartThinking, Text: b.Get("thinking").String()}
				p.SignatureFormat, p.Signature = readSignature(b.Get("signature").String())
				parts = append(parts, p)
			}
		case "redacted_thinking":
			if role == translate.RoleAssistant {
				parts = append(parts, translate.Part{Type: translate.PartThinking, Redacted: true, Data: b.Get("data").String(), SignatureFormat: Name})
			}
		case "mid_conv_system":
			system, _, err = decodeSystemMessage(r, system, b, bp, false)
			return err == nil
		default:
			err = fieldErr(bp+".type", "content block type %q is not supported by this proxy", typ.Str)
			return false
		}
		return true
	})
	if err != nil {
		return out, err
	}
	if len(results) > 0 {
		out = append(out, translate.Message{Role: translate.RoleTool, Parts: results})
		if len(parts) > 0 {
			out = append(out, translate.Message{Role: translate.RoleUser, Parts: parts})
		}
		return append(out, system...), nil
	}
	if parts == nil {
		parts = []translate.Part{}
	}
	if len(parts) == 0 && len(system) > 0 {
		return append(out, system...), nil
	}
	out = append(out, translate.Message{Role: role, Parts: parts})
	return append(out, system...), nil
}

func decodeImage(b gjson.Result, param string) (translate.Part, error) {
	src := b.Get("source")
	if !src.IsObject() {
		return translate.Part{}, fieldErr(param+".source", "Field required")
	}
	switch src.Get("type").Str {
	case "base64":
		mt, data := src.Get("media_type"), src.Get("data")
		if mt.Type != gjson.String || data.Type != gjson.String {
			return translate.Part{}, fieldErr(param+".source", "base64 sources need media_type and data strings")
		}
		return translate.Part{Type: translate.PartImage, MediaType: mt.Str, Data: data.Str}, nil
	case "url":
		u := src.Get("url")
		if u.Type != gjson.String {
			return translate.Part{}, fieldErr(param+".source.url", "Field required")
		}
		return translate.Part{Type: translate.PartImage, URL: u.Str}, nil
	}
	return translate.Part{}, fieldErr(param+".source.type", "image source type %q is not supported by this proxy", src.Get("type").String())
}

func decodeToolResult(b gjson.Result, param string) (translate.Part, error) {
	id := b.Get("tool_use_id")
	if id.Type != gjson.String {
		return translate.Part{}, fieldErr(param+".tool_use_id", "Field required")
	}
	p := translate.Part{Type: translate.PartToolResult, ToolCallID: id.Str, IsError: b.Get("is_error").Bool()}
	c := b.Get("content")
	switch {
	case !c.Exists() || c.Type == gjson.Null:
	case c.Type == gjson.String:
		if c.Str != "" {
			p.Content = []translate.Part{{Type: translate.PartText, Text: c.Str}}
		}
	case c.IsArray():
		var err error
		k := 0
		c.ForEach(func(_, cb gjson.Result) bool {
			cp := param + ".content." + strconv.Itoa(k)
			k++
			switch cb.Get("type").Str {
			case "text":
				t := cb.Get("text")
				if t.Type != gjson.String {
					err = fieldErr(cp+".text", "Input should be a valid string")
					return false
				}
				p.Content = append(p.Content, translate.Part{Type: translate.PartText, Text: t.Str})
			case "image":
				var ip translate.Part
				if ip, err = decodeImage(cb, cp); err != nil {
					return false
				}
				p.Content = append(p.Content, ip)
			case "tool_reference":
				// A tool search result naming a deferred tool (advanced tool
				// use): other providers get every tool up front.
				p.Content = append(p.Content, translate.Part{Type: translate.PartText, Text: "Tool available: " + cb.Get("tool_name").String()})
			default:
				err = fieldErr(cp+".type", "tool_result content type %q is not supported by this proxy", cb.Get("type").String())
				return false
			}
			return true
		})
		if err != nil {
			return translate.Part{}, err
		}
	default:
		return translate.Part{}, fieldErr(param+".content", "Input should be a valid string or list")
	}
	return p, nil
}

// decodeTools reads the tool definitions. Server tools (web_search,
// code_execution, tool search...) run at Anthropic only: they are dropped
// and recorded. defer_loading tools are sent to other providers like the
// others (none loads tools later), so a tool search result that names one
// finds it there; cache_control and strict are the API's business.
func decodeTools(r *translate.Request, v gjson.Result) ([]translate.Tool, error) {
	if !v.Exists() || v.Type == gjson.Null {
		return nil, nil
	}
	if !v.IsArray() {
		return nil, fieldErr("tools", "Input should be a valid list")
	}
	var out []translate.Tool
	var err error
	i := 0
	v.ForEach(func(_, t gjson.Result) bool {
		param := "tools." + strconv.Itoa(i)
		i++
		if !t.IsObject() {
			err = fieldErr(param, "Input should be a valid dictionary")
			return false
		}
		if typ := t.Get("type"); typ.Exists() && typ.Type != gjson.Null && typ.Str != "custom" {
			r.Dropped = append(r.Dropped, param+": server tool "+strconv.Quote(typ.String())+" (runs at Anthropic only)")
			return true
		}
		name := t.Get("name")
		if name.Type != gjson.String || name.Str == "" {
			err = fieldErr(param+".name", "Field required")
			return false
		}
		tool := translate.Tool{Name: name.Str, Description: t.Get("description").String()}
		if s := t.Get("input_schema"); s.Exists() && s.Type != gjson.Null {
			if !s.IsObject() {
				err = fieldErr(param+".input_schema", "Input should be a valid dictionary")
				return false
			}
			tool.Parameters = []byte(s.Raw)
		}
		out = append(out, tool)
		return true
	})
	return out, err
}

func decodeToolChoice(r *translate.Request, v gjson.Result) error {
	if !v.IsObject() {
		return fieldErr("tool_choice", "Input should be a valid dictionary")
	}
	switch typ := v.Get("type").String(); typ {
	case "auto":
		r.ToolChoice = &translate.ToolChoice{Mode: "auto"}
	case "any":
		r.ToolChoice = &translate.ToolChoice{Mode: "required"}
	case "none":
		r.ToolChoice = &translate.ToolChoice{Mode: "none"}
	case "tool":
		name := v.Get("name")
		if name.Type != gjson.String || name.Str == "" {
			return fieldErr("tool_choice.name", "Field required")
		}
		r.ToolChoice = &translate.ToolChoice{Mode: "tool", Name: name.Str}
	default:
		return fieldErr("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
	}
	if v.Get("disable_parallel_tool_use").Bool() {
		f := false
		r.ParallelToolCalls = &f
	}
	return nil
}

func decodeThinking(v, outConfig gjson.Result) (*translate.Reasoning, error) {
	if !v.IsObject() {
		return nil, fieldErr("thinking", "Input should be a valid dictionary")
	}
	switch v.Get("type").String() {
	case "enabled":
		n, ok := integer(v.Get("budget_tokens"))
		if !ok || n < 1 {
			return nil, fieldErr("thinking.budget_tokens", "Input should be a valid positive integer")
		}
		return &translate.Reasoning{Budget: int(min(n, math.MaxInt32))}, nil
	case "disabled":
		return &translate.Reasoning{Off: true}, nil
	case "adaptive":
		if e := effortLevel(outConfig.Get("effort").Str); e != "" {
			return &translate.Reasoning{Effort: e}, nil
		}
		return &translate.Reasoning{Effort: "medium"}, nil
	}
	return nil, fieldErr("thinking.type", "Input should be 'enabled', 'disabled' or 'adaptive'")
}
