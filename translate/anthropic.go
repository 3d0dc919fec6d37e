package translate

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// The Anthropic Messages API codec (POST /v1/messages and
// /v1/messages/count_tokens).
//
// Mapping decisions where the APIs differ:
//
//   - Inbound, server tools (tools with a `type` other than "custom", such
//     as web_search_*, bash_*, text_editor_*, code_execution_*) and content
//     blocks other than text, image, tool_use, tool_result, thinking and
//     redacted_thinking (document, search_result, server_tool_use, ...) are
//     rejected with a 400: they cannot be translated, and dropping them
//     silently would change what the model is asked. cache_control,
//     citations, container, mcp_servers, service_tier and
//     context_management are dropped. A system given as an array of text
//     blocks is joined with blank lines.
//   - Inbound, a user message holding tool_result blocks becomes a tool
//     message (the results) followed by a user message (its other blocks).
//   - Inbound, thinking {type: adaptive} becomes effort "medium" (or
//     output_config.effort when given); {type: disabled} turns reasoning off.
//   - Outbound, messages strictly alternate user/assistant: tool results
//     open the next user message, consecutive messages of the same role are
//     merged, empty and whitespace-only text blocks are dropped, trailing
//     whitespace of a final (prefill) assistant message is trimmed, and a
//     conversation that does not start with a user message gets a first user
//     message "(conversation continues)".
//   - Outbound, tool-call ids that do not match ^[a-zA-Z0-9_-]+$ are
//     sanitized deterministically (invalid characters become '_' and a hash
//     of the original id is appended), the same way for calls and results;
//     an id used again later in the conversation (servers that number calls
//     per turn, "call_0") gets a suffix "_2", "_3"... with its results.
//     A tool result that answers no call of the assistant message before it
//     is sent as a user text block ("Result of tool call ..."); a call left
//     without a result gets an is_error tool_result saying no result was
//     recorded, since the API rejects both.
//   - Outbound, max_tokens is the client's, else min(family max, 8192); the
//     family maxima are claude-3-haiku/opus/sonnet 4096, claude-3-5-* 8192,
//     claude-opus-4 and claude-opus-4-1 32000, claude-3-7-* and other Claude 4+
//     models 64000 (unknown models: no cap). A max above a known family's
//     maximum is lowered to it.
//   - Outbound, reasoning becomes thinking {type: enabled, budget_tokens:
//     max(1024, budget)}; a default max_tokens gets the budget added, a
//     client's max_tokens is kept when it exceeds the budget and otherwise
//     gets the budget added (capped at the family maximum, the budget then
//     lowered below max_tokens); temperature and top_k
//     are dropped and top_p is raised to at least 0.95, as the API demands.
//     Thinking is turned off for models without extended thinking
//     (claude-3-haiku/opus/sonnet, claude-3-5-*), when tool_choice forces a
//     tool, and when the current turn (the assistant messages after the last
//     user message without tool results) does not start with a signed
//     thinking block - clients of other APIs cannot send signatures back,
//     and the API answers 400 to such a request. Thinking parts without a
//     signature (from providers without signatures) are dropped from history.
//   - Outbound, temperature is clamped to [0, 1] (OpenAI allows up to 2),
//     whitespace-only stop sequences are dropped, images in assistant
//     messages are dropped, tool_choice and disable_parallel_tool_use are
//     only sent with tools.
//   - Outbound, response_format json_object / json_schema: the Messages API
//     has no stable JSON mode, so the system prompt gets an instruction to
//     answer with only a JSON object (and the schema, when given).
//   - Responses: usage.input_tokens is the uncached part (Input - Cached),
//     cache_read_input_tokens the cached part; stop_reason "refusal" maps to
//     content_filter and back, pause_turn to end; a natural end of an answer
//     that holds tool calls is reported as tool_use.
//   - Streams: message_delta carries input_tokens and cache_read_input_tokens
//     as well as output_tokens (as the API does today), because providers
//     other than Anthropic report input usage only at the end.

// ---------------------------------------------------------------------------
// Requests: decode

// DecodeAnthropicRequest reads a Messages API request body.
func DecodeAnthropicRequest(body []byte) (*Request, error) {
	return anthDecodeRequest(body, true)
}

// DecodeAnthropicCountTokens reads a /v1/messages/count_tokens body: a
// Messages request without max_tokens.
func DecodeAnthropicCountTokens(body []byte) (*Request, error) {
	return anthDecodeRequest(body, false)
}

func anthFieldErr(param, format string, args ...any) *RequestError {
	return &RequestError{Message: param + ": " + fmt.Sprintf(format, args...), Param: param}
}

