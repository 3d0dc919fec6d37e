package responses

// The provider half: requests for an `openai_responses` upstream (POST
// /v1/responses), and the answers and streams it sends back.
//
// Mapping notes (canonical -> Responses):
//   - System is `instructions`; messages become input items in order: user
//     text and images one `message` item each turn (`input_text`,
//     `input_image` with a data URL or the http URL), assistant text one
//     `message` item (string content) per run of text, tool calls
//     `function_call` items, tool results `function_call_output` items
//     (string output, or input_text/input_image parts when there are
//     images). The error flag of a tool result has no field and is dropped.
//   - The history is made self-contained, as store=false demands: a result
//     whose call is not in the history becomes user text naming the call,
//     a call without a result gets one saying none was recorded, call ids
//     repeated across turns get a suffix, ids over 64 bytes a stable hash.
//   - Thinking goes back only as OpenAI made it: a thinking part whose
//     Signature is OpenAI encrypted reasoning (a Fernet token; Gemini
//     clients may have re-encoded it as standard base64) becomes a
//     `reasoning` item with that encrypted_content and its summary text,
//     for reasoning models only. Other providers' signatures and unsigned
//     reasoning text mean nothing to OpenAI and are dropped.
//   - Every translated request is stateless: store=false, and reasoning
//     models get include ["reasoning.encrypted_content"] so their
//     reasoning round-trips through the client as a signature.
//   - Reasoning models (o1/o3/o4, gpt-5 but gpt-5-chat, codex-, gpt-oss)
//     get reasoning.effort (low/medium/high) and lose temperature and top_p,
//     which they refuse; other models never get reasoning parameters.
//     Reasoning "off" cannot be said to every reasoning model: the model's
//     default effort applies. Reasoning summaries are not asked for: OpenAI
//     refuses them to unverified organizations, so reasoning text reaches
//     clients only from upstreams that send it unasked.
//   - Stop sequences and top_k have no Responses field and are dropped.
//   - max_output_tokens is at least 16 (the API's minimum) and at most the
//     model family's known output limit.
//   - Function tools are sent with "strict": false (the Responses API makes
//     tools strict by default, which most client schemas fail).
//   - User becomes safety_identifier (at most 64 bytes: a longer one is
//     sent as its SHA-256 in hex).

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// minOutputTokens is the smallest max_output_tokens the API accepts.
const minOutputTokens = 16

// maxCallIDLen is the longest call_id sent; longer ids are hashed.
const maxCallIDLen = 64

// maxSafetyID is the longest safety_identifier the API accepts.
const maxSafetyID = 64

// missingResult answers a function call whose result the history lacks.
const missingResult = "No result was recorded for this tool call."

