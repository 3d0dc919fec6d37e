package chat

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// EncodeRequest writes a Chat Completions request body for an
// OpenAI-compatible provider.
func EncodeRequest(r *translate.Request) ([]byte, error) {
	if r.Model == "" {
		return nil, fmt.Errorf("chat: request has no model")
	}
	b := make([]byte, 0, 512)
	b = append(b, `{"model":`...)
	b = translate.AppendJSONString(b, r.Model)
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
		b = translate.AppendJSONString(b, r.System)
		b = append(b, '}')
	}
	for mi := range r.Messages {
		m := &r.Messages[mi]
		switch m.Role {
		case translate.RoleAssistant:
			sep()
			b = appendAssistant(b, m)
		case translate.RoleSystem:
			// Instructions given partway through: a system message in place.
			if text := joinText(m.Parts, "\n\n"); strings.TrimSpace(text) != "" {
				sep()
				b = append(b, `{"role":"system","content":`...)
				b = translate.AppendJSONString(b, text)
				b = append(b, '}')
			}
		default: // user and tool: tool results become tool messages, the rest one user message
			var images []translate.Part
			for pi := range m.Parts {
				p := &m.Parts[pi]
				if p.Type != translate.PartToolResult {
					continue
				}
				sep()
				b = append(b, `{"role":"tool","tool_call_id":`...)
				b = translate.AppendJSONString(b, wireToolID(p.ToolCallID))
				b = append(b, `,"content":`...)
				b = translate.AppendJSONString(b, joinText(p.Content, "\n"))
				b = append(b, '}')
				for _, c := range p.Content {
					if c.Type == translate.PartImage {
						images = append(images, c)
					}
				}
			}
			var user []translate.Part
			for pi := range m.Parts {
				switch m.Parts[pi].Type {
				case translate.PartText, translate.PartImage:
					user = append(user, m.Parts[pi])
				}
			}
			if len(images) > 0 || len(user) > 0 || (m.Role == translate.RoleUser && !hasToolResults(m.Parts)) {
				sep()
				b = appendUser(b, append(images, user...))
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
			b = translate.AppendJSONString(b, t.Name)
			if t.Description != "" {
				b = append(b, `,"description":`...)
				b = translate.AppendJSONString(b, t.Description)
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
				b = translate.AppendJSONString(b, tc.Mode)
			case "tool":
				b = append(b, `{"type":"function","function":{"name":`...)
				b = translate.AppendJSONString(b, tc.Name)
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
		if reasoning || reasoningModel(r.Model) {
			b = append(b, `,"max_completion_tokens":`...)
		} else {
			b = append(b, `,"max_tokens":`...)
		}
		b = strconv.AppendInt(b, int64(r.MaxTokens), 10)
	}
	// OpenAI's reasoning models reject sampling parameters and stop
	// sequences ("Unsupported parameter"): they are left out for them.
	sampling := !reasoningModel(r.Model) || strings.HasPrefix(r.Model, "gpt-5-chat")
	if r.Temperature != nil && sampling {
		b = append(b, `,"temperature":`...)
		b = translate.AppendFloat(b, *r.Temperature)
	}
	if r.TopP != nil && sampling {
		b = append(b, `,"top_p":`...)
		b = translate.AppendFloat(b, *r.TopP)
	}
	if len(r.Stop) > 0 && sampling {
		b = append(b, `,"stop":[`...)
		for i, s := range r.Stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = translate.AppendJSONString(b, s)
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
			b = translate.AppendJSONString(b, name)
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
		b = translate.AppendJSONString(b, r.Reasoning.EffortLevel())
	}
	if r.Stream {
		// Usage is always asked for: the proxy needs it for accounting.
		b = append(b, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	if r.User != "" {
		// OpenAI refuses a user over 64 characters (Claude Code's
		// metadata.user_id is a 150-byte JSON object).
		b = append(b, `,"user":`...)
		b = translate.AppendJSONString(b, translate.FitUserID(r.User, maxUser))
	}
	return append(b, '}'), nil
}

// reasoningModel reports OpenAI's reasoning model families, which take
// max_completion_tokens rather than max_tokens.
func reasoningModel(model string) bool {
	return strings.HasPrefix(model, "o1") || strings.HasPrefix(model, "o3") ||
		strings.HasPrefix(model, "o4") || strings.HasPrefix(model, "gpt-5")
}

func hasToolResults(parts []translate.Part) bool {
	for i := range parts {
		if parts[i].Type == translate.PartToolResult {
			return true
		}
	}
	return false
}

func joinText(parts []translate.Part, sep string) string {
	n := 0
	var only string
	for i := range parts {
		if parts[i].Type == translate.PartText {
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
		if parts[i].Type == translate.PartText {
			if k > 0 {
				sb.WriteString(sep)
			}
			sb.WriteString(parts[i].Text)
			k++
		}
	}
	return sb.String()
}

func appendUser(b []byte, parts []translate.Part) []byte {
	b = append(b, `{"role":"user","content":`...)
	if len(parts) == 1 && parts[0].Type == translate.PartText {
		b = translate.AppendJSONString(b, parts[0].Text)
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
		if p.Type == translate.PartImage {
			b = append(b, `{"type":"image_url","image_url":{"url":`...)
			b = translate.AppendJSONString(b, imageURL(p))
			b = append(b, `}}`...)
		} else {
			b = append(b, `{"type":"text","text":`...)
			b = translate.AppendJSONString(b, p.Text)
			b = append(b, '}')
		}
	}
	return append(b, `]}`...)
}

// imageURL is the URL of an image part: its http URL, else a data URL.
func imageURL(p *translate.Part) string {
	if p.Data == "" && p.URL != "" {
		return p.URL
	}
	mt := p.MediaType
	if mt == "" {
		mt = "image/png"
	}
	return "data:" + mt + ";base64," + p.Data
}

func appendAssistant(b []byte, m *translate.Message) []byte {
	b = append(b, `{"role":"assistant","content":`...)
	text, calls := 0, 0
	for i := range m.Parts {
		switch m.Parts[i].Type {
		case translate.PartText:
			text++
		case translate.PartToolCall:
			calls++
		}
	}
	switch {
	case text > 0:
		// Text blocks are concatenated as a streamed answer would be.
		b = translate.AppendJSONString(b, joinText(m.Parts, ""))
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
			if p.Type != translate.PartToolCall {
				continue
			}
			if k > 0 {
				b = append(b, ',')
			}
			k++
			b = append(b, `{"id":`...)
			b = translate.AppendJSONString(b, wireToolID(p.ToolCallID))
			b = append(b, `,"type":"function","function":{"name":`...)
			b = translate.AppendJSONString(b, p.ToolName)
			b = append(b, `,"arguments":`...)
			args := p.Arguments
			if strings.TrimSpace(args) == "" {
				args = "{}"
			}
			b = translate.AppendJSONString(b, args)
			b = append(b, `}}`...)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// maxUser is the longest user OpenAI takes.
const maxUser = 64

// maxToolIDLen is OpenAI's limit on tool call ids in requests
// ("string_above_max_length").
const maxToolIDLen = 40

// wireToolID is id as sent upstream: kept when it fits, else replaced by
// a stable shorter id (the same for the call and its result).
func wireToolID(id string) string {
	if len(id) <= maxToolIDLen {
		return id
	}
	return translate.MakeToolCallID("call_", id, 0)
}