func anthDecodeRequest(body []byte, messagesAPI bool) (*Request, error) {
	if !gjson.ValidBytes(body) {
		return nil, &RequestError{Message: "There was an error parsing the body: the body is not valid JSON"}
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, &RequestError{Message: "The request body must be a JSON object"}
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

	r := &Request{}
	if !model.Exists() {
		return nil, anthFieldErr("model", "Field required")
	}
	if model.Type != gjson.String {
		return nil, anthFieldErr("model", "Input should be a valid string")
	}
	r.Model = model.Str

	if maxTok.Exists() && maxTok.Type != gjson.Null {
		n, ok := anthInt(maxTok)
		if !ok {
			return nil, anthFieldErr("max_tokens", "Input should be a valid integer")
		}
		if n < 1 {
			return nil, anthFieldErr("max_tokens", "Input should be greater than or equal to 1")
		}
		r.MaxTokens = int(min(n, math.MaxInt32))
	} else if messagesAPI {
		return nil, anthFieldErr("max_tokens", "Field required")
	}

	var err error
	if r.System, err = anthDecodeSystem(system); err != nil {
		return nil, err
	}
	if r.Messages, err = anthDecodeMessages(messages); err != nil {
		return nil, err
	}
	if r.Tools, err = anthDecodeTools(tools); err != nil {
		return nil, err
	}
	if toolChoice.Exists() && toolChoice.Type != gjson.Null {
		if err := anthDecodeToolChoice(r, toolChoice); err != nil {
			return nil, err
		}
	}
	if r.Temperature, err = anthFloat(temp, "temperature"); err != nil {
		return nil, err
	}
	if r.TopP, err = anthFloat(topP, "top_p"); err != nil {
		return nil, err
	}
	if topK.Exists() && topK.Type != gjson.Null {
		n, ok := anthInt(topK)
		if !ok || n < 0 {
			return nil, anthFieldErr("top_k", "Input should be a valid non-negative integer")
		}
		k := int(min(n, math.MaxInt32))
		r.TopK = &k
	}
	if stop.Exists() && stop.Type != gjson.Null {
		if !stop.IsArray() {
			return nil, anthFieldErr("stop_sequences", "Input should be a valid list")
		}
		for _, s := range stop.Array() {
			if s.Type != gjson.String {
				return nil, anthFieldErr("stop_sequences", "Input should be a list of strings")
			}
			r.Stop = append(r.Stop, s.Str)
		}
	}
	if stream.Exists() && stream.Type != gjson.Null {
		if !stream.IsBool() {
			return nil, anthFieldErr("stream", "Input should be a valid boolean")
		}
		r.Stream = stream.Bool()
	}
	if thinking.Exists() && thinking.Type != gjson.Null {
		if r.Reasoning, err = anthDecodeThinking(thinking, outConfig); err != nil {
			return nil, err
		}
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
		r.ResponseFormat = &ResponseFormat{Type: "json_schema"}
		if s := f.Get("schema"); s.IsObject() {
			r.ResponseFormat.Schema = []byte(s.Raw)
		}
	}
	ResolveToolNames(r)
	return r, nil
}

// anthInt reads an integer (a JSON number without a fractional part).
func anthInt(v gjson.Result) (int64, bool) {
	if v.Type != gjson.Number || math.IsNaN(v.Num) || math.IsInf(v.Num, 0) || v.Num != math.Trunc(v.Num) {
		return 0, false
	}
	if v.Num > math.MaxInt64/2 || v.Num < math.MinInt64/2 {
		return 0, false
	}
	return int64(v.Num), true
}

func anthFloat(v gjson.Result, param string) (*float64, error) {
	if !v.Exists() || v.Type == gjson.Null {
		return nil, nil
	}
	if v.Type != gjson.Number {
		return nil, anthFieldErr(param, "Input should be a valid number")
	}
	f := v.Num
	return &f, nil
}

func anthDecodeSystem(v gjson.Result) (string, error) {
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
				err = anthFieldErr("system."+strconv.Itoa(i), "system blocks must be text blocks")
				return false
			}
			t := blk.Get("text")
			if t.Type != gjson.String {
				err = anthFieldErr("system."+strconv.Itoa(i)+".text", "Input should be a valid string")
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
	return "", anthFieldErr("system", "Input should be a valid string or a list of text blocks")
}

func anthDecodeMessages(v gjson.Result) ([]Message, error) {
	if !v.Exists() {
		return nil, anthFieldErr("messages", "Field required")
	}
	if !v.IsArray() {
		return nil, anthFieldErr("messages", "Input should be a valid list")
	}
	var out []Message
	var err error
	i := 0
	v.ForEach(func(_, m gjson.Result) bool {
		out, err = anthDecodeMessage(out, m, i)
		i++
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if i == 0 {
		return nil, anthFieldErr("messages", "at least one message is required")
	}
	return out, nil
}

func anthDecodeMessage(out []Message, m gjson.Result, i int) ([]Message, error) {
	param := "messages." + strconv.Itoa(i)
	if !m.IsObject() {
		return out, anthFieldErr(param, "Input should be a valid dictionary")
	}
	var role Role
	switch rv := m.Get("role"); {
	case !rv.Exists():
		return out, anthFieldErr(param+".role", "Field required")
	case rv.Type == gjson.String && rv.Str == "user":
		role = RoleUser
	case rv.Type == gjson.String && rv.Str == "assistant":
		role = RoleAssistant
	default:
		return out, anthFieldErr(param+".role", "Input should be 'user' or 'assistant'")
	}
	content := m.Get("content")
	switch {
	case !content.Exists():
		return out, anthFieldErr(param+".content", "Field required")
	case content.Type == gjson.String:
		return append(out, Message{Role: role, Parts: []Part{{Type: PartText, Text: content.Str}}}), nil
	case !content.IsArray():
		return out, anthFieldErr(param+".content", "Input should be a valid string or list")
	}
	var parts, results []Part
	var err error
	j := 0
	content.ForEach(func(_, b gjson.Result) bool {
		bp := param + ".content." + strconv.Itoa(j)
		j++
		if !b.IsObject() {
			err = anthFieldErr(bp, "Input should be a valid dictionary")
			return false
		}
		typ := b.Get("type")
		if typ.Type != gjson.String {
			err = anthFieldErr(bp+".type", "Field required")
			return false
		}
		switch typ.Str {
		case "text":
			t := b.Get("text")
			if t.Type != gjson.String {
				err = anthFieldErr(bp+".text", "Input should be a valid string")
				return false
			}
			parts = append(parts, Part{Type: PartText, Text: t.Str})
		case "image":
			var p Part
			if p, err = anthDecodeImage(b, bp); err != nil {
				return false
			}
			parts = append(parts, p)
		case "tool_use":
			if role != RoleAssistant {
				err = anthFieldErr(bp, "tool_use blocks are only allowed in assistant messages")
				return false
			}
			id, name := b.Get("id"), b.Get("name")
			if id.Type != gjson.String || name.Type != gjson.String {
				err = anthFieldErr(bp, "tool_use blocks need a string id and name")
				return false
			}
			args := "{}"
			if in := b.Get("input"); in.Exists() && in.Type != gjson.Null {
				if !in.IsObject() {
					err = anthFieldErr(bp+".input", "Input should be a valid dictionary")
					return false
				}
				args = in.Raw
			}
			parts = append(parts, Part{Type: PartToolCall, ToolCallID: id.Str, ToolName: name.Str, Arguments: args})
		case "tool_result":
			if role != RoleUser {
				err = anthFieldErr(bp, "tool_result blocks are only allowed in user messages")
				return false
			}
			var p Part
			if p, err = anthDecodeToolResult(b, bp); err != nil {
				return false
			}
			results = append(results, p)
		case "thinking":
			// Thinking only belongs to assistant turns; elsewhere it is dropped.
			if role == RoleAssistant {
				parts = append(parts, Part{Type: PartThinking, Text: b.Get("thinking").String(), Signature: b.Get("signature").String()})
			}
		case "redacted_thinking":
			if role == RoleAssistant {
				parts = append(parts, Part{Type: PartThinking, Redacted: true, Data: b.Get("data").String()})
			}
		default:
			err = anthFieldErr(bp+".type", "content block type %q is not supported by this proxy", typ.Str)
			return false
		}
		return true
	})
	if err != nil {
		return out, err
	}
	if len(results) > 0 {
		out = append(out, Message{Role: RoleTool, Parts: results})
		if len(parts) > 0 {
			out = append(out, Message{Role: RoleUser, Parts: parts})
		}
		return out, nil
	}
	if parts == nil {
		parts = []Part{}
	}
	return append(out, Message{Role: role, Parts: parts}), nil
}

func anthDecodeImage(b gjson.Result, param string) (Part, error) {
	src := b.Get("source")
	if !src.IsObject() {
		return Part{}, anthFieldErr(param+".source", "Field required")
	}
	switch src.Get("type").Str {
	case "base64":
		mt, data := src.Get("media_type"), src.Get("data")
		if mt.Type != gjson.String || data.Type != gjson.String {
			return Part{}, anthFieldErr(param+".source", "base64 sources need media_type and data strings")
		}
		return Part{Type: PartImage, MediaType: mt.Str, Data: data.Str}, nil
	case "url":
		u := src.Get("url")
		if u.Type != gjson.String {
			return Part{}, anthFieldErr(param+".source.url", "Field required")
		}
		return Part{Type: PartImage, URL: u.Str}, nil
	}
	return Part{}, anthFieldErr(param+".source.type", "image source type %q is not supported by this proxy", src.Get("type").String())
}

func anthDecodeToolResult(b gjson.Result, param string) (Part, error) {
	id := b.Get("tool_use_id")
	if id.Type != gjson.String {
		return Part{}, anthFieldErr(param+".tool_use_id", "Field required")
	}
	p := Part{Type: PartToolResult, ToolCallID: id.Str, IsError: b.Get("is_error").Bool()}
	c := b.Get("content")
	switch {
	case !c.Exists() || c.Type == gjson.Null:
	case c.Type == gjson.String:
		if c.Str != "" {
			p.Content = []Part{{Type: PartText, Text: c.Str}}
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
					err = anthFieldErr(cp+".text", "Input should be a valid string")
					return false
				}
				p.Content = append(p.Content, Part{Type: PartText, Text: t.Str})
			case "image":
				var ip Part
				if ip, err = anthDecodeImage(cb, cp); err != nil {
					return false
				}
				p.Content = append(p.Content, ip)
			default:
				err = anthFieldErr(cp+".type", "tool_result content type %q is not supported by this proxy", cb.Get("type").String())
				return false
			}
			return true
		})
		if err != nil {
			return Part{}, err
		}
	default:
		return Part{}, anthFieldErr(param+".content", "Input should be a valid string or list")
	}
	return p, nil
}

