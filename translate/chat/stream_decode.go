package chat

import (
	"bytes"
	"fmt"
	"math"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// NewStreamDecoder decodes an OpenAI-compatible chat.completion.chunk
// stream.
func NewStreamDecoder() translate.StreamDecoder { return &streamDecoder{} }

type streamDecoder struct {
	started    bool
	finished   bool
	haveReason bool
	reason     translate.StopReason
	stopSeq    string
	id         string
	tools      []toolSlot
	nTools     int // tool calls started (our indexes 0..nTools-1)
}

// toolSlot maps a provider tool-call index to ours.
type toolSlot struct {
	pidx    int
	idx     int // ours; -1 while the start waits for a name
	id      string
	name    string
	pending []byte // arguments held while the name is unknown
}

func (d *streamDecoder) Finished() bool { return d.finished }

func (d *streamDecoder) Decode(dst []translate.StreamEvent, ev translate.Event) ([]translate.StreamEvent, error) {
	if d.finished {
		return dst, nil
	}
	data := ev.Data
	if string(ev.Name) == "error" {
		e := gjson.ParseBytes(data)
		if inner := e.Get("error"); inner.Exists() {
			e = inner
		}
		if !e.IsObject() {
			e = gjson.Result{Type: gjson.String, Str: string(data)}
		}
		return d.fail(dst, e), nil
	}
	if len(data) == 0 {
		return dst, nil // comment or keep-alive
	}
	if IsDone(data) {
		return d.finish(dst), nil
	}
	if !gjson.ValidBytes(data) {
		return dst, fmt.Errorf("chat stream: chunk is not valid JSON")
	}
	root := gjson.ParseBytes(data)
	if !root.IsObject() {
		return dst, fmt.Errorf("chat stream: chunk is not a JSON object")
	}
	var id, model, object, choices, usage, errv, xgroq gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "id":
			id = v
		case "model":
			model = v
		case "object":
			object = v
		case "choices":
			choices = v
		case "usage":
			usage = v
		case "error":
			errv = v
		case "x_groq":
			xgroq = v
		}
		return true
	})
	if errv.Exists() && errv.Type != gjson.Null {
		return d.fail(dst, errv), nil
	}
	if object.Str == "error" { // vLLM: {"object":"error","message":...,"code":400}
		return d.fail(dst, root), nil
	}
	if !d.started {
		d.started = true
		d.id = id.String()
		dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvStart, ID: d.id, Model: model.String()})
	}
	failed := false
	choices.ForEach(func(_, c gjson.Result) bool {
		if c.Get("index").Int() != 0 {
			return true // only the first choice is relayed
		}
		delta := c.Get("delta")
		if rc := delta.Get("reasoning_content"); rc.Type == gjson.String && rc.Str != "" {
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvThinking, Text: rc.Str})
		} else if rc := delta.Get("reasoning"); rc.Type == gjson.String && rc.Str != "" {
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvThinking, Text: rc.Str})
		}
		if t := delta.Get("content"); t.Type == gjson.String && t.Str != "" {
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvText, Text: t.Str})
		}
		if t := delta.Get("refusal"); t.Type == gjson.String && t.Str != "" {
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvText, Text: t.Str})
		}
		delta.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
			dst = d.toolDelta(dst, tc)
			return true
		})
		if fc := delta.Get("function_call"); fc.IsObject() { // legacy single call
			dst = d.toolDelta(dst, gjson.Parse(`{"index":0,"function":`+fc.Raw+`}`))
		}
		if fr := c.Get("finish_reason"); fr.Type == gjson.String && fr.Str != "" {
			if fr.Str == "error" { // OpenRouter: a mid-stream failure
				failed = true
				return false
			}
			d.haveReason, d.reason, d.stopSeq = true, stopReason(fr.Str), ""
			if sr := c.Get("stop_reason"); fr.Str == "stop" && sr.Type == gjson.String && sr.Str != "" {
				d.reason, d.stopSeq = translate.StopSequence, sr.Str
			}
		}
		return true
	})
	if failed {
		return d.fail(dst, gjson.Parse(`{"message":"upstream stream ended with finish_reason \"error\""}`)), nil
	}
	if !usage.IsObject() {
		usage = xgroq.Get("usage") // Groq puts usage under x_groq
	}
	if usage.IsObject() {
		dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvUsage, Usage: usageOf(usage)})
		if d.haveReason {
			// The answer and its usage are complete: servers that send no
			// [DONE] after the usage are still finished properly.
			return d.finish(dst), nil
		}
	}
	return dst, nil
}

