package anthropic

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// EncodeRequest makes a Messages API request body.
func EncodeRequest(r *translate.Request) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("anthropic: nil request")
	}
	return encodeRequest(r, false), nil
}

// EncodeCountTokens makes a /v1/messages/count_tokens body: model,
// system, messages, tools, tool_choice and thinking.
func EncodeCountTokens(r *translate.Request) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("anthropic: nil request")
	}
	return encodeRequest(r, true), nil
}

func encodeRequest(r *translate.Request, count bool) []byte {
	msgs := buildMessages(r)
	// family tells which models think (by their family's own limit, not a
	// configured cap); limit bounds max_tokens.
	family := familyMax(r.Model)
	limit := family
	if r.MaxOutput > 0 {
		limit = r.MaxOutput // the engine's limit (model table or configuration)
	}
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
		case !turnStartsWithThinking(msgs):
			budget = 0
		}
	}
	maxTok := 0
	if !count {
		maxTok, budget = maxTokens(r.MaxTokens, limit, budget)
	}

	// A sixteenth over the guess: Anthropic's content blocks take more
	// framing per part than it counts.
	size := translate.RequestSize(r)
	b := make([]byte, 0, 512+size+size/16)
	b = append(b, `{"model":`...)
	b = translate.AppendJSONString(b, r.Model)
	if !count {
		b = append(b, `,"max_tokens":`...)
		b = strconv.AppendInt(b, int64(maxTok), 10)
	}
	if sys := systemText(r); sys != "" {
		b = append(b, `,"system":`...)
		b = translate.AppendJSONString(b, sys)
	}
	b = append(b, `,"messages":[`...)
	for i := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMessage(b, &msgs[i])
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
			b = translate.AppendJSONString(b, t.Name)
			if t.Description != "" {
				b = append(b, `,"description":`...)
				b = translate.AppendJSONString(b, t.Description)
			}
			b = append(b, `,"input_schema":`...)
			b = appendSchema(b, t.Parameters)
			b = append(b, '}')
		}
		b = append(b, ']')
		b = appendToolChoice(b, r)
	}
	if !count {
		if budget == 0 {
			if r.Temperature != nil && finite(*r.Temperature) {
				b = append(b, `,"temperature":`...)
				b = translate.AppendFloat(b, min(max(*r.Temperature, 0), 1))
			}
			if r.TopK != nil && *r.TopK > 0 {
				b = append(b, `,"top_k":`...)
				b = strconv.AppendInt(b, int64(*r.TopK), 10)
			}
		}
		if r.TopP != nil && finite(*r.TopP) {
			p := min(max(*r.TopP, 0), 1)
			if budget > 0 {
				p = max(p, 0.95)
			}
			b = append(b, `,"top_p":`...)
			b = translate.AppendFloat(b, p)
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
			b = translate.AppendJSONString(b, s)
		}
		if !first {
			b = append(b, ']')
		}
		if r.Stream {
			b = append(b, `,"stream":true`...)
		}
	}
	switch {
	case budget > 0 && r.Reasoning.EffortOnly:
		// Models that take no budget (Opus 4.7 and later) think
		// adaptively, as hard as the effort says.
		b = append(b, `,"thinking":{"type":"adaptive"},"output_config":{"effort":`...)
		b = translate.AppendJSONString(b, r.Reasoning.EffortLevel())
		b = append(b, '}')
	case budget > 0:
		b = append(b, `,"thinking":{"type":"enabled","budget_tokens":`...)
		b = strconv.AppendInt(b, int64(budget), 10)
		b = append(b, '}')
	}
	if !count && r.User != "" {
		b = append(b, `,"metadata":{"user_id":`...)
		b = translate.AppendJSONString(b, translate.FitUserID(r.User, maxUserID))
		b = append(b, '}')
	}
	return append(b, '}')
}

// systemText is the system prompt: the request's, with its
// mid-conversation system messages appended (only some Claude models take
// them in place, and only from Anthropic's own clients, whose requests pass
// through), and a JSON instruction for a response format.
func systemText(r *translate.Request) string {
	sys := translate.SystemText(r)
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

func appendToolChoice(b []byte, r *translate.Request) []byte {
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
			b = translate.AppendJSONString(b, name)
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

// maxUserID is the longest metadata.user_id the API takes.
const maxUserID = 256

// maxTokens picks max_tokens, and the thinking budget that fits in it
// (0 = thinking off).
func maxTokens(client, family, budget int) (int, int) {
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

// familyMax is the largest max_tokens of a Claude model's family, 0 for
// models it does not know. It finds "claude-" anywhere in the name, so
// Bedrock and Vertex ids work too.
func familyMax(model string) int {
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
			if seg == "0" || seg == "1" || (len(seg) == 8 && digits(seg)) {
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

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// appendObject writes raw if it is a JSON object (compacted), else {}.
func appendObject(b []byte, raw string) []byte {
	raw = strings.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' || !gjson.Valid(raw) {
		return append(b, "{}"...)
	}
	return append(b, gjson.Get(raw, "@ugly").Raw...)
}

// appendSchema writes a tool's input_schema: an object schema, with
// "type":"object" added when missing (the API requires it).
func appendSchema(b []byte, raw []byte) []byte {
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

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