func anthDecodeTools(v gjson.Result) ([]Tool, error) {
	if !v.Exists() || v.Type == gjson.Null {
		return nil, nil
	}
	if !v.IsArray() {
		return nil, anthFieldErr("tools", "Input should be a valid list")
	}
	var out []Tool
	var err error
	i := 0
	v.ForEach(func(_, t gjson.Result) bool {
		param := "tools." + strconv.Itoa(i)
		i++
		if !t.IsObject() {
			err = anthFieldErr(param, "Input should be a valid dictionary")
			return false
		}
		if typ := t.Get("type"); typ.Exists() && typ.Type != gjson.Null && typ.Str != "custom" {
			err = anthFieldErr(param+".type", "server tool %q is not supported by this proxy; only custom tools (name, description, input_schema) are", typ.String())
			return false
		}
		name := t.Get("name")
		if name.Type != gjson.String || name.Str == "" {
			err = anthFieldErr(param+".name", "Field required")
			return false
		}
		tool := Tool{Name: name.Str, Description: t.Get("description").String()}
		if s := t.Get("input_schema"); s.Exists() && s.Type != gjson.Null {
			if !s.IsObject() {
				err = anthFieldErr(param+".input_schema", "Input should be a valid dictionary")
				return false
			}
			tool.Parameters = []byte(s.Raw)
		}
		out = append(out, tool)
		return true
	})
	return out, err
}

func anthDecodeToolChoice(r *Request, v gjson.Result) error {
	if !v.IsObject() {
		return anthFieldErr("tool_choice", "Input should be a valid dictionary")
	}
	switch typ := v.Get("type").String(); typ {
	case "auto":
		r.ToolChoice = &ToolChoice{Mode: "auto"}
	case "any":
		r.ToolChoice = &ToolChoice{Mode: "required"}
	case "none":
		r.ToolChoice = &ToolChoice{Mode: "none"}
	case "tool":
		name := v.Get("name")
		if name.Type != gjson.String || name.Str == "" {
			return anthFieldErr("tool_choice.name", "Field required")
		}
		r.ToolChoice = &ToolChoice{Mode: "tool", Name: name.Str}
	default:
		return anthFieldErr("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
	}
	if v.Get("disable_parallel_tool_use").Bool() {
		f := false
		r.ParallelToolCalls = &f
	}
	return nil
}

func anthDecodeThinking(v, outConfig gjson.Result) (*Reasoning, error) {
	if !v.IsObject() {
		return nil, anthFieldErr("thinking", "Input should be a valid dictionary")
	}
	switch v.Get("type").String() {
	case "enabled":
		n, ok := anthInt(v.Get("budget_tokens"))
		if !ok || n < 1 {
			return nil, anthFieldErr("thinking.budget_tokens", "Input should be a valid positive integer")
		}
		return &Reasoning{Budget: int(min(n, math.MaxInt32))}, nil
	case "disabled":
		return &Reasoning{Off: true}, nil
	case "adaptive":
		switch e := outConfig.Get("effort").Str; e {
		case "low", "medium", "high":
			return &Reasoning{Effort: e}, nil
		case "max":
			return &Reasoning{Effort: "high"}, nil
		}
		return &Reasoning{Effort: "medium"}, nil
	}
	return nil, anthFieldErr("thinking.type", "Input should be 'enabled', 'disabled' or 'adaptive'")
}

// ---------------------------------------------------------------------------
// Requests: encode

// EncodeAnthropicRequest makes a Messages API request body.
func EncodeAnthropicRequest(r *Request) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("anthropic: nil request")
	}
	return anthEncodeRequest(r, false), nil
}

// EncodeAnthropicCountTokens makes a /v1/messages/count_tokens body: model,
// system, messages, tools, tool_choice and thinking.
func EncodeAnthropicCountTokens(r *Request) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("anthropic: nil request")
	}
	return anthEncodeRequest(r, true), nil
}

// anthPlaceholderUser opens a conversation that does not start with a user
// message, which the API requires.
const anthPlaceholderUser = "(conversation continues)"

// anthMissingResult answers a tool call whose result the history lacks.
const anthMissingResult = "No result was recorded for this tool call."

const (
	anthText uint8 = iota
	anthImage
	anthToolUse
	anthToolResult
	anthThinking
	anthRedacted
)

type anthBlock struct {
	kind uint8
	text string // anthText: the text
	id   string // anthToolUse / anthToolResult: the (sanitized, unique) id
	orig string // anthToolUse: the sanitized id before making it unique
	part *Part  // the source part (nil for synthesized blocks)
	err  bool   // synthesized tool_result: is_error
}

type anthMsg struct {
	user    bool
	results []anthBlock // tool_result blocks (user messages), sent first
	blocks  []anthBlock
}

func anthEncodeRequest(r *Request, count bool) []byte {
	msgs := anthBuildMessages(r)
	family := anthFamilyMax(r.Model)
	hasTools := len(r.Tools) > 0

	// Thinking, and whether it can be on.
	budget := 0
	if r.Reasoning != nil && !r.Reasoning.Off {
		budget = max(1024, r.Reasoning.BudgetTokens())
		switch {
		case family != 0 && family < 32000: // claude-3 and 3-5: no extended thinking
			budget = 0
		case hasTools && r.ToolChoice != nil && (r.ToolChoice.Mode == "required" || r.ToolChoice.Mode == "tool"):
			budget = 0
		case !anthTurnStartsWithThinking(msgs):
			budget = 0
		}
	}
	maxTok := 0
	if !count {
		maxTok, budget = anthMaxTokens(r.MaxTokens, family, budget)
	}

	b := make([]byte, 0, 512+RequestSize(r))
	b = append(b, `{"model":`...)
	b = AppendJSONString(b, r.Model)
	if !count {
		b = append(b, `,"max_tokens":`...)
		b = strconv.AppendInt(b, int64(maxTok), 10)
	}
	if sys := anthSystemText(r); sys != "" {
		b = append(b, `,"system":`...)
		b = AppendJSONString(b, sys)
	}
	b = append(b, `,"messages":[`...)
	for i := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = anthAppendMessage(b, &msgs[i])
	}
	b = append(b, ']')
	if hasTools {
		b = append(b, `,"tools":[`...)
		for i := range r.Tools {
			if i > 0 {
				b = append(b, ',')
			}
			t := &r.Tools[i]
			b = append(b, `{"name":`...)
			b = AppendJSONString(b, t.Name)
			if t.Description != "" {
				b = append(b, `,"description":`...)
				b = AppendJSONString(b, t.Description)
			}
			b = append(b, `,"input_schema":`...)
			b = anthAppendSchema(b, t.Parameters)
			b = append(b, '}')
		}
		b = append(b, ']')
		b = anthAppendToolChoice(b, r)
	}
	if !count {
		if budget == 0 {
			if r.Temperature != nil && anthFinite(*r.Temperature) {
				b = append(b, `,"temperature":`...)
				b = AppendFloat(b, min(max(*r.Temperature, 0), 1))
			}
			if r.TopK != nil && *r.TopK > 0 {
				b = append(b, `,"top_k":`...)
				b = strconv.AppendInt(b, int64(*r.TopK), 10)
			}
		}
		if r.TopP != nil && anthFinite(*r.TopP) {
			p := min(max(*r.TopP, 0), 1)
			if budget > 0 {
				p = max(p, 0.95)
			}
			b = append(b, `,"top_p":`...)
			b = AppendFloat(b, p)
		}
		first := true
		for _, s := range r.Stop {
			if strings.TrimSpace(s) == "" {
				continue
			}
			if first {
				b = append(b, `,"stop_sequences":[`...)
				first = false
			} else {
				b = append(b, ',')
			}
			b = AppendJSONString(b, s)
		}
		if !first {
			b = append(b, ']')
		}
		if r.Stream {
			b = append(b, `,"stream":true`...)
		}
	}
	if budget > 0 {
		b = append(b, `,"thinking":{"type":"enabled","budget_tokens":`...)
		b = strconv.AppendInt(b, int64(budget), 10)
		b = append(b, '}')
	}
	if !count && r.User != "" {
		b = append(b, `,"metadata":{"user_id":`...)
		b = AppendJSONString(b, r.User)
		b = append(b, '}')
	}
	return append(b, '}')
}

