package anthropic

import (
	"net/http"
	"strconv"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

const (
	openNone uint8 = iota
	openText
	openThinking
	openTool
)

type streamEncoder struct {
	o       translate.StreamOptions
	started bool
	done    bool
	open    uint8
	nblocks int // blocks opened so far; the open one is nblocks-1
	tool    int // tool Index of the open tool block
	tools   map[int]bool
	usage   translate.Usage
	buf     []byte
}

// NewStreamEncoder writes a Messages API event stream.
func NewStreamEncoder(o translate.StreamOptions) translate.StreamEncoder {
	return &streamEncoder{o: o}
}

func appendEvent(dst []byte, name string, data []byte) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, data...)
	return append(dst, '\n', '\n')
}

func (e *streamEncoder) ensureStart(dst []byte, id, model string) []byte {
	if e.started {
		return dst
	}
	e.started = true
	if e.o.Model != "" {
		model = e.o.Model
	}
	b := append(e.buf[:0], `{"type":"message_start","message":{"id":`...)
	b = translate.AppendJSONString(b, messageID(id))
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = translate.AppendJSONString(b, model)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	u := e.usage
	if u.Output == 0 {
		u.Output = 1 // as the API reports before the first token
	}
	b = appendUsage(b, u, true)
	b = append(b, "}}"...)
	e.buf = b
	return appendEvent(dst, "message_start", b)
}

// closeBlock ends the open content block.
func (e *streamEncoder) closeBlock(dst []byte) []byte {
	if e.open == openNone {
		return dst
	}
	e.open = openNone
	b := append(e.buf[:0], `{"type":"content_block_stop","index":`...)
	b = strconv.AppendInt(b, int64(e.nblocks-1), 10)
	b = append(b, '}')
	e.buf = b
	return appendEvent(dst, "content_block_stop", b)
}

// openBlock closes the open block and starts a new one; block is the JSON
// of its content_block.
func (e *streamEncoder) openBlock(dst []byte, kind uint8, block []byte) []byte {
	dst = e.closeBlock(dst)
	b := append(e.buf[:0], `{"type":"content_block_start","index":`...)
	b = strconv.AppendInt(b, int64(e.nblocks), 10)
	b = append(b, `,"content_block":`...)
	b = append(b, block...)
	b = append(b, '}')
	e.buf = b
	e.nblocks++
	e.open = kind
	return appendEvent(dst, "content_block_start", b)
}

// delta writes a content_block_delta for the open block; field is the
// delta's type and key, value the string.
func (e *streamEncoder) delta(dst []byte, head, value string) []byte {
	b := append(e.buf[:0], `{"type":"content_block_delta","index":`...)
	b = strconv.AppendInt(b, int64(e.nblocks-1), 10)
	b = append(b, `,"delta":`...)
	b = append(b, head...)
	b = translate.AppendJSONString(b, value)
	b = append(b, "}}"...)
	e.buf = b
	return appendEvent(dst, "content_block_delta", b)
}

func (e *streamEncoder) Encode(dst []byte, ev *translate.StreamEvent) []byte {
	if e.done {
		return dst
	}
	switch ev.Type {
	case translate.EvStart:
		return e.ensureStart(dst, ev.ID, ev.Model)
	case translate.EvUsage:
		e.usage.Merge(ev.Usage)
		return dst
	case translate.EvError:
		e.done = true
		msg := ev.Text
		if msg == "" {
			msg = "upstream error"
		}
		status := ev.Status
		if status == 0 {
			status = http.StatusBadGateway // the upstream failed, how it did not say
		}
		return appendEvent(dst, "error", ErrorBody(status, msg, ""))
	}
	dst = e.ensureStart(dst, "", "")
	switch ev.Type {
	case translate.EvText:
		if ev.Text == "" {
			return dst
		}
		if e.open != openText {
			dst = e.openBlock(dst, openText, []byte(`{"type":"text","text":""}`))
		}
		return e.delta(dst, `{"type":"text_delta","text":`, ev.Text)
	case translate.EvThinking:
		if ev.Text == "" {
			return dst
		}
		if e.open != openThinking {
			dst = e.openBlock(dst, openThinking, []byte(`{"type":"thinking","thinking":"","signature":""}`))
		}
		return e.delta(dst, `{"type":"thinking_delta","thinking":`, ev.Text)
	case translate.EvSignature:
		if ev.Redacted {
			blk := translate.AppendJSONString(append(make([]byte, 0, 48+len(ev.Text)), `{"type":"redacted_thinking","data":`...), ev.Text)
			blk = append(blk, '}')
			dst = e.openBlock(dst, openThinking, blk)
			return e.closeBlock(dst)
		}
		if e.open != openThinking {
			if ev.Text == "" {
				return dst
			}
			dst = e.openBlock(dst, openThinking, []byte(`{"type":"thinking","thinking":"","signature":""}`))
		}
		if ev.Text != "" {
			dst = e.delta(dst, `{"type":"signature_delta","signature":`, clientSignature(ev.SignatureFormat, ev.Text))
		}
		return e.closeBlock(dst)
	case translate.EvToolStart:
		if e.tools[ev.Index] {
			return dst
		}
		if e.tools == nil {
			e.tools = map[int]bool{}
		}
		e.tools[ev.Index] = true
		id := ev.ToolCallID
		if id == "" {
			id = translate.MakeToolCallID("toolu_", ev.ToolName, ev.Index)
		}
		blk := append(make([]byte, 0, 64+len(id)+len(ev.ToolName)), `{"type":"tool_use","id":`...)
		blk = translate.AppendJSONString(blk, id)
		blk = append(blk, `,"name":`...)
		blk = translate.AppendJSONString(blk, ev.ToolName)
		blk = append(blk, `,"input":{}}`...)
		dst = e.openBlock(dst, openTool, blk)
		e.tool = ev.Index
		return dst
	case translate.EvToolArgs:
		// Anthropic streams one block at a time: arguments for a call other
		// than the open one cannot be placed and are dropped.
		if ev.Args == "" || e.open != openTool || ev.Index != e.tool {
			return dst
		}
		return e.delta(dst, `{"type":"input_json_delta","partial_json":`, ev.Args)
	case translate.EvFinish:
		dst = e.closeBlock(dst)
		e.done = true
		b := append(e.buf[:0], `{"type":"message_delta","delta":{"stop_reason":"`...)
		b = append(b, encodeStop(ev.StopReason, len(e.tools) > 0)...)
		b = append(b, `","stop_sequence":`...)
		if ev.StopSequence != "" {
			b = translate.AppendJSONString(b, ev.StopSequence)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `},"usage":`...)
		b = appendUsage(b, e.usage, e.usage.Input > 0)
		b = append(b, '}')
		e.buf = b
		dst = appendEvent(dst, "message_delta", b)
		return appendEvent(dst, "message_stop", []byte(`{"type":"message_stop"}`))
	}
	return dst
}
