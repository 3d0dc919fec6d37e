package responses

import (
	"strconv"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Kinds of the output item a Responses stream has open.
const (
	itemNone = iota
	itemReasoning
	itemMessage
	itemFunction
)

type streamEncoder struct {
	o       translate.StreamOptions
	seq     int64
	started bool
	ended   bool
	obj     object
	usage   translate.Usage

	// The open output item.
	kind   int
	itemID string
	text   []byte // reasoning summary, message text or call arguments so far
	tool   int    // the canonical Index of the open function call
	callID string
	name   string
	tools  []int // canonical tool indexes already opened
}

// NewStreamEncoder makes a stream encoder for a Responses client.
func NewStreamEncoder(o translate.StreamOptions) translate.StreamEncoder {
	return &streamEncoder{o: o}
}

// event opens an SSE event of type typ; the caller appends the payload's
// further fields and closes it with endEvent.
func (e *streamEncoder) event(b []byte, typ string) []byte {
	b = append(b, "event: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: {\"type\":\""...)
	b = append(b, typ...)
	b = append(b, `","sequence_number":`...)
	b = strconv.AppendInt(b, e.seq, 10)
	e.seq++
	return b
}

func endEvent(b []byte) []byte { return append(b, "}\n\n"...) }

// itemFields appends the item_id and output_index of the open item.
func (e *streamEncoder) itemFields(b []byte) []byte {
	b = append(b, `,"item_id":`...)
	b = translate.AppendJSONString(b, e.itemID)
	b = append(b, `,"output_index":`...)
	return strconv.AppendInt(b, int64(len(e.obj.output)), 10)
}

func (e *streamEncoder) start(b []byte, id, model string) []byte {
	e.started = true
	if e.o.Model != "" {
		model = e.o.Model
	}
	e.obj = object{id: responseID(id), model: model, created: translate.Now().Unix(), status: "in_progress"}
	for _, typ := range [...]string{"response.created", "response.in_progress"} {
		b = e.event(b, typ)
		b = append(b, `,"response":`...)
		b = e.obj.append(b)
		b = endEvent(b)
	}
	return b
}

func (e *streamEncoder) Encode(dst []byte, ev *translate.StreamEvent) []byte {
	if e.ended {
		return dst
	}
	if !e.started {
		if ev.Type == translate.EvStart {
			return e.start(dst, ev.ID, ev.Model)
		}
		dst = e.start(dst, "", "")
	}
	switch ev.Type {
	case translate.EvText:
		if ev.Text == "" {
			return dst
		}
		if e.kind != itemMessage {
			dst = e.closeItem(dst, "completed")
			dst = e.openMessage(dst)
		}
		e.text = append(e.text, ev.Text...)
		dst = e.event(dst, "response.output_text.delta")
		dst = e.itemFields(dst)
		dst = append(dst, `,"content_index":0,"delta":`...)
		dst = translate.AppendJSONString(dst, ev.Text)
		dst = append(dst, `,"logprobs":[]`...)
		dst = endEvent(dst)
	case translate.EvThinking:
		if ev.Text == "" {
			return dst
		}
		if e.kind != itemReasoning {
			dst = e.closeItem(dst, "completed")
			dst = e.openReasoning(dst)
		}
		e.text = append(e.text, ev.Text...)
		dst = e.event(dst, "response.reasoning_summary_text.delta")
		dst = e.itemFields(dst)
		dst = append(dst, `,"summary_index":0,"delta":`...)
		dst = translate.AppendJSONString(dst, ev.Text)
		dst = endEvent(dst)
	case translate.EvSignature:
		enc := encrypted(ev.Text, ev.Redacted, ev.Text)
		if enc == "" {
			return dst
		}
		if ev.Redacted && e.kind == itemReasoning {
			// Redacted thinking is a block of its own, not the signature
			// of the reasoning streamed so far.
			dst = e.closeItem(dst, "completed")
		}
		if e.kind != itemReasoning {
			// A signature without streamed reasoning text (or redacted
			// thinking): a reasoning item of its own, with an empty summary.
			dst = e.closeItem(dst, "completed")
			e.kind, e.itemID = itemReasoning, itemID("rs_", e.obj.id, len(e.obj.output))
			e.text = e.text[:0]
			dst = e.event(dst, "response.output_item.added")
			dst = e.itemAdded(dst)
		}
		dst = e.closeReasoning(dst, enc)
	case translate.EvToolStart:
		if e.seenTool(ev.Index) {
			return dst
		}
		e.tools = append(e.tools, ev.Index)
		dst = e.closeItem(dst, "completed")
		n := len(e.obj.output)
		e.kind, e.itemID, e.tool = itemFunction, itemID("fc_", e.obj.id, n), ev.Index
		e.text = e.text[:0]
		e.callID, e.name = ev.ToolCallID, ev.ToolName
		if e.callID == "" {
			e.callID = translate.MakeToolCallID("call_", e.obj.id, ev.Index)
		}
		dst = e.event(dst, "response.output_item.added")
		dst = e.itemAdded(dst)
	case translate.EvToolArgs:
		// Arguments of a call already closed (another item came in
		// between) cannot be sent any more; no provider interleaves them.
		if e.kind != itemFunction || e.tool != ev.Index || ev.Args == "" {
			return dst
		}
		e.text = append(e.text, ev.Args...)
		dst = e.event(dst, "response.function_call_arguments.delta")
		dst = e.itemFields(dst)
		dst = append(dst, `,"delta":`...)
		dst = translate.AppendJSONString(dst, ev.Args)
		dst = endEvent(dst)
	case translate.EvUsage:
		e.usage.Merge(ev.Usage)
	case translate.EvFinish:
		e.obj.setStop(ev.StopReason)
		status := "completed"
		if e.obj.status == "incomplete" {
			status = "incomplete"
		}
		dst = e.closeItem(dst, status)
		e.obj.completed = translate.Now().Unix()
		e.obj.usage = &e.usage
		typ := "response.completed"
		if e.obj.status == "incomplete" {
			typ = "response.incomplete"
		}
		dst = e.event(dst, typ)
		dst = append(dst, `,"response":`...)
		dst = e.obj.append(dst)
		dst = endEvent(dst)
		e.ended = true
	case translate.EvError:
		dst = e.fail(dst, ev.Status, ev.Text, "")
	}
	return dst
}

// fail ends the response with response.failed (see failedCode).
func (e *streamEncoder) fail(dst []byte, status int, msg, code string) []byte {
	e.obj.status = "failed"
	e.obj.errCode = failedCode(status, code)
	e.obj.errMsg = msg
	if e.obj.errMsg == "" {
		e.obj.errMsg = "the upstream stream failed"
	}
	e.obj.usage = &e.usage
	dst = e.event(dst, "response.failed")
	dst = append(dst, `,"response":`...)
	dst = e.obj.append(dst)
	dst = endEvent(dst)
	e.ended = true
	return dst
}

func (e *streamEncoder) seenTool(i int) bool {
	for _, t := range e.tools {
		if t == i {
			return true
		}
	}
	return false
}

// itemAdded appends the output_index and the in-progress item of an
// output_item.added event and closes the event.
func (e *streamEncoder) itemAdded(b []byte) []byte {
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(len(e.obj.output)), 10)
	b = append(b, `,"item":`...)
	switch e.kind {
	case itemReasoning:
		b = reasoningItem(b, e.itemID, "", false, "")
	case itemMessage:
		b = append(b, `{"id":`...)
		b = translate.AppendJSONString(b, e.itemID)
		b = append(b, `,"type":"message","status":"in_progress","content":[],"role":"assistant"}`...)
	case itemFunction:
		b = functionItem(b, e.itemID, "in_progress", "", e.callID, e.name)
	}
	return endEvent(b)
}