func anthSystemText(r *Request) string {
	sys := r.System
	if f := r.ResponseFormat; f != nil && (f.Type == "json_object" || f.Type == "json_schema") {
		ins := "Answer with only a JSON object: no other text, no code fences."
		if f.Type == "json_schema" && len(f.Schema) > 0 && gjson.ValidBytes(f.Schema) {
			ins = "Answer with only a JSON object that matches this JSON Schema: no other text, no code fences.\n" +
				gjson.GetBytes(f.Schema, "@ugly").Raw
		}
		if sys != "" {
			sys += "\n\n"
		}
		sys += ins
	}
	return sys
}

func anthAppendToolChoice(b []byte, r *Request) []byte {
	noParallel := r.ParallelToolCalls != nil && !*r.ParallelToolCalls
	mode, name := "", ""
	if r.ToolChoice != nil {
		mode, name = r.ToolChoice.Mode, r.ToolChoice.Name
	}
	switch mode {
	case "none":
		return append(b, `,"tool_choice":{"type":"none"}`...)
	case "required":
		b = append(b, `,"tool_choice":{"type":"any"`...)
	case "tool":
		if name == "" {
			b = append(b, `,"tool_choice":{"type":"any"`...)
		} else {
			b = append(b, `,"tool_choice":{"type":"tool","name":`...)
			b = AppendJSONString(b, name)
		}
	default:
		if !noParallel && mode == "" {
			return b
		}
		b = append(b, `,"tool_choice":{"type":"auto"`...)
	}
	if noParallel {
		b = append(b, `,"disable_parallel_tool_use":true`...)
	}
	return append(b, '}')
}

// anthBuildMessages turns the canonical history into strictly alternating
// user/assistant messages the API accepts.
func anthBuildMessages(r *Request) []anthMsg {
	var out []anthMsg
	add := func(user bool, results, blocks []anthBlock) {
		if len(results) == 0 && len(blocks) == 0 {
			return
		}
		if n := len(out); n > 0 && out[n-1].user == user {
			out[n-1].results = append(out[n-1].results, results...)
			out[n-1].blocks = append(out[n-1].blocks, blocks...)
			return
		}
		out = append(out, anthMsg{user: user, results: results, blocks: blocks})
	}
	for mi := range r.Messages {
		m := &r.Messages[mi]
		var results, blocks []anthBlock
		if m.Role == RoleAssistant {
			for pi := range m.Parts {
				p := &m.Parts[pi]
				switch p.Type {
				case PartText:
					if strings.TrimSpace(p.Text) != "" {
						blocks = append(blocks, anthBlock{kind: anthText, text: p.Text, part: p})
					}
				case PartToolCall:
					id := p.ToolCallID
					if id == "" {
						id = MakeToolCallID("toolu_", p.ToolName, mi<<16|pi)
					}
					blocks = append(blocks, anthBlock{kind: anthToolUse, id: anthToolID(id), part: p})
				case PartThinking:
					if p.Redacted {
						if p.Data != "" {
							blocks = append(blocks, anthBlock{kind: anthRedacted, part: p})
						}
					} else if p.Signature != "" {
						blocks = append(blocks, anthBlock{kind: anthThinking, part: p})
					}
				}
			}
			add(false, nil, blocks)
			continue
		}
		// User and tool messages (and any unknown role) speak as the user.
		for pi := range m.Parts {
			p := &m.Parts[pi]
			switch p.Type {
			case PartText:
				if strings.TrimSpace(p.Text) != "" {
					blocks = append(blocks, anthBlock{kind: anthText, text: p.Text, part: p})
				}
			case PartImage:
				if p.Data != "" || p.URL != "" {
					blocks = append(blocks, anthBlock{kind: anthImage, part: p})
				}
			case PartToolResult:
				id := p.ToolCallID
				if id != "" {
					id = anthToolID(id)
				}
				results = append(results, anthBlock{kind: anthToolResult, id: id, part: p})
			}
		}
		add(true, results, blocks)
	}

	// Tool-use ids must be unique in the conversation; some servers reuse
	// ids such as "call_0" every turn. A repeated id gets a suffix; results
	// are matched to calls by the original id, within one exchange.
	used := map[string]bool{}
	for i := range out {
		if out[i].user {
			continue
		}
		for k := range out[i].blocks {
			bl := &out[i].blocks[k]
			if bl.kind != anthToolUse {
				continue
			}
			bl.orig = bl.id
			for n := 2; used[bl.id]; n++ {
				bl.id = bl.orig + "_" + strconv.Itoa(n)
			}
			used[bl.id] = true
		}
	}

	// Every tool_result must answer a tool_use of the assistant message just
	// before it, and every tool_use must get its tool_result.
	for i := range out {
		if !out[i].user {
			continue
		}
		var calls []*anthBlock
		if i > 0 {
			for k := range out[i-1].blocks {
				if out[i-1].blocks[k].kind == anthToolUse {
					calls = append(calls, &out[i-1].blocks[k])
				}
			}
		}
		if len(calls) == 0 && len(out[i].results) == 0 {
			continue
		}
		answered := make([]bool, len(calls))
		var kept, orphans []anthBlock
		for _, res := range out[i].results {
			j := -1
			for k, c := range calls {
				if !answered[k] && (c.orig == res.id || res.id == "") {
					j = k
					break
				}
			}
			if j < 0 {
				orphans = append(orphans, anthOrphanResult(res)...)
				continue
			}
			answered[j] = true
			res.id = calls[j].id
			kept = append(kept, res)
		}
		for k, c := range calls {
			if !answered[k] {
				kept = append(kept, anthBlock{kind: anthToolResult, id: c.id, text: anthMissingResult, err: true})
			}
		}
		out[i].results = kept
		if len(orphans) > 0 {
			out[i].blocks = append(orphans, out[i].blocks...)
		}
	}

	if len(out) == 0 || !out[0].user {
		out = append([]anthMsg{{user: true, blocks: []anthBlock{{kind: anthText, text: anthPlaceholderUser}}}}, out...)
	}
	// A final assistant message (a prefill) may not end with whitespace.
	if last := &out[len(out)-1]; !last.user {
		if n := len(last.blocks); n > 0 && last.blocks[n-1].kind == anthText {
			t := strings.TrimRightFunc(last.blocks[n-1].text, unicode.IsSpace)
			if t == "" {
				last.blocks = last.blocks[:n-1]
			} else {
				last.blocks[n-1].text = t
			}
		}
		if len(last.blocks) == 0 {
			out = out[:len(out)-1]
		}
	}
	return out
}

// anthOrphanResult turns a tool result that answers no call into user
// content: a text block naming the call, then its images.
func anthOrphanResult(res anthBlock) []anthBlock {
	p := res.part
	var sb strings.Builder
	if p.IsError {
		sb.WriteString("Error from tool call ")
	} else {
		sb.WriteString("Result of tool call ")
	}
	if p.ToolName != "" {
		sb.WriteString(p.ToolName)
		sb.WriteByte(' ')
	}
	sb.WriteByte('(')
	sb.WriteString(p.ToolCallID)
	sb.WriteString("):")
	var imgs []anthBlock
	for k := range p.Content {
		c := &p.Content[k]
		switch c.Type {
		case PartText:
			sb.WriteByte('\n')
			sb.WriteString(c.Text)
		case PartImage:
			if c.Data != "" || c.URL != "" {
				imgs = append(imgs, anthBlock{kind: anthImage, part: c})
			}
		}
	}
	return append([]anthBlock{{kind: anthText, text: sb.String()}}, imgs...)
}

// anthTurnStartsWithThinking reports whether the current turn - the
// assistant messages after the last user message without tool results -
// is empty or starts with a thinking block, as the API demands when
// thinking is on.
func anthTurnStartsWithThinking(msgs []anthMsg) bool {
	k := -1
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].user && len(msgs[i].results) == 0 {
			k = i
			break
		}
	}
	for i := k + 1; i < len(msgs); i++ {
		if !msgs[i].user {
			bl := msgs[i].blocks
			return len(bl) > 0 && (bl[0].kind == anthThinking || bl[0].kind == anthRedacted)
		}
	}
	return true
}

