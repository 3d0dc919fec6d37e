package responses

import (
	"bytes"
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// NewStreamDecoder reads a Responses API event stream: response.created
// opens the answer; output_text and refusal deltas are text, reasoning
// summary (and raw reasoning_text) deltas thinking, a reasoning item's
// encrypted_content (on output_item.done) its signature; function_call
// items are tool calls whose arguments stream as
// function_call_arguments.delta; response.completed / incomplete end it
// with the usage, response.failed and error events with an error. A text,
// summary or arguments that arrive only whole (on the done events, as
// some compatible servers send them) are emitted then.
func NewStreamDecoder() translate.StreamDecoder { return &streamDecoder{} }

type streamDecoder struct {
	started, finished bool
	items             []streamItem // output items seen, by output_index order of arrival
	ntools            int
}

// streamItem is what the decoder keeps of one output item.
type streamItem struct {
	id      string
	index   int64 // output_index
	kind    string
	tool    int  // canonical tool Index (function_call)
	started bool // function_call: EvToolStart sent
	deltas  bool // some text / summary / argument delta was sent
	summary int64
}

func (d *streamDecoder) Finished() bool { return d.finished }

func (d *streamDecoder) start(dst []translate.StreamEvent, resp gjson.Result) []translate.StreamEvent {
	if d.started {
		return dst
	}
	d.started = true
	return translate.Append(dst, translate.StreamEvent{Type: translate.EvStart, ID: resp.Get("id").String(), Model: resp.Get("model").String()})
}

// item finds the item an event is about, by item_id, else output_index.
func (d *streamDecoder) item(root gjson.Result) *streamItem {
	if id := root.Get("item_id").Str; id != "" {
		for i := len(d.items) - 1; i >= 0; i-- {
			if d.items[i].id == id {
				return &d.items[i]
			}
		}
	}
	if oi := root.Get("output_index"); oi.Exists() {
		for i := len(d.items) - 1; i >= 0; i-- {
			if d.items[i].index == oi.Int() {
				return &d.items[i]
			}
		}
	}
	return nil
}

// add records an output item (from output_item.added, or a done whose
// added never came).
func (d *streamDecoder) add(root, it gjson.Result) *streamItem {
	d.items = append(d.items, streamItem{id: it.Get("id").Str, index: root.Get("output_index").Int(), kind: it.Get("type").Str})
	return &d.items[len(d.items)-1]
}

// delta marks the item a delta event is about as streamed, recording it
// if its output_item.added never came (so its done does not repeat it).
func (d *streamDecoder) delta(root gjson.Result, kind string) *streamItem {
	s := d.item(root)
	if s == nil {
		d.items = append(d.items, streamItem{id: root.Get("item_id").Str, index: root.Get("output_index").Int(), kind: kind})
		s = &d.items[len(d.items)-1]
	}
	s.deltas = true
	return s
}

var doneMarker = []byte("[DONE]")

func (d *streamDecoder) Decode(dst []translate.StreamEvent, ev translate.Event) ([]translate.StreamEvent, error) {
	if d.finished {
		return dst, nil
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 || bytes.Equal(data, doneMarker) {
		return dst, nil
	}
	if !gjson.ValidBytes(data) {
		return dst, fmt.Errorf("responses stream: %q event is not valid JSON", ev.Name)
	}
	root := gjson.ParseBytes(data)
	if !root.IsObject() {
		return dst, fmt.Errorf("responses stream: event is not a JSON object")
	}
	typ := root.Get("type").Str
	if typ == "" {
		typ = string(ev.Name)
	}
	switch typ {
	case "response.created", "response.in_progress", "response.queued":
		dst = d.start(dst, root.Get("response"))
	case "response.output_item.added":
		dst = d.start(dst, gjson.Result{})
		it := root.Get("item")
		s := d.add(root, it)
		if s.kind == "function_call" {
			dst = d.startTool(dst, s, it)
			if a := it.Get("arguments").String(); a != "" {
				s.deltas = true
				dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvToolArgs, Index: s.tool, Args: a})
			}
		}
	case "response.output_text.delta", "response.refusal.delta":
		dst = d.start(dst, gjson.Result{})
		if t := root.Get("delta").String(); t != "" {
			d.delta(root, "message")
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvText, Text: t})
		}
	case "response.reasoning_summary_part.added":
		dst = d.start(dst, gjson.Result{})
		// Summary parts are joined by a blank line, as DecodeResponse
		// joins them.
		if s := d.item(root); s != nil {
			si := root.Get("summary_index").Int()
			if si > s.summary && s.deltas {
				dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvThinking, Text: "\n\n"})
			}
			s.summary = si
		}
	case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
		dst = d.start(dst, gjson.Result{})
		if t := root.Get("delta").String(); t != "" {
			d.delta(root, "reasoning")
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvThinking, Text: t})
		}
	case "response.function_call_arguments.delta":
		dst = d.start(dst, gjson.Result{})
		s := d.item(root)
		if s == nil || s.kind != "function_call" || !s.started {
			break // arguments of a call never announced: nothing to attach them to
		}
		if a := root.Get("delta").String(); a != "" {
			s.deltas = true
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvToolArgs, Index: s.tool, Args: a})
		}
	case "response.output_item.done":
		dst = d.start(dst, gjson.Result{})
		dst = d.itemDone(dst, root)
	case "response.completed", "response.incomplete":
		resp := root.Get("response")
		dst = d.start(dst, resp)
		if u := resp.Get("usage"); u.IsObject() {
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvUsage, Usage: usageOf(u)})
		}
		status := resp.Get("status").Str
		if typ == "response.incomplete" {
			status = "incomplete"
		}
		d.finished = true
		dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvFinish,
			StopReason: stopReason(status, resp.Get("incomplete_details.reason").Str, d.ntools > 0)})
	case "response.failed":
		resp := root.Get("response")
		dst = d.start(dst, resp)
		if u := resp.Get("usage"); u.IsObject() {
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvUsage, Usage: usageOf(u)})
		}
		msg, status := failure(resp.Get("error"))
		d.finished = true
		dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvError, Text: msg, Status: status})
	case "error":
		dst = d.start(dst, gjson.Result{})
		msg, status := failure(root)
		d.finished = true
		dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvError, Text: msg, Status: status})
	}
	return dst, nil
}