// EncodeRequest writes a Responses API request body (POST /v1/responses).
func EncodeRequest(r *translate.Request) ([]byte, error) {
	if r == nil || r.Model == "" {
		return nil, fmt.Errorf("responses: request has no model")
	}
	reasoning := ReasoningModel(r.Model)
	size := translate.RequestSize(r)
	b := make([]byte, 0, 512+size+size/8)
	b = append(b, `{"model":`...)
	b = translate.AppendJSONString(b, r.Model)
	if r.System != "" {
		b = append(b, `,"instructions":`...)
		b = translate.AppendJSONString(b, r.System)
	}
	b = append(b, `,"input":[`...)
	b = appendInput(b, r, reasoning)
	b = append(b, ']')

	if len(r.Tools) > 0 {
		b = append(b, `,"tools":[`...)
		for i := range r.Tools {
			t := &r.Tools[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":"function","name":`...)
			b = translate.AppendJSONString(b, t.Name)
			if t.Description != "" {
				b = append(b, `,"description":`...)
				b = translate.AppendJSONString(b, t.Description)
			}
			b = append(b, `,"parameters":`...)
			switch {
			case len(t.Parameters) == 0:
				b = append(b, `{"type":"object","properties":{}}`...)
			case gjson.ValidBytes(t.Parameters):
				b = append(b, gjson.GetBytes(t.Parameters, "@ugly").Raw...)
			default:
				return nil, fmt.Errorf("responses: tool %q has invalid parameters JSON", t.Name)
			}
			b = append(b, `,"strict":false}`...)
		}
		b = append(b, ']')
		if tc := r.ToolChoice; tc != nil {
			b = append(b, `,"tool_choice":`...)
			switch {
			case tc.Mode == "none" || tc.Mode == "required":
				b = translate.AppendJSONString(b, tc.Mode)
			case tc.Mode == "tool" && tc.Name != "":
				b = append(b, `{"type":"function","name":`...)
				b = translate.AppendJSONString(b, tc.Name)
				b = append(b, '}')
			case tc.Mode == "tool":
				b = append(b, `"required"`...)
			default:
				b = append(b, `"auto"`...)
			}
		}
		if r.ParallelToolCalls != nil {
			b = append(b, `,"parallel_tool_calls":`...)
			b = strconv.AppendBool(b, *r.ParallelToolCalls)
		}
	}

	if r.MaxTokens > 0 {
		n := max(r.MaxTokens, minOutputTokens)
		if limit := outputLimit(r.Model); limit > 0 {
			n = min(n, limit)
		}
		b = append(b, `,"max_output_tokens":`...)
		b = strconv.AppendInt(b, int64(n), 10)
	}
	if !reasoning {
		if r.Temperature != nil {
			b = append(b, `,"temperature":`...)
			b = translate.AppendFloat(b, min(max(*r.Temperature, 0), 2))
		}
		if r.TopP != nil {
			b = append(b, `,"top_p":`...)
			b = translate.AppendFloat(b, min(max(*r.TopP, 0), 1))
		}
	}
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			b = append(b, `,"text":{"format":{"type":"json_object"}}`...)
		case "json_schema":
			b = append(b, `,"text":{"format":{"type":"json_schema","name":`...)
			b = translate.AppendJSONString(b, schemaName(rf.Name))
			b = append(b, `,"schema":`...)
			switch {
			case len(rf.Schema) == 0:
				b = append(b, `{"type":"object"}`...)
			case gjson.ValidBytes(rf.Schema):
				b = append(b, gjson.GetBytes(rf.Schema, "@ugly").Raw...)
			default:
				return nil, fmt.Errorf("responses: response format has invalid schema JSON")
			}
			b = append(b, `,"strict":`...)
			b = strconv.AppendBool(b, rf.Strict)
			b = append(b, `}}`...)
		}
	}
	if reasoning {
		if rs := r.Reasoning; rs != nil && !rs.Off {
			b = append(b, `,"reasoning":{"effort":`...)
			b = translate.AppendJSONString(b, rs.EffortLevel())
			b = append(b, '}')
		}
		b = append(b, `,"include":["reasoning.encrypted_content"]`...)
	}
	b = append(b, `,"store":false`...)
	if r.Stream {
		b = append(b, `,"stream":true`...)
	}
	if r.User != "" {
		b = append(b, `,"safety_identifier":`...)
		b = translate.AppendJSONString(b, safetyID(r.User))
	}
	return append(b, '}'), nil
}

// ReasoningModel reports the OpenAI model families that reason: they take
// reasoning.effort and refuse temperature and top_p. A vendor prefix
// ("openai/gpt-5") is looked through.
func ReasoningModel(model string) bool {
	m := baseModel(model)
	switch {
	case strings.HasPrefix(m, "gpt-5-chat"):
		return false
	case strings.HasPrefix(m, "o1"), strings.HasPrefix(m, "o3"), strings.HasPrefix(m, "o4"),
		strings.HasPrefix(m, "gpt-5"), strings.HasPrefix(m, "codex-"), strings.HasPrefix(m, "gpt-oss"):
		return true
	}
	return false
}

// outputLimit is the most output tokens a model family allows, 0 for
// models it does not know.
func outputLimit(model string) int {
	m := baseModel(model)
	switch {
	case strings.HasPrefix(m, "gpt-5-chat"):
		return 16384
	case strings.HasPrefix(m, "gpt-5"):
		return 128000
	case strings.HasPrefix(m, "o1-mini"):
		return 65536
	case strings.HasPrefix(m, "o1-preview"):
		return 32768
	case strings.HasPrefix(m, "o1"), strings.HasPrefix(m, "o3"), strings.HasPrefix(m, "o4"), strings.HasPrefix(m, "codex-mini"):
		return 100000
	case strings.HasPrefix(m, "gpt-4.1"):
		return 32768
	case strings.HasPrefix(m, "gpt-4o"):
		return 16384
	case strings.HasPrefix(m, "gpt-4-turbo"), strings.HasPrefix(m, "gpt-3.5"):
		return 4096
	case strings.HasPrefix(m, "gpt-4"):
		return 8192
	}
	return 0
}

func baseModel(model string) string {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	return strings.ToLower(model)
}