// anthMaxTokens picks max_tokens, and the thinking budget that fits in it
// (0 = thinking off).
func anthMaxTokens(client, family, budget int) (int, int) {
	base := client
	if base <= 0 {
		base = 8192
		if family > 0 {
			base = min(base, family)
		}
	}
	if family > 0 {
		base = min(base, family)
	}
	if budget == 0 {
		return base, 0
	}
	mt := base
	if client <= 0 || client <= budget {
		mt = base + budget
	}
	if family > 0 && mt > family {
		mt = family
	}
	if budget >= mt {
		budget = mt - 1
	}
	if budget < 1024 {
		return base, 0
	}
	return mt, budget
}

// anthFamilyMax is the largest max_tokens of a Claude model's family, 0 for
// models it does not know. It finds "claude-" anywhere in the name, so
// Bedrock and Vertex ids work too.
func anthFamilyMax(model string) int {
	i := strings.Index(model, "claude-")
	if i < 0 {
		return 0
	}
	m := model[i+len("claude-"):]
	switch {
	case strings.HasPrefix(m, "3-haiku"), strings.HasPrefix(m, "3-opus"), strings.HasPrefix(m, "3-sonnet"),
		strings.HasPrefix(m, "2"), strings.HasPrefix(m, "instant"):
		return 4096
	case strings.HasPrefix(m, "3-5-"):
		return 8192
	case strings.HasPrefix(m, "3-7-"):
		return 64000
	case strings.HasPrefix(m, "opus-4"):
		rest := m[len("opus-4"):]
		if rest == "" || rest[0] == '@' || rest[0] == ':' {
			return 32000
		}
		if rest[0] == '-' {
			seg := rest[1:]
			if j := strings.IndexAny(seg, "-@:"); j >= 0 {
				seg = seg[:j]
			}
			if seg == "0" || seg == "1" || (len(seg) == 8 && anthDigits(seg)) {
				return 32000
			}
		}
		return 64000
	}
	// claude-<name>-<major>...: Claude 4 and later.
	if j := strings.IndexByte(m, '-'); j > 0 {
		switch m[:j] {
		case "opus", "sonnet", "haiku":
			k := j + 1
			for k < len(m) && m[k] >= '0' && m[k] <= '9' {
				k++
			}
			if k > j+1 {
				if major, err := strconv.Atoi(m[j+1 : k]); err == nil && major >= 4 && major < 100 {
					return 64000
				}
			}
		}
	}
	return 0
}

func anthDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// anthToolID makes id match ^[a-zA-Z0-9_-]+$, deterministically: valid ids
// are kept, others get '_' for each invalid character and a hash of the
// original, so distinct ids stay distinct.
func anthToolID(id string) string {
	ok := id != ""
	for i := 0; i < len(id) && ok; i++ {
		ok = anthIDChar(id[i])
	}
	if ok {
		return id
	}
	b := make([]byte, 0, len(id)+17)
	for i := 0; i < len(id); i++ {
		if anthIDChar(id[i]) {
			b = append(b, id[i])
		} else {
			b = append(b, '_')
		}
	}
	sum := sha256.Sum256([]byte(id))
	b = append(b, '_')
	b = hex.AppendEncode(b, sum[:8])
	return string(b)
}

func anthIDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func anthAppendMessage(b []byte, m *anthMsg) []byte {
	if m.user {
		b = append(b, `{"role":"user","content":[`...)
	} else {
		b = append(b, `{"role":"assistant","content":[`...)
	}
	n := 0
	for _, list := range [2][]anthBlock{m.results, m.blocks} {
		for k := range list {
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = anthAppendBlock(b, &list[k])
		}
	}
	return append(b, "]}"...)
}

func anthAppendBlock(b []byte, bl *anthBlock) []byte {
	p := bl.part
	switch bl.kind {
	case anthText:
		b = append(b, `{"type":"text","text":`...)
		b = AppendJSONString(b, bl.text)
		return append(b, '}')
	case anthImage:
		return anthAppendImage(b, p)
	case anthToolUse:
		b = append(b, `{"type":"tool_use","id":`...)
		b = AppendJSONString(b, bl.id)
		b = append(b, `,"name":`...)
		b = AppendJSONString(b, p.ToolName)
		b = append(b, `,"input":`...)
		b = anthAppendObject(b, p.Arguments)
		return append(b, '}')
	case anthToolResult:
		b = append(b, `{"type":"tool_result","tool_use_id":`...)
		b = AppendJSONString(b, bl.id)
		if p == nil { // synthesized
			b = append(b, `,"content":`...)
			b = AppendJSONString(b, bl.text)
			if bl.err {
				b = append(b, `,"is_error":true`...)
			}
			return append(b, '}')
		}
		b = anthAppendResultContent(b, p.Content)
		if p.IsError {
			b = append(b, `,"is_error":true`...)
		}
		return append(b, '}')
	case anthThinking:
		b = append(b, `{"type":"thinking","thinking":`...)
		b = AppendJSONString(b, p.Text)
		b = append(b, `,"signature":`...)
		b = AppendJSONString(b, p.Signature)
		return append(b, '}')
	case anthRedacted:
		b = append(b, `{"type":"redacted_thinking","data":`...)
		b = AppendJSONString(b, p.Data)
		return append(b, '}')
	}
	return b
}

// anthAppendResultContent writes a tool_result's content: a string when it
// is one text, blocks otherwise, nothing when empty.
func anthAppendResultContent(b []byte, content []Part) []byte {
	n, texts := 0, 0
	var only *Part
	for k := range content {
		c := &content[k]
		switch {
		case c.Type == PartText && c.Text != "":
			n++
			texts++
			only = c
		case c.Type == PartImage && (c.Data != "" || c.URL != ""):
			n++
		}
	}
	if n == 0 {
		return b
	}
	if n == 1 && texts == 1 {
		b = append(b, `,"content":`...)
		return AppendJSONString(b, only.Text)
	}
	b = append(b, `,"content":[`...)
	first := true
	for k := range content {
		c := &content[k]
		switch {
		case c.Type == PartText && c.Text != "":
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, `{"type":"text","text":`...)
			b = AppendJSONString(b, c.Text)
			b = append(b, '}')
		case c.Type == PartImage && (c.Data != "" || c.URL != ""):
			if !first {
				b = append(b, ',')
			}
			first = false
			b = anthAppendImage(b, c)
		}
	}
	return append(b, ']')
}

func anthAppendImage(b []byte, p *Part) []byte {
	mt, data := p.MediaType, p.Data
	if data == "" && strings.HasPrefix(p.URL, "data:") {
		mt, data = anthParseDataURL(p.URL)
	}
	if data != "" {
		if mt == "" {
			mt = anthSniffImage(data)
		}
		b = append(b, `{"type":"image","source":{"type":"base64","media_type":`...)
		b = AppendJSONString(b, mt)
		b = append(b, `,"data":`...)
		b = AppendJSONString(b, data)
		return append(b, "}}"...)
	}
	b = append(b, `{"type":"image","source":{"type":"url","url":`...)
	b = AppendJSONString(b, p.URL)
	return append(b, "}}"...)
}

// anthParseDataURL splits "data:<media type>;base64,<data>".
func anthParseDataURL(u string) (mediaType, data string) {
	rest := strings.TrimPrefix(u, "data:")
	comma := strings.IndexByte(rest, ',')
	if comma < 0 {
		return "", ""
	}
	meta := rest[:comma]
	if !strings.HasSuffix(meta, ";base64") {
		return "", ""
	}
	mt := strings.TrimSuffix(meta, ";base64")
	if j := strings.IndexByte(mt, ';'); j >= 0 {
		mt = mt[:j]
	}
	return mt, rest[comma+1:]
}