func (d *streamDecoder) startTool(dst []translate.StreamEvent, s *streamItem, it gjson.Result) []translate.StreamEvent {
	s.started = true
	s.tool = d.ntools
	d.ntools++
	id := it.Get("call_id").String()
	if id == "" {
		id = translate.MakeToolCallID("call_", s.id, s.tool)
	}
	return translate.Append(dst, translate.StreamEvent{Type: translate.EvToolStart, Index: s.tool, ToolCallID: id, ToolName: it.Get("name").String()})
}

// itemDone ends an output item: what was not streamed is sent whole, and
// a reasoning item's encrypted content is the signature of its thinking.
func (d *streamDecoder) itemDone(dst []translate.StreamEvent, root gjson.Result) []translate.StreamEvent {
	it := root.Get("item")
	var s *streamItem
	if id := it.Get("id").Str; id != "" {
		for i := len(d.items) - 1; i >= 0; i-- {
			if d.items[i].id == id {
				s = &d.items[i]
				break
			}
		}
	}
	if s == nil {
		s = d.item(root)
	}
	if s == nil {
		s = d.add(root, it)
	}
	switch it.Get("type").Str {
	case "message":
		if !s.deltas {
			it.Get("content").ForEach(func(_, c gjson.Result) bool {
				t := c.Get("text").String()
				if c.Get("type").Str == "refusal" {
					t = c.Get("refusal").String()
				}
				if t != "" {
					dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvText, Text: t})
				}
				return true
			})
		}
	case "reasoning":
		if !s.deltas {
			if t := reasoningText(it); t != "" {
				dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvThinking, Text: t})
			}
		}
		if enc := it.Get("encrypted_content").String(); enc != "" {
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvSignature, Text: enc})
		}
	case "function_call":
		if !s.started {
			s.kind = "function_call"
			dst = d.startTool(dst, s, it)
		}
		if !s.deltas {
			a := it.Get("arguments").String()
			if a == "" {
				a = "{}"
			}
			s.deltas = true
			dst = translate.Append(dst, translate.StreamEvent{Type: translate.EvToolArgs, Index: s.tool, Args: a})
		}
	}
	return dst
}