func (e *streamEncoder) openMessage(b []byte) []byte {
	e.kind, e.itemID = itemMessage, itemID("msg_", e.obj.id, len(e.obj.output))
	e.text = e.text[:0]
	b = e.event(b, "response.output_item.added")
	b = e.itemAdded(b)
	b = e.event(b, "response.content_part.added")
	b = e.itemFields(b)
	b = append(b, `,"content_index":0,"part":`...)
	b = outputText(b, "")
	return endEvent(b)
}

func (e *streamEncoder) openReasoning(b []byte) []byte {
	e.kind, e.itemID = itemReasoning, itemID("rs_", e.obj.id, len(e.obj.output))
	e.text = e.text[:0]
	b = e.event(b, "response.output_item.added")
	b = e.itemAdded(b)
	b = e.event(b, "response.reasoning_summary_part.added")
	b = e.itemFields(b)
	b = append(b, `,"summary_index":0,"part":`...)
	b = summaryText(b, "")
	return endEvent(b)
}

// closeReasoning ends the open reasoning item, with encrypted content enc.
func (e *streamEncoder) closeReasoning(b []byte, enc string) []byte {
	text := string(e.text)
	if text != "" {
		b = e.event(b, "response.reasoning_summary_text.done")
		b = e.itemFields(b)
		b = append(b, `,"summary_index":0,"text":`...)
		b = translate.AppendJSONString(b, text)
		b = endEvent(b)
		b = e.event(b, "response.reasoning_summary_part.done")
		b = e.itemFields(b)
		b = append(b, `,"summary_index":0,"part":`...)
		b = summaryText(b, text)
		b = endEvent(b)
	}
	item := reasoningItem(nil, e.itemID, text, text != "", enc)
	return e.itemDone(b, item)
}

// itemDone sends output_item.done for the open item and records it.
func (e *streamEncoder) itemDone(b, item []byte) []byte {
	b = e.event(b, "response.output_item.done")
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(len(e.obj.output)), 10)
	b = append(b, `,"item":`...)
	b = append(b, item...)
	b = endEvent(b)
	e.obj.output = append(e.obj.output, item)
	e.kind = itemNone
	return b
}

// closeItem ends the open item, if any; status is a message's final status.
func (e *streamEncoder) closeItem(b []byte, status string) []byte {
	switch e.kind {
	case itemReasoning:
		return e.closeReasoning(b, "")
	case itemMessage:
		text := string(e.text)
		b = e.event(b, "response.output_text.done")
		b = e.itemFields(b)
		b = append(b, `,"content_index":0,"text":`...)
		b = translate.AppendJSONString(b, text)
		b = append(b, `,"logprobs":[]`...)
		b = endEvent(b)
		b = e.event(b, "response.content_part.done")
		b = e.itemFields(b)
		b = append(b, `,"content_index":0,"part":`...)
		b = outputText(b, text)
		b = endEvent(b)
		return e.itemDone(b, messageItem(nil, e.itemID, status, text))
	case itemFunction:
		if len(e.text) == 0 {
			e.text = append(e.text, "{}"...)
			b = e.event(b, "response.function_call_arguments.delta")
			b = e.itemFields(b)
			b = append(b, `,"delta":"{}"`...)
			b = endEvent(b)
		}
		args := string(e.text)
		b = e.event(b, "response.function_call_arguments.done")
		b = e.itemFields(b)
		b = append(b, `,"arguments":`...)
		b = translate.AppendJSONString(b, args)
		b = endEvent(b)
		return e.itemDone(b, functionItem(nil, e.itemID, "completed", args, e.callID, e.name))
	}
	return b
}