// anthSniffImage guesses the media type of base64 image data.
func anthSniffImage(data string) string {
	switch {
	case strings.HasPrefix(data, "/9j/"):
		return "image/jpeg"
	case strings.HasPrefix(data, "R0lGOD"):
		return "image/gif"
	case strings.HasPrefix(data, "UklGR"):
		return "image/webp"
	}
	return "image/png"
}

// anthAppendObject writes raw if it is a JSON object (compacted), else {}.
func anthAppendObject(b []byte, raw string) []byte {
	raw = strings.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' || !gjson.Valid(raw) {
		return append(b, "{}"...)
	}
	return append(b, gjson.Get(raw, "@ugly").Raw...)
}

// anthAppendSchema writes a tool's input_schema: an object schema, with
// "type":"object" added when missing (the API requires it).
func anthAppendSchema(b []byte, raw []byte) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' || !gjson.ValidBytes(raw) {
		return append(b, `{"type":"object","properties":{}}`...)
	}
	if !gjson.GetBytes(raw, "type").Exists() {
		if s, err := sjson.SetRawBytes(bytes.Clone(raw), "type", []byte(`"object"`)); err == nil {
			raw = s
		}
	}
	return append(b, gjson.GetBytes(raw, "@ugly").Raw...)
}

func anthFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// ---------------------------------------------------------------------------
// Responses

// DecodeAnthropicResponse reads a Messages API answer.
func DecodeAnthropicResponse(body []byte) (*Response, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("anthropic: answer is not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, fmt.Errorf("anthropic: answer is not a JSON object")
	}
	if root.Get("type").Str == "error" {
		e := root.Get("error")
		return nil, fmt.Errorf("anthropic: %s: %s", e.Get("type").String(), e.Get("message").String())
	}
	r := &Response{ID: root.Get("id").String(), Model: root.Get("model").String(), Parts: []Part{}}
	root.Get("content").ForEach(func(_, c gjson.Result) bool {
		switch c.Get("type").Str {
		case "text":
			if t := c.Get("text").String(); t != "" {
				r.Parts = append(r.Parts, Part{Type: PartText, Text: t})
			}
		case "thinking":
			r.Parts = append(r.Parts, Part{Type: PartThinking, Text: c.Get("thinking").String(), Signature: c.Get("signature").String()})
		case "redacted_thinking":
			r.Parts = append(r.Parts, Part{Type: PartThinking, Redacted: true, Data: c.Get("data").String()})
		case "tool_use":
			args := "{}"
			if in := c.Get("input"); in.IsObject() {
				args = in.Raw
			}
			r.Parts = append(r.Parts, Part{Type: PartToolCall, ToolCallID: c.Get("id").String(), ToolName: c.Get("name").String(), Arguments: args})
		}
		return true
	})
	r.StopReason = anthDecodeStop(root.Get("stop_reason").Str)
	if s := root.Get("stop_sequence"); s.Type == gjson.String {
		r.StopSequence = s.Str
	}
	r.Usage = anthUsage(root.Get("usage"))
	return r, nil
}

// anthUsage reads a usage object: Input counts cache reads and writes.
func anthUsage(u gjson.Result) Usage {
	read := u.Get("cache_read_input_tokens").Int()
	return Usage{
		Input:  u.Get("input_tokens").Int() + read + u.Get("cache_creation_input_tokens").Int(),
		Cached: read,
		Output: u.Get("output_tokens").Int(),
	}
}

func anthDecodeStop(s string) StopReason {
	switch s {
	case "max_tokens", "model_context_window_exceeded":
		return StopMaxTokens
	case "stop_sequence":
		return StopSequence
	case "tool_use":
		return StopToolUse
	case "refusal":
		return StopContentFilter
	}
	return StopEnd // end_turn, pause_turn, unknown
}

func anthEncodeStop(s StopReason, tools bool) string {
	switch s {
	case StopMaxTokens:
		return "max_tokens"
	case StopSequence:
		return "stop_sequence"
	case StopToolUse:
		return "tool_use"
	case StopContentFilter:
		return "refusal"
	}
	if tools {
		return "tool_use"
	}
	return "end_turn"
}

// anthMessageID is the id of an answer: "msg_" + id, or a new one.
func anthMessageID(id string) string {
	if id == "" {
		var rb [12]byte
		_, _ = rand.Read(rb[:])
		return "msg_" + hex.EncodeToString(rb[:])
	}
	if strings.HasPrefix(id, "msg_") {
		return id
	}
	return "msg_" + id
}

// EncodeAnthropicResponse writes r as a Messages API answer.
func EncodeAnthropicResponse(r *Response) []byte {
	b := make([]byte, 0, 256+PartsSize(r.Parts))
	b = append(b, `{"id":`...)
	b = AppendJSONString(b, anthMessageID(r.ID))
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = AppendJSONString(b, r.Model)
	b = append(b, `,"content":[`...)
	n, tools := 0, false
	for k := range r.Parts {
		p := &r.Parts[k]
		var blk anthBlock
		switch p.Type {
		case PartText:
			if p.Text == "" {
				continue
			}
			blk = anthBlock{kind: anthText, text: p.Text}
		case PartThinking:
			if p.Redacted {
				if p.Data == "" {
					continue
				}
				blk = anthBlock{kind: anthRedacted, part: p}
			} else {
				if p.Text == "" && p.Signature == "" {
					continue
				}
				blk = anthBlock{kind: anthThinking, part: p}
			}
		case PartToolCall:
			id := p.ToolCallID
			if id == "" {
				id = MakeToolCallID("toolu_", r.ID+p.ToolName, k)
			}
			blk = anthBlock{kind: anthToolUse, id: id, part: p}
			tools = true
		default:
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = anthAppendBlock(b, &blk)
	}
	b = append(b, `],"stop_reason":"`...)
	b = append(b, anthEncodeStop(r.StopReason, tools)...)
	b = append(b, `","stop_sequence":`...)
	if r.StopSequence != "" {
		b = AppendJSONString(b, r.StopSequence)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"usage":`...)
	b = anthAppendUsage(b, r.Usage, true)
	return append(b, '}')
}

// anthAppendUsage writes a usage object; input fields only when withInput.
func anthAppendUsage(b []byte, u Usage, withInput bool) []byte {
	b = append(b, '{')
	if withInput {
		b = append(b, `"input_tokens":`...)
		b = strconv.AppendInt(b, max(u.Input-u.Cached, 0), 10)
		b = append(b, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":`...)
		b = strconv.AppendInt(b, max(u.Cached, 0), 10)
		b = append(b, ',')
	}
	b = append(b, `"output_tokens":`...)
	b = strconv.AppendInt(b, max(u.Output, 0), 10)
	return append(b, '}')
}

// ---------------------------------------------------------------------------
// Streams: decode

type anthStreamDecoder struct {
	started, finished bool
	stop              StopReason
	stopSeq           string
	ntools            int
	toolBlocks        map[int64]int // content block index -> tool Index
}

// NewAnthropicStreamDecoder reads a Messages API event stream.
func NewAnthropicStreamDecoder() StreamDecoder { return &anthStreamDecoder{} }

func (d *anthStreamDecoder) Finished() bool { return d.finished }

func (d *anthStreamDecoder) start(dst []StreamEvent, id, model string) []StreamEvent {
	if d.started {
		return dst
	}
	d.started = true
	return append(dst, StreamEvent{Type: EvStart, ID: id, Model: model})
}

