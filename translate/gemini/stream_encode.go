package gemini

import (
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// NewStreamEncoder writes canonical events as a
// streamGenerateContent?alt=sse stream: one `data: {...}\r\n\r\n` chunk per
// piece of content, the way Gemini frames it.
func NewStreamEncoder(o translate.StreamOptions) translate.StreamEncoder {
	return &streamEncoder{model: o.Model, clientModel: o.Model != ""}
}

type toolBuf struct {
	index    int
	id, name string
	args     []byte
}

type streamEncoder struct {
	id, model   string
	clientModel bool
	usage       translate.Usage
	hasUsage    bool
	sig         string
	thought     []byte // thinking text since the last signature
	tools       []toolBuf
	done        bool
	parts       []byte
}

func (e *streamEncoder) Encode(dst []byte, ev *translate.StreamEvent) []byte {
	if e.done {
		return dst
	}
	switch ev.Type {
	case translate.EvStart:
		e.id = ev.ID
		if !e.clientModel {
			e.model = ev.Model
		}
	case translate.EvText, translate.EvThinking:
		if ev.Text == "" {
			return dst
		}
		dst = e.flushTools(dst)
		if ev.Type == translate.EvThinking {
			e.thought = append(e.thought, ev.Text...)
		}
		n := 0
		e.parts = appendTextPart(e.parts[:0], &n, ev.Text, ev.Type == translate.EvThinking, &e.sig)
		dst = e.chunk(dst, e.parts, "")
	case translate.EvSignature:
		if ev.Redacted {
			return dst
		}
		dst = e.flushTools(dst)
		if s := wrapSignature(ev.SignatureFormat, ev.Text, string(e.thought)); s != "" {
			e.sig = s
		}
		e.thought = e.thought[:0]
	case translate.EvToolStart:
		e.tools = append(e.tools, toolBuf{index: ev.Index, id: ev.ToolCallID, name: ev.ToolName})
	case translate.EvToolArgs:
		for i := len(e.tools) - 1; i >= 0; i-- {
			if e.tools[i].index == ev.Index {
				e.tools[i].args = append(e.tools[i].args, ev.Args...)
				break
			}
		}
	case translate.EvUsage:
		e.usage.Merge(ev.Usage)
		e.hasUsage = true
	case translate.EvFinish:
		e.done = true
		n := 0
		e.parts = e.appendTools(e.parts[:0], &n)
		if n == 0 {
			e.parts = appendTextPart(e.parts, &n, "", false, &e.sig)
		}
		e.hasUsage = true
		dst = e.chunk(dst, e.parts, finishReason(ev.StopReason))
	case translate.EvError:
		e.done = true
		code := ev.Status
		if code == 0 {
			code = 500
		}
		msg := ev.Text
		if msg == "" {
			msg = "upstream stream failed"
		}
		// Framed as the chunks before it (Gemini's \r\n\r\n).
		dst = append(dst, "data: "...)
		dst = append(dst, ErrorBody(code, msg, "")...)
		dst = append(dst, "\r\n\r\n"...)
	}
	return dst
}

// flushTools writes the buffered tool calls as one chunk.
func (e *streamEncoder) flushTools(dst []byte) []byte {
	if len(e.tools) == 0 {
		return dst
	}
	n := 0
	e.parts = e.appendTools(e.parts[:0], &n)
	return e.chunk(dst, e.parts, "")
}

func (e *streamEncoder) appendTools(b []byte, n *int) []byte {
	for i := range e.tools {
		t := &e.tools[i]
		b = appendCallPart(b, n, t.id, t.name, t.args, &e.sig)
	}
	e.tools = e.tools[:0]
	return b
}

func (e *streamEncoder) chunk(dst, parts []byte, finish string) []byte {
	dst = append(dst, `data: {"candidates":[{"content":{"parts":[`...)
	dst = append(dst, parts...)
	dst = append(dst, `],"role":"model"},`...)
	if finish != "" {
		dst = append(dst, `"finishReason":"`...)
		dst = append(dst, finish...)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"index":0}]`...)
	if e.hasUsage {
		dst = append(dst, `,"usageMetadata":`...)
		dst = appendUsage(dst, e.usage)
	}
	if e.model != "" {
		dst = append(dst, `,"modelVersion":`...)
		dst = translate.AppendJSONString(dst, e.model)
	}
	if e.id != "" {
		dst = append(dst, `,"responseId":`...)
		dst = translate.AppendJSONString(dst, e.id)
	}
	return append(dst, "}\r\n\r\n"...)
}
