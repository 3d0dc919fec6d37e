package anthropic

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// DecodeResponse reads a Messages API answer.
func DecodeResponse(body []byte) (*translate.Response, error) {
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
	r := &translate.Response{ID: root.Get("id").String(), Model: root.Get("model").String(), Parts: []translate.Part{}}
	root.Get("content").ForEach(func(_, c gjson.Result) bool {
		switch c.Get("type").Str {
		case "text":
			if t := c.Get("text").String(); t != "" {
				r.Parts = append(r.Parts, translate.Part{Type: translate.PartText, Text: t})
			}
		case "thinking":
			p := translate.Part{Type: translate.PartThinking, Text: c.Get("thinking").String()}
			p.SignatureFormat, p.Signature = readSignature(c.Get("signature").String()) // (an upstream may be another proxy)
			r.Parts = append(r.Parts, p)
		case "redacted_thinking":
			r.Parts = append(r.Parts, translate.Part{Type: translate.PartThinking, Redacted: true, Data: c.Get("data").String(), SignatureFormat: Name})
		case "tool_use":
			args := "{}"
			if in := c.Get("input"); in.IsObject() {
				args = in.Raw
			}
			r.Parts = append(r.Parts, translate.Part{Type: translate.PartToolCall, ToolCallID: c.Get("id").String(), ToolName: c.Get("name").String(), Arguments: args})
		}
		return true
	})
	r.StopReason = decodeStop(root.Get("stop_reason").Str)
	if s := root.Get("stop_sequence"); s.Type == gjson.String {
		r.StopSequence = s.Str
	}
	r.Usage = usageOf(root.Get("usage"))
	return r, nil
}

func decodeStop(s string) translate.StopReason {
	switch s {
	case "max_tokens", "model_context_window_exceeded":
		return translate.StopMaxTokens
	case "stop_sequence":
		return translate.StopSequence
	case "tool_use":
		return translate.StopToolUse
	case "refusal":
		return translate.StopContentFilter
	}
	return translate.StopEnd // end_turn, pause_turn, unknown
}

func encodeStop(s translate.StopReason, tools bool) string {
	switch s {
	case translate.StopMaxTokens:
		return "max_tokens"
	case translate.StopSequence:
		return "stop_sequence"
	case translate.StopToolUse:
		return "tool_use"
	case translate.StopContentFilter:
		return "refusal"
	}
	if tools {
		return "tool_use"
	}
	return "end_turn"
}

// messageID is the id of an answer: "msg_" + id, or a new one.
func messageID(id string) string {
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

// EncodeResponse writes r as a Messages API answer.
func EncodeResponse(r *translate.Response) []byte {
	b := make([]byte, 0, 256+translate.PartsSize(r.Parts))
	b = append(b, `{"id":`...)
	b = translate.AppendJSONString(b, messageID(r.ID))
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = translate.AppendJSONString(b, r.Model)
	b = append(b, `,"content":[`...)
	n, tools := 0, false
	for k := range r.Parts {
		p := &r.Parts[k]
		var blk block
		switch p.Type {
		case translate.PartText:
			if p.Text == "" {
				continue
			}
			blk = block{kind: blockText, text: p.Text}
		case translate.PartThinking:
			if p.Redacted {
				if p.Data == "" {
					continue
				}
				blk = block{kind: blockRedacted, part: p}
			} else {
				if p.Text == "" && p.Signature == "" {
					continue
				}
				if sig := clientSignature(p.SignatureFormat, p.Signature); sig != p.Signature {
					cp := *p
					cp.Signature = sig
					p = &cp
				}
				blk = block{kind: blockThinking, part: p}
			}
		case translate.PartToolCall:
			id := p.ToolCallID
			if id == "" {
				id = translate.MakeToolCallID("toolu_", r.ID+p.ToolName, k)
			}
			blk = block{kind: blockToolUse, id: id, part: p}
			tools = true
		default:
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendBlock(b, &blk)
	}
	b = append(b, `],"stop_reason":"`...)
	b = append(b, encodeStop(r.StopReason, tools)...)
	b = append(b, `","stop_sequence":`...)
	if r.StopSequence != "" {
		b = translate.AppendJSONString(b, r.StopSequence)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"usage":`...)
	b = appendUsage(b, r.Usage, true)
	return append(b, '}')
}

// Prefix of the signature of a thinking block another provider signed
// (Gemini): Anthropic clients send thinking blocks back as they got them,
// and the issuer recorded in it keeps the signature away from Anthropic,
// which would refuse it, and takes it back to its issuer.
const foreignSigPrefix = "llmproxy:"

// clientSignature is the signature an Anthropic client gets: Anthropic's
// own (or one of unknown issuer) as is, another provider's marked with it.
func clientSignature(format, sig string) string {
	if sig == "" || format == "" || format == Name {
		return sig
	}
	return foreignSigPrefix + format + ":" + sig
}

// readSignature is the issuer and the signature of a thinking block an
// Anthropic client sent.
func readSignature(sig string) (format, raw string) {
	if rest, ok := strings.CutPrefix(sig, foreignSigPrefix); ok {
		if f, s, ok := strings.Cut(rest, ":"); ok && f != "" {
			return f, s
		}
	}
	return Name, sig
}