func (d *anthStreamDecoder) Decode(dst []StreamEvent, ev Event) ([]StreamEvent, error) {
	if d.finished {
		return dst, nil
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return dst, nil
	}
	if !gjson.ValidBytes(data) {
		if string(ev.Name) == "ping" {
			return dst, nil
		}
		return dst, fmt.Errorf("anthropic stream: %q event is not valid JSON", ev.Name)
	}
	root := gjson.ParseBytes(data)
	typ := root.Get("type").Str
	if string(ev.Name) == "error" {
		typ = "error"
	} else if typ == "" {
		typ = string(ev.Name)
	}
	switch typ {
	case "message_start":
		msg := root.Get("message")
		dst = d.start(dst, msg.Get("id").String(), msg.Get("model").String())
		if u := msg.Get("usage"); u.IsObject() {
			dst = append(dst, StreamEvent{Type: EvUsage, Usage: anthUsage(u)})
		}
	case "content_block_start":
		dst = d.start(dst, "", "")
		idx := root.Get("index").Int()
		cb := root.Get("content_block")
		switch cb.Get("type").Str {
		case "text":
			if t := cb.Get("text").String(); t != "" {
				dst = append(dst, StreamEvent{Type: EvText, Text: t})
			}
		case "thinking":
			if t := cb.Get("thinking").String(); t != "" {
				dst = append(dst, StreamEvent{Type: EvThinking, Text: t})
			}
		case "redacted_thinking":
			dst = append(dst, StreamEvent{Type: EvSignature, Redacted: true, Text: cb.Get("data").String()})
		case "tool_use":
			if _, dup := d.toolBlocks[idx]; dup {
				break
			}
			if d.toolBlocks == nil {
				d.toolBlocks = map[int64]int{}
			}
			d.toolBlocks[idx] = d.ntools
			dst = append(dst, StreamEvent{Type: EvToolStart, Index: d.ntools,
				ToolCallID: cb.Get("id").String(), ToolName: cb.Get("name").String()})
			d.ntools++
		}
	case "content_block_delta":
		dst = d.start(dst, "", "")
		delta := root.Get("delta")
		switch delta.Get("type").Str {
		case "text_delta":
			if t := delta.Get("text").String(); t != "" {
				dst = append(dst, StreamEvent{Type: EvText, Text: t})
			}
		case "thinking_delta":
			if t := delta.Get("thinking").String(); t != "" {
				dst = append(dst, StreamEvent{Type: EvThinking, Text: t})
			}
		case "signature_delta":
			dst = append(dst, StreamEvent{Type: EvSignature, Text: delta.Get("signature").String()})
		case "input_json_delta":
			if ti, ok := d.toolBlocks[root.Get("index").Int()]; ok {
				if a := delta.Get("partial_json").String(); a != "" {
					dst = append(dst, StreamEvent{Type: EvToolArgs, Index: ti, Args: a})
				}
			}
		}
	case "message_delta":
		dst = d.start(dst, "", "")
		delta := root.Get("delta")
		if s := delta.Get("stop_reason"); s.Type == gjson.String {
			d.stop = anthDecodeStop(s.Str)
		}
		if s := delta.Get("stop_sequence"); s.Type == gjson.String {
			d.stopSeq = s.Str
		}
		if u := root.Get("usage"); u.IsObject() {
			var usage Usage
			if u.Get("input_tokens").Exists() {
				usage = anthUsage(u)
			} else {
				usage.Output = u.Get("output_tokens").Int()
			}
			dst = append(dst, StreamEvent{Type: EvUsage, Usage: usage})
		}
	case "message_stop":
		dst = d.start(dst, "", "")
		stop := d.stop
		if stop == "" {
			stop = StopEnd
		}
		dst = append(dst, StreamEvent{Type: EvFinish, StopReason: stop, StopSequence: d.stopSeq})
		d.finished = true
	case "error":
		e := root.Get("error")
		et, msg := e.Get("type").String(), e.Get("message").String()
		if msg == "" {
			msg = "upstream stream error"
		}
		if et != "" {
			msg = et + ": " + msg
		}
		dst = append(dst, StreamEvent{Type: EvError, Text: msg, Status: anthErrorStatus(et)})
		d.finished = true
	}
	return dst, nil
}

func anthErrorStatus(typ string) int {
	switch typ {
	case "invalid_request_error":
		return 400
	case "authentication_error":
		return 401
	case "billing_error":
		return 402
	case "permission_error":
		return 403
	case "not_found_error":
		return 404
	case "request_too_large":
		return 413
	case "rate_limit_error":
		return 429
	case "api_error":
		return 500
	case "timeout_error":
		return 504
	case "overloaded_error":
		return 529
	}
	return 0
}

func anthErrorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 504:
		return "timeout_error"
	case 503, 529:
		return "overloaded_error"
	}
	return "api_error"
}

// ---------------------------------------------------------------------------
// Streams: encode

const (
	anthOpenNone uint8 = iota
	anthOpenText
	anthOpenThinking
	anthOpenTool
)

type anthStreamEncoder struct {
	o       StreamOptions
	started bool
	done    bool
	open    uint8
	nblocks int // blocks opened so far; the open one is nblocks-1
	tool    int // tool Index of the open tool block
	tools   map[int]bool
	usage   Usage
	buf     []byte
}

// NewAnthropicStreamEncoder writes a Messages API event stream.
func NewAnthropicStreamEncoder(o StreamOptions) StreamEncoder {
	return &anthStreamEncoder{o: o}
}

func anthEvent(dst []byte, name string, data []byte) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, data...)
	return append(dst, '\n', '\n')
}

func (e *anthStreamEncoder) ensureStart(dst []byte, id, model string) []byte {
	if e.started {
		return dst
	}
	e.started = true
	if e.o.Model != "" {
		model = e.o.Model
	}
	b := append(e.buf[:0], `{"type":"message_start","message":{"id":`...)
	b = AppendJSONString(b, anthMessageID(id))
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = AppendJSONString(b, model)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	u := e.usage
	if u.Output == 0 {
		u.Output = 1 // as the API reports before the first token
	}
	b = anthAppendUsage(b, u, true)
	b = append(b, "}}"...)
	e.buf = b
	return anthEvent(dst, "message_start", b)
}

// closeBlock ends the open content block.
func (e *anthStreamEncoder) closeBlock(dst []byte) []byte {
	if e.open == anthOpenNone {
		return dst
	}
	e.open = anthOpenNone
	b := append(e.buf[:0], `{"type":"content_block_stop","index":`...)
	b = strconv.AppendInt(b, int64(e.nblocks-1), 10)
	b = append(b, '}')
	e.buf = b
	return anthEvent(dst, "content_block_stop", b)
}

// openBlock closes the open block and starts a new one; block is the JSON
// of its content_block.
func (e *anthStreamEncoder) openBlock(dst []byte, kind uint8, block []byte) []byte {
	dst = e.closeBlock(dst)
	b := append(e.buf[:0], `{"type":"content_block_start","index":`...)
	b = strconv.AppendInt(b, int64(e.nblocks), 10)
	b = append(b, `,"content_block":`...)
	b = append(b, block...)
	b = append(b, '}')
	e.buf = b
	e.nblocks++
	e.open = kind
	return anthEvent(dst, "content_block_start", b)
}

// delta writes a content_block_delta for the open block; field is the
// delta's type and key, value the string.
func (e *anthStreamEncoder) delta(dst []byte, head, value string) []byte {
	b := append(e.buf[:0], `{"type":"content_block_delta","index":`...)
	b = strconv.AppendInt(b, int64(e.nblocks-1), 10)
	b = append(b, `,"delta":`...)
	b = append(b, head...)
	b = AppendJSONString(b, value)
	b = append(b, "}}"...)
	e.buf = b
	return anthEvent(dst, "content_block_delta", b)
}

