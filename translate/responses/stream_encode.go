package responses

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Kinds of the output item a Responses stream has open.
const (
	itemNone = iota
	itemReasoning
	itemMessage
	itemFunction
	itemCustom // a custom tool's call: its arguments' "input" streamed as text
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
	ns     string // the namespace of the open call's tool
	tools  []int  // canonical tool indexes already opened
	input  inputStream
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
		enc := encrypted(ev.Text, ev.Redacted, ev.Text, ev.SignatureFormat)
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
		if ev.ToolKind == translate.ToolCustom {
			e.kind, e.itemID = itemCustom, itemID("ctc_", e.obj.id, n)
			e.input = inputStream{}
		}
		e.text = e.text[:0]
		e.callID, e.name, e.ns = ev.ToolCallID, ev.ToolName, ev.Namespace
		if e.callID == "" {
			e.callID = translate.MakeToolCallID("call_", e.obj.id, ev.Index)
		}
		dst = e.event(dst, "response.output_item.added")
		dst = e.itemAdded(dst)
	case translate.EvToolArgs:
		// Arguments of a call already closed (another item came in
		// between) cannot be sent any more; no provider interleaves them.
		if (e.kind != itemFunction && e.kind != itemCustom) || e.tool != ev.Index || ev.Args == "" {
			return dst
		}
		e.text = append(e.text, ev.Args...)
		if e.kind == itemCustom {
			return e.customDelta(dst, e.input.feed(ev.Args))
		}
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
		b = functionItem(b, e.itemID, "in_progress", "", e.callID, e.name, e.ns)
	case itemCustom:
		b = customItem(b, e.itemID, "in_progress", "", e.callID, e.name, e.ns)
	}
	return endEvent(b)
}

// customDelta sends a piece of a custom tool call's input.
func (e *streamEncoder) customDelta(b []byte, delta string) []byte {
	if delta == "" {
		return b
	}
	e.input.sent += delta
	b = e.event(b, "response.custom_tool_call_input.delta")
	b = e.itemFields(b)
	b = append(b, `,"delta":`...)
	b = translate.AppendJSONString(b, delta)
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
		return e.itemDone(b, functionItem(nil, e.itemID, "completed", args, e.callID, e.name, e.ns))
	case itemCustom:
		// The whole input, read from the whole arguments; what was not
		// streamed yet (arguments that did not start with "input") goes
		// out now.
		input := translate.CustomToolInput(string(e.text))
		if rest, ok := strings.CutPrefix(input, e.input.sent); ok {
			b = e.customDelta(b, rest)
		} else {
			input = e.input.sent
		}
		b = e.event(b, "response.custom_tool_call_input.done")
		b = e.itemFields(b)
		b = append(b, `,"input":`...)
		b = translate.AppendJSONString(b, input)
		b = endEvent(b)
		return e.itemDone(b, customItem(nil, e.itemID, "completed", input, e.callID, e.name, e.ns))
	}
	return b
}

// inputStream reads the "input" string out of a custom tool call's JSON
// arguments as their fragments arrive, so the input streams as the model
// writes it. Arguments that do not start with {"input": are not read
// here: the whole input is sent when the call ends.
type inputStream struct {
	state   uint8  // what the next bytes are (see feed)
	pending []byte // the key so far, or an escape sequence cut by a fragment boundary
	hold    []byte // a character cut by a fragment boundary
	sent    string // input sent so far
}

const (
	inKey    uint8 = iota // before the first key (and in it)
	inColon               // after the key, before the value's quote
	inString              // in the input string
	inDone                // past it, or not streaming
)

const inputKey = `"input"`

// feed reads one fragment and returns the input text it completes.
func (s *inputStream) feed(frag string) string {
	var out []byte
	for i := 0; i < len(frag) && s.state != inDone; i++ {
		c := frag[i]
		switch s.state {
		case inKey:
			if len(s.pending) == 0 && (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				continue
			}
			if len(s.pending) == 0 {
				if c != '{' {
					s.state = inDone
					continue
				}
				s.pending = append(s.pending, c)
				continue
			}
			if len(s.pending) == 1 && (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				continue
			}
			s.pending = append(s.pending, c)
			k := s.pending[1:]
			if !strings.HasPrefix(inputKey, string(k)) {
				s.state = inDone
			} else if len(k) == len(inputKey) {
				s.state, s.pending = inColon, s.pending[:0]
			}
		case inColon:
			switch c {
			case ' ', '\t', '\n', '\r', ':':
			case '"':
				s.state = inString
			default:
				s.state = inDone
			}
		case inString:
			if len(s.pending) > 0 {
				s.pending = append(s.pending, c)
				switch r, st := unescape(s.pending); st {
				case escDone:
					out = append(out, r...)
					s.pending = s.pending[:0]
				case escBad:
					s.state = inDone
				}
				continue
			}
			switch c {
			case '\\':
				s.pending = append(s.pending, c)
			case '"':
				s.state = inDone
			default:
				out = append(out, c)
			}
		}
	}
	// A character cut by the fragment boundary waits for its other bytes.
	out = append(s.hold, out...)
	s.hold = s.hold[:0]
	if k := incompleteTail(out); k > 0 {
		s.hold = append(s.hold, out[len(out)-k:]...)
		out = out[:len(out)-k]
	}
	return string(out)
}

// incompleteTail is the length of an incomplete UTF-8 sequence ending b.
func incompleteTail(b []byte) int {
	for k := 1; k <= 3 && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < 0x80 {
			return 0
		}
		if utf8.RuneStart(c) {
			if utf8.FullRune(b[len(b)-k:]) {
				return 0
			}
			return k
		}
	}
	return 0
}

// Results of unescape.
const (
	escMore = iota // incomplete
	escDone
	escBad
)

// unescape decodes one JSON string escape (starting with a backslash).
func unescape(esc []byte) ([]byte, int) {
	if len(esc) < 2 {
		return nil, escMore
	}
	switch esc[1] {
	case '"', '\\', '/':
		return esc[1:2], escDone
	case 'b':
		return []byte{'\b'}, escDone
	case 'f':
		return []byte{'\f'}, escDone
	case 'n':
		return []byte{'\n'}, escDone
	case 'r':
		return []byte{'\r'}, escDone
	case 't':
		return []byte{'\t'}, escDone
	case 'u':
	default:
		return nil, escBad
	}
	if len(esc) < 6 {
		return nil, escMore
	}
	r1, err := strconv.ParseUint(string(esc[2:6]), 16, 16)
	if err != nil {
		return nil, escBad
	}
	if r1 < 0xd800 || r1 >= 0xdc00 {
		return utf8.AppendRune(nil, rune(r1)), escDone
	}
	// A high surrogate: its low half follows as another escape.
	switch {
	case len(esc) > 6 && esc[6] != '\\', len(esc) > 7 && esc[7] != 'u':
		return nil, escBad
	case len(esc) < 12:
		return nil, escMore
	}
	r2, err := strconv.ParseUint(string(esc[8:12]), 16, 16)
	if err != nil {
		return nil, escBad
	}
	return utf8.AppendRune(nil, utf16.DecodeRune(rune(r1), rune(r2))), escDone
}