// schemaName is a text.format name the API accepts (^[a-zA-Z0-9_-]{1,64}$).
func schemaName(n string) string {
	if n == "" {
		return "response"
	}
	b := []byte(n)
	for i, c := range b {
		if !idChar(c) {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

func idChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// safetyID is a user id within the API's length limit.
func safetyID(u string) string {
	if len(u) <= maxSafetyID {
		return u
	}
	sum := sha256.Sum256([]byte(u))
	return hex.EncodeToString(sum[:])
}

// callID is a call id within the length limit: kept when it fits, else a
// stable shorter id (the same for the call and its result).
func callID(id string) string {
	if len(id) <= maxCallIDLen {
		return id
	}
	return translate.MakeToolCallID("call_", id, 0)
}

// OpenAIEncrypted returns sig as the encrypted_content OpenAI issued, or
// "" when sig is not OpenAI's: OpenAI's encrypted reasoning is a Fernet
// token (version byte 0x80, at least 57 bytes, URL-safe base64). A Gemini
// client hands it back as standard base64, so any base64 form is read and
// the token rewritten in Fernet's own form.
func OpenAIEncrypted(sig string) string {
	if len(sig) < 76 || sig[0] != 'g' {
		return ""
	}
	for _, enc := range [...]*base64.Encoding{base64.URLEncoding, base64.StdEncoding, base64.RawURLEncoding, base64.RawStdEncoding} {
		raw, err := enc.DecodeString(sig)
		if err != nil {
			continue
		}
		if len(raw) < 57 || raw[0] != 0x80 {
			return ""
		}
		if enc == base64.URLEncoding {
			return sig
		}
		return base64.URLEncoding.EncodeToString(raw)
	}
	return ""
}

// inputBuilder writes the input items, keeping call ids consistent.
type inputBuilder struct {
	b       []byte
	n       int             // items written
	calls   map[string]bool // wire call ids of calls written
	pending []pendingCall   // calls of the last assistant turn
}

type pendingCall struct {
	orig, wire string
	answered   bool
}

func (ib *inputBuilder) item() {
	if ib.n > 0 {
		ib.b = append(ib.b, ',')
	}
	ib.n++
}

func appendInput(b []byte, r *translate.Request, reasoning bool) []byte {
	ib := &inputBuilder{b: b, calls: map[string]bool{}}
	for mi := range r.Messages {
		m := &r.Messages[mi]
		if m.Role == translate.RoleAssistant {
			ib.closeTurn()
			ib.assistant(m, reasoning)
			continue
		}
		// User and tool messages: results first, then the user's content.
		var rest []translate.Part
		for pi := range m.Parts {
			p := &m.Parts[pi]
			switch p.Type {
			case translate.PartToolResult:
				ib.result(p)
			case translate.PartText:
				if p.Text != "" {
					rest = append(rest, *p)
				}
			case translate.PartImage:
				if p.Data != "" || p.URL != "" {
					rest = append(rest, *p)
				}
			}
		}
		if len(rest) > 0 {
			ib.closeTurn()
			ib.user(rest)
		}
	}
	ib.closeTurn()
	return ib.b
}

// closeTurn answers the calls of the last assistant turn that got no
// result, before the conversation moves on.
func (ib *inputBuilder) closeTurn() {
	for _, c := range ib.pending {
		if !c.answered {
			ib.output(c.wire, []translate.Part{{Type: translate.PartText, Text: missingResult}})
		}
	}
	ib.pending = ib.pending[:0]
}

func (ib *inputBuilder) assistant(m *translate.Message, reasoning bool) {
	var text strings.Builder
	flush := func() {
		if text.Len() == 0 {
			return
		}
		ib.item()
		ib.b = append(ib.b, `{"type":"message","role":"assistant","content":`...)
		ib.b = translate.AppendJSONString(ib.b, text.String())
		ib.b = append(ib.b, '}')
		text.Reset()
	}
	for pi := range m.Parts {
		p := &m.Parts[pi]
		switch p.Type {
		case translate.PartText:
			text.WriteString(p.Text)
		case translate.PartThinking:
			if !reasoning || p.Redacted {
				continue
			}
			enc := OpenAIEncrypted(p.Signature)
			if enc == "" {
				continue
			}
			flush()
			ib.item()
			ib.b = append(ib.b, `{"type":"reasoning","summary":[`...)
			if p.Text != "" {
				ib.b = append(ib.b, `{"type":"summary_text","text":`...)
				ib.b = translate.AppendJSONString(ib.b, p.Text)
				ib.b = append(ib.b, '}')
			}
			ib.b = append(ib.b, `],"encrypted_content":`...)
			ib.b = translate.AppendJSONString(ib.b, enc)
			ib.b = append(ib.b, '}')
		case translate.PartToolCall:
			flush()
			orig := p.ToolCallID
			if orig == "" {
				orig = translate.MakeToolCallID("call_", p.ToolName, len(ib.calls))
			}
			wire := callID(orig)
			for n := 2; ib.calls[wire]; n++ {
				wire = callID(orig + "_" + strconv.Itoa(n))
			}
			ib.calls[wire] = true
			ib.pending = append(ib.pending, pendingCall{orig: orig, wire: wire})
			args := strings.TrimSpace(p.Arguments)
			if args == "" {
				args = "{}"
			}
			ib.item()
			ib.b = append(ib.b, `{"type":"function_call","call_id":`...)
			ib.b = translate.AppendJSONString(ib.b, wire)
			ib.b = append(ib.b, `,"name":`...)
			ib.b = translate.AppendJSONString(ib.b, p.ToolName)
			ib.b = append(ib.b, `,"arguments":`...)
			ib.b = translate.AppendJSONString(ib.b, args)
			ib.b = append(ib.b, '}')
		}
	}
	flush()
}

// result writes a tool result as the output of the call it answers, or,
// when the history has no such call waiting, as user text naming it.
func (ib *inputBuilder) result(p *translate.Part) {
	for i := range ib.pending {
		c := &ib.pending[i]
		if c.answered || (c.orig != p.ToolCallID && p.ToolCallID != "") {
			continue
		}
		c.answered = true
		ib.output(c.wire, p.Content)
		return
	}
	var sb strings.Builder
	sb.WriteString(translate.OrphanLabel(p))
	parts := []translate.Part{{}}
	for k := range p.Content {
		c := &p.Content[k]
		switch c.Type {
		case translate.PartText:
			sb.WriteByte('\n')
			sb.WriteString(c.Text)
		case translate.PartImage:
			if c.Data != "" || c.URL != "" {
				parts = append(parts, *c)
			}
		}
	}
	parts[0] = translate.Part{Type: translate.PartText, Text: sb.String()}
	ib.user(parts)
}

// output writes a function_call_output item: a string, or content parts
// when the result has images.
func (ib *inputBuilder) output(wire string, content []translate.Part) {
	ib.item()
	ib.b = append(ib.b, `{"type":"function_call_output","call_id":`...)
	ib.b = translate.AppendJSONString(ib.b, wire)
	ib.b = append(ib.b, `,"output":`...)
	images := false
	for i := range content {
		images = images || (content[i].Type == translate.PartImage && (content[i].Data != "" || content[i].URL != ""))
	}
	if !images {
		var sb strings.Builder
		for i := range content {
			if content[i].Type == translate.PartText {
				if sb.Len() > 0 {
					sb.WriteByte('\n')
				}
				sb.WriteString(content[i].Text)
			}
		}
		ib.b = translate.AppendJSONString(ib.b, sb.String())
	} else {
		ib.b = appendContent(ib.b, content)
	}
	ib.b = append(ib.b, '}')
}

// user writes a user message item.
func (ib *inputBuilder) user(parts []translate.Part) {
	ib.item()
	ib.b = append(ib.b, `{"type":"message","role":"user","content":`...)
	if len(parts) == 1 && parts[0].Type == translate.PartText {
		ib.b = translate.AppendJSONString(ib.b, parts[0].Text)
	} else {
		ib.b = appendContent(ib.b, parts)
	}
	ib.b = append(ib.b, '}')
}

// appendContent writes input_text and input_image parts.
func appendContent(b []byte, parts []translate.Part) []byte {
	b = append(b, '[')
	first := true
	for i := range parts {
		p := &parts[i]
		switch {
		case p.Type == translate.PartText && p.Text != "":
			if !first {
				b = append(b, ',')
			}
			b = append(b, `{"type":"input_text","text":`...)
			b = translate.AppendJSONString(b, p.Text)
			b = append(b, '}')
		case p.Type == translate.PartImage && (p.Data != "" || p.URL != ""):
			if !first {
				b = append(b, ',')
			}
			b = append(b, `{"type":"input_image","image_url":`...)
			b = translate.AppendJSONString(b, imageURL(p))
			b = append(b, `,"detail":"auto"}`...)
		default:
			continue
		}
		first = false
	}
	return append(b, ']')
}

// imageURL is an image part's http URL, else a data URL of its data.
func imageURL(p *translate.Part) string {
	if p.Data == "" {
		return p.URL
	}
	mt := p.MediaType
	if mt == "" {
		mt = "image/png"
	}
	return "data:" + mt + ";base64," + p.Data
}