func (e *anthStreamEncoder) Encode(dst []byte, ev *StreamEvent) []byte {
	if e.done {
		return dst
	}
	switch ev.Type {
	case EvStart:
		return e.ensureStart(dst, ev.ID, ev.Model)
	case EvUsage:
		e.usage.Merge(ev.Usage)
		return dst
	case EvError:
		e.done = true
		b := append(e.buf[:0], `{"type":"error","error":{"type":"`...)
		b = append(b, anthErrorType(ev.Status)...)
		b = append(b, `","message":`...)
		msg := ev.Text
		if msg == "" {
			msg = "upstream error"
		}
		b = AppendJSONString(b, msg)
		b = append(b, "}}"...)
		e.buf = b
		return anthEvent(dst, "error", b)
	}
	dst = e.ensureStart(dst, "", "")
	switch ev.Type {
	case EvText:
		if ev.Text == "" {
			return dst
		}
		if e.open != anthOpenText {
			dst = e.openBlock(dst, anthOpenText, []byte(`{"type":"text","text":""}`))
		}
		return e.delta(dst, `{"type":"text_delta","text":`, ev.Text)
	case EvThinking:
		if ev.Text == "" {
			return dst
		}
		if e.open != anthOpenThinking {
			dst = e.openBlock(dst, anthOpenThinking, []byte(`{"type":"thinking","thinking":"","signature":""}`))
		}
		return e.delta(dst, `{"type":"thinking_delta","thinking":`, ev.Text)
	case EvSignature:
		if ev.Redacted {
			blk := AppendJSONString(append(make([]byte, 0, 48+len(ev.Text)), `{"type":"redacted_thinking","data":`...), ev.Text)
			blk = append(blk, '}')
			dst = e.openBlock(dst, anthOpenThinking, blk)
			return e.closeBlock(dst)
		}
		if e.open != anthOpenThinking {
			if ev.Text == "" {
				return dst
			}
			dst = e.openBlock(dst, anthOpenThinking, []byte(`{"type":"thinking","thinking":"","signature":""}`))
		}
		if ev.Text != "" {
			dst = e.delta(dst, `{"type":"signature_delta","signature":`, ev.Text)
		}
		return e.closeBlock(dst)
	case EvToolStart:
		if e.tools[ev.Index] {
			return dst
		}
		if e.tools == nil {
			e.tools = map[int]bool{}
		}
		e.tools[ev.Index] = true
		id := ev.ToolCallID
		if id == "" {
			id = MakeToolCallID("toolu_", ev.ToolName, ev.Index)
		}
		blk := append(make([]byte, 0, 64+len(id)+len(ev.ToolName)), `{"type":"tool_use","id":`...)
		blk = AppendJSONString(blk, id)
		blk = append(blk, `,"name":`...)
		blk = AppendJSONString(blk, ev.ToolName)
		blk = append(blk, `,"input":{}}`...)
		dst = e.openBlock(dst, anthOpenTool, blk)
		e.tool = ev.Index
		return dst
	case EvToolArgs:
		// Anthropic streams one block at a time: arguments for a call other
		// than the open one cannot be placed and are dropped.
		if ev.Args == "" || e.open != anthOpenTool || ev.Index != e.tool {
			return dst
		}
		return e.delta(dst, `{"type":"input_json_delta","partial_json":`, ev.Args)
	case EvFinish:
		dst = e.closeBlock(dst)
		e.done = true
		b := append(e.buf[:0], `{"type":"message_delta","delta":{"stop_reason":"`...)
		b = append(b, anthEncodeStop(ev.StopReason, len(e.tools) > 0)...)
		b = append(b, `","stop_sequence":`...)
		if ev.StopSequence != "" {
			b = AppendJSONString(b, ev.StopSequence)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `},"usage":`...)
		b = anthAppendUsage(b, e.usage, e.usage.Input > 0)
		b = append(b, '}')
		e.buf = b
		dst = anthEvent(dst, "message_delta", b)
		return anthEvent(dst, "message_stop", []byte(`{"type":"message_stop"}`))
	}
	return dst
}

// ---------------------------------------------------------------------------
// Same-format patching

// PatchAnthropicRequest applies an upstream's overrides to a Messages (or
// count_tokens) body, touching nothing else but what the API then demands:
// a system prompt is prepended (to a string system, or as a new first text
// block); a reasoning override sets or removes thinking, keeps max_tokens
// above budget_tokens, and with thinking on drops temperature and top_k and
// raises top_p to 0.95. Thinking is not forced on where the API would
// refuse it (models without extended thinking, a forced tool_choice, or a
// current tool turn that does not start with a thinking block).
func PatchAnthropicRequest(body []byte, o Overrides) ([]byte, error) {
	var err error
	if o.SystemPrompt != "" {
		sys := gjson.GetBytes(body, "system")
		switch {
		case !sys.Exists() || sys.Type == gjson.Null || (sys.Type == gjson.String && sys.Str == ""):
			body, err = sjson.SetBytes(body, "system", o.SystemPrompt)
		case sys.Type == gjson.String:
			body, err = sjson.SetBytes(body, "system", o.SystemPrompt+"\n\n"+sys.Str)
		case sys.IsArray():
			blk := AppendJSONString([]byte(`{"type":"text","text":`), o.SystemPrompt)
			blk = append(blk, '}')
			arr := append([]byte{'['}, blk...)
			if len(sys.Array()) > 0 {
				arr = append(arr, ',')
				arr = append(arr, sys.Raw[strings.IndexByte(sys.Raw, '[')+1:]...)
			} else {
				arr = append(arr, ']')
			}
			body, err = sjson.SetRawBytes(body, "system", arr)
		default:
			return nil, anthFieldErr("system", "Input should be a valid string or a list of text blocks")
		}
		if err != nil {
			return nil, err
		}
	}
	rs := o.ReasoningOverride()
	if rs == nil {
		return body, nil
	}
	if rs.Off {
		if gjson.GetBytes(body, "thinking").Exists() {
			return sjson.DeleteBytes(body, "thinking")
		}
		return body, nil
	}
	budget := max(1024, rs.BudgetTokens())
	family := anthFamilyMax(gjson.GetBytes(body, "model").String())
	if family != 0 && family < 32000 {
		return body, nil
	}
	if tc := gjson.GetBytes(body, "tool_choice.type").Str; tc == "any" || tc == "tool" {
		return body, nil
	}
	if !anthRawTurnStartsWithThinking(gjson.GetBytes(body, "messages")) {
		return body, nil
	}
	if mt := gjson.GetBytes(body, "max_tokens"); mt.Exists() {
		cur := int(min(max(mt.Int(), 0), math.MaxInt32))
		newMax, b := anthMaxTokens(cur, family, budget)
		if b == 0 {
			return body, nil
		}
		budget = b
		if newMax != cur {
			if body, err = sjson.SetBytes(body, "max_tokens", newMax); err != nil {
				return nil, err
			}
		}
	}
	thinking := strconv.AppendInt([]byte(`{"type":"enabled","budget_tokens":`), int64(budget), 10)
	thinking = append(thinking, '}')
	if body, err = sjson.SetRawBytes(body, "thinking", thinking); err != nil {
		return nil, err
	}
	for _, k := range []string{"temperature", "top_k"} {
		if gjson.GetBytes(body, k).Exists() {
			if body, err = sjson.DeleteBytes(body, k); err != nil {
				return nil, err
			}
		}
	}
	if p := gjson.GetBytes(body, "top_p"); p.Type == gjson.Number && p.Num < 0.95 {
		if body, err = sjson.SetBytes(body, "top_p", 0.95); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// anthRawTurnStartsWithThinking is anthTurnStartsWithThinking on a raw
// messages array.
func anthRawTurnStartsWithThinking(msgs gjson.Result) bool {
	arr := msgs.Array()
	k := -1
	for i := len(arr) - 1; i >= 0; i-- {
		if arr[i].Get("role").Str != "user" {
			continue
		}
		hasResult := false
		arr[i].Get("content").ForEach(func(_, b gjson.Result) bool {
			hasResult = b.Get("type").Str == "tool_result"
			return !hasResult
		})
		if !hasResult {
			k = i
			break
		}
	}
	for i := k + 1; i < len(arr); i++ {
		if arr[i].Get("role").Str == "assistant" {
			t := arr[i].Get("content.0.type").Str
			return t == "thinking" || t == "redacted_thinking"
		}
	}
	return true
}
