package gemini

import (
	"bytes"
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// NewStreamDecoder decodes a streamGenerateContent?alt=sse stream:
// `data: {GenerateContentResponse}` chunks and no end marker.
func NewStreamDecoder() translate.StreamDecoder { return &streamDecoder{} }

type streamDecoder struct {
	started  bool
	finished bool
	seed     string
	calls    int
	usage    translate.Usage
	hasUsage bool
}

func (d *streamDecoder) Finished() bool { return d.finished }

func (d *streamDecoder) Decode(dst []translate.StreamEvent, ev translate.Event) ([]translate.StreamEvent, error) {
	data := bytes.TrimSpace(ev.Data)
	if d.finished || len(data) == 0 {
		return dst, nil
	}
	if !gjson.ValidBytes(data) {
		return dst, fmt.Errorf("gemini stream: chunk is not valid JSON")
	}
	root := gjson.ParseBytes(data)
	if !root.IsObject() {
		return dst, fmt.Errorf("gemini stream: chunk is not a JSON object")
	}
	if e := root.Get("error"); e.Exists() {
		d.finished = true
		msg := e.Get("message").String()
		if msg == "" {
			msg = e.Raw
		}
		return translate.Append(dst, translate.StreamEvent{Type: translate.EvError, Text: msg, Status: int(e.Get("code").Int())}), nil
	}
	if !d.started {
		d.started = true
		id := root.Get("responseId").String()
		d.seed = idSeed(id, "")
		dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvStart, ID: id, Model: root.Get("modelVersion").String()})
	}
	cand := root.Get("candidates.0")
	cand.Get("content.parts").ForEach(func(_, p gjson.Result) bool {
		// Gemini's own signature, or one a proxy in front wrapped.
		sp := thoughtPart(p.Get("thoughtSignature").String())
		sig, sigFormat := sp.Signature, sp.SignatureFormat
		if t := p.Get("text"); t.Exists() {
			if p.Get("thought").Bool() {
				if t.Str != "" {
					dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvThinking, Text: t.Str})
				}
				if sig != "" {
					dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvSignature, Text: sig, SignatureFormat: sigFormat})
				}
				return true
			}
			if sig != "" {
				dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvSignature, Text: sig, SignatureFormat: sigFormat})
			}
			if t.Str != "" {
				dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvText, Text: t.Str})
			}
			return true
		}
		if sig != "" {
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvSignature, Text: sig, SignatureFormat: sigFormat})
		}
		if fc := p.Get("functionCall"); fc.IsObject() {
			id := fc.Get("id").String()
			if id == "" {
				id = translate.MakeToolCallID("call_", d.seed, d.calls)
			}
			dst = append(dst,
				translate.StreamEvent{Type: translate.EvToolStart, Index: d.calls, ToolCallID: id, ToolName: fc.Get("name").String()},
				translate.StreamEvent{Type: translate.EvToolArgs, Index: d.calls, Args: argsOf(fc.Get("args"))})
			d.calls++
		}
		return true
	})
	if u, ok := ReadUsage(data); ok {
		d.usage, d.hasUsage = u, true
	}
	fr := cand.Get("finishReason").String()
	blocked := !cand.Exists() && field(root.Get("promptFeedback"), "blockReason", "block_reason").String() != ""
	if (fr == "" || fr == "FINISH_REASON_UNSPECIFIED") && !blocked {
		return dst, nil
	}
	d.finished = true
	if d.hasUsage {
		dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvUsage, Usage: d.usage})
	}
	stop := stopReason(fr, d.calls > 0)
	if blocked {
		stop = translate.StopContentFilter
	}
	return translate.Append(dst, translate.StreamEvent{Type: translate.EvFinish, StopReason: stop}), nil
}