func (d *streamDecoder) toolDelta(dst []translate.StreamEvent, tc gjson.Result) []translate.StreamEvent {
	id := tc.Get("id").String()
	fn := tc.Get("function")
	name := fn.Get("name").String()
	var args string
	switch a := fn.Get("arguments"); {
	case a.Type == gjson.String:
		args = a.Str
	case a.IsObject():
		args = a.Raw
	}
	var slot *toolSlot
	if ir := tc.Get("index"); ir.Type == gjson.Number {
		p := int(ir.Int())
		if p == -1 {
			p = 0
		}
		for i := len(d.tools) - 1; i >= 0; i-- {
			if d.tools[i].pidx == p {
				slot = &d.tools[i]
				break
			}
		}
		// A new id at a known index is a new call (servers that number
		// every call 0).
		if slot != nil && id != "" && slot.id != "" && id != slot.id {
			slot.pidx = math.MinInt
			slot = nil
		}
		if slot == nil {
			d.tools = append(d.tools, toolSlot{pidx: p, idx: -1, id: id})
			slot = &d.tools[len(d.tools)-1]
		}
	} else {
		if id != "" {
			for i := range d.tools {
				if d.tools[i].id == id {
					slot = &d.tools[i]
					break
				}
			}
		} else if len(d.tools) > 0 {
			slot = &d.tools[len(d.tools)-1]
		}
		if slot == nil {
			d.tools = append(d.tools, toolSlot{pidx: math.MinInt, idx: -1, id: id})
			slot = &d.tools[len(d.tools)-1]
		}
	}
	if slot.id == "" {
		slot.id = id
	}
	if slot.idx < 0 {
		if slot.name == "" {
			slot.name = name
		}
		if slot.name == "" {
			slot.pending = append(slot.pending, args...)
			return dst
		}
		dst = d.startTool(dst, slot)
	}
	if args != "" {
		dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvToolArgs, Index: slot.idx, Args: args})
	}
	return dst
}

func (d *streamDecoder) startTool(dst []translate.StreamEvent, slot *toolSlot) []translate.StreamEvent {
	slot.idx = d.nTools
	d.nTools++
	if slot.id == "" {
		slot.id = translate.MakeToolCallID("call_", d.id, slot.idx)
	}
	dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvToolStart, Index: slot.idx, ToolCallID: slot.id, ToolName: slot.name})
	if len(slot.pending) > 0 {
		dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvToolArgs, Index: slot.idx, Args: string(slot.pending)})
		slot.pending = nil
	}
	return dst
}

func (d *streamDecoder) finish(dst []translate.StreamEvent) []translate.StreamEvent {
	if !d.started {
		d.started = true
		dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvStart})
	}
	for i := range d.tools { // calls whose name never came
		if d.tools[i].idx < 0 && len(d.tools[i].pending) > 0 {
			dst = d.startTool(dst, &d.tools[i])
		}
	}
	reason := translate.StopEnd
	if d.haveReason {
		reason = d.reason
	}
	if reason == translate.StopEnd && d.nTools > 0 {
		reason = translate.StopToolUse
	}
	d.finished = true
	return translate.Append(dst, translate.StreamEvent{Type: translate.EvFinish, StopReason: reason, StopSequence: d.stopSeq})
}

func (d *streamDecoder) fail(dst []translate.StreamEvent, e gjson.Result) []translate.StreamEvent {
	msg, status := errorInfo(e)
	if msg == "" {
		msg = "upstream stream error"
	}
	d.finished = true
	return translate.Append(dst, translate.StreamEvent{Type: translate.EvError, Text: msg, Status: status})
}

// IsDone reports whether an SSE data payload is OpenAI's end marker.
func IsDone(data []byte) bool { return bytes.Equal(data, doneMarker) }

var doneMarker = []byte("[DONE]")
