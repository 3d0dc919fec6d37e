package anthropic

import (
	"bytes"
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

type streamDecoder struct {
	started, finished bool
	stop              translate.StopReason
	stopSeq           string
	ntools            int
	toolBlocks        map[int64]int // content block index -> tool Index
}

// NewStreamDecoder reads a Messages API event stream.
func NewStreamDecoder() translate.StreamDecoder { return &streamDecoder{} }

func (d *streamDecoder) Finished() bool { return d.finished }

func (d *streamDecoder) start(dst []translate.StreamEvent, id, model string) []translate.StreamEvent {
	if d.started {
		return dst
	}
	d.started = true
	return translate.Append(dst, translate.StreamEvent{Type: translate.EvStart, ID: id, Model: model})
}

func (d *streamDecoder) Decode(dst []translate.StreamEvent, ev translate.Event) ([]translate.StreamEvent, error) {
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
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvUsage, Usage: usageOf(u)})
		}
	case "content_block_start":
		dst = d.start(dst, "", "")
		idx := root.Get("index").Int()
		cb := root.Get("content_block")
		switch cb.Get("type").Str {
		case "text":
			if t := cb.Get("text").String(); t != "" {
				dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvText, Text: t})
			}
		case "thinking":
			if t := cb.Get("thinking").String(); t != "" {
				dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvThinking, Text: t})
			}
		case "redacted_thinking":
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvSignature, Redacted: true, Text: cb.Get("data").String(), SignatureFormat: Name})
		case "tool_use":
			if _, dup := d.toolBlocks[idx]; dup {
				break
			}
			if d.toolBlocks == nil {
				d.toolBlocks = map[int64]int{}
			}
			d.toolBlocks[idx] = d.ntools
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvToolStart, Index: d.ntools,
				ToolCallID: cb.Get("id").String(), ToolName: cb.Get("name").String()})
			d.ntools++
		}
	case "content_block_delta":
		dst = d.start(dst, "", "")
		delta := root.Get("delta")
		switch delta.Get("type").Str {
		case "text_delta":
			if t := delta.Get("text").String(); t != "" {
				dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvText, Text: t})
			}
		case "thinking_delta":
			if t := delta.Get("thinking").String(); t != "" {
				dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvThinking, Text: t})
			}
		case "signature_delta":
			dst = append(dst, signatureEvent(delta.Get("signature").String()))
		case "input_json_delta":
			if ti, ok := d.toolBlocks[root.Get("index").Int()]; ok {
				if a := delta.Get("partial_json").String(); a != "" {
					dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvToolArgs, Index: ti, Args: a})
				}
			}
		}
	case "message_delta":
		dst = d.start(dst, "", "")
		delta := root.Get("delta")
		if s := delta.Get("stop_reason"); s.Type == gjson.String {
			d.stop = decodeStop(s.Str)
		}
		if s := delta.Get("stop_sequence"); s.Type == gjson.String {
			d.stopSeq = s.Str
		}
		if u := root.Get("usage"); u.IsObject() {
			var usage translate.Usage
			if u.Get("input_tokens").Exists() {
				usage = usageOf(u)
			} else {
				usage.Output = u.Get("output_tokens").Int()
			}
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvUsage, Usage: usage})
		}
	case "message_stop":
		dst = d.start(dst, "", "")
		stop := d.stop
		if stop == "" {
			stop = translate.StopEnd
		}
		dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvFinish, StopReason: stop, StopSequence: d.stopSeq})
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
		dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvError, Text: msg, Status: errorStatus(et)})
		d.finished = true
	}
	return dst, nil
}

// signatureEvent is the EvSignature of a signature_delta (whose issuer is
// Anthropic, unless another proxy in front recorded another).
func signatureEvent(sig string) translate.StreamEvent {
	ev := translate.StreamEvent{Type: translate.EvSignature}
	ev.SignatureFormat, ev.Text = readSignature(sig)
	return ev
}
