package chat

import (
	"net/http"
	"strconv"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// NewStreamEncoder encodes canonical events as OpenAI chat.completion.chunk
// events, ending with `data: [DONE]`.
func NewStreamEncoder(o translate.StreamOptions) translate.StreamEncoder { return &streamEncoder{o: o} }

type streamEncoder struct {
	o       translate.StreamOptions
	started bool
	done    bool
	prefix  []byte // `data: {"id":...,"choices":[`
	usage   translate.Usage
	id      string
	tools   []bool // started tool calls by Index
	anyTool bool
}

func (e *streamEncoder) Encode(dst []byte, ev *translate.StreamEvent) []byte {
	if e.done {
		return dst
	}
	switch ev.Type {
	case translate.EvStart:
		if !e.started {
			dst = e.open(dst, ev.ID, ev.Model)
		}
	case translate.EvText, translate.EvThinking:
		if ev.Text == "" {
			return dst
		}
		dst = e.open(dst, "", "")
		dst = append(dst, e.prefix...)
		if ev.Type == translate.EvText {
			dst = append(dst, `{"index":0,"delta":{"content":`...)
		} else {
			dst = append(dst, `{"index":0,"delta":{"reasoning_content":`...)
		}
		dst = translate.AppendJSONString(dst, ev.Text)
		dst = append(dst, `},"logprobs":null,"finish_reason":null}`...)
		dst = e.end(dst)
	case translate.EvToolStart:
		if ev.Index < 0 || ev.Index > 1<<16 || (ev.Index < len(e.tools) && e.tools[ev.Index]) {
			return dst
		}
		for len(e.tools) <= ev.Index {
			e.tools = append(e.tools, false)
		}
		e.tools[ev.Index] = true
		e.anyTool = true
		dst = e.open(dst, "", "")
		id := ev.ToolCallID
		if id == "" {
			id = translate.MakeToolCallID("call_", e.id, ev.Index)
		}
		dst = append(dst, e.prefix...)
		dst = append(dst, `{"index":0,"delta":{"tool_calls":[{"index":`...)
		dst = strconv.AppendInt(dst, int64(ev.Index), 10)
		dst = append(dst, `,"id":`...)
		dst = translate.AppendJSONString(dst, id)
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = translate.AppendJSONString(dst, ev.ToolName)
		dst = append(dst, `,"arguments":""}}]},"logprobs":null,"finish_reason":null}`...)
		dst = e.end(dst)
	case translate.EvToolArgs:
		if ev.Args == "" || ev.Index < 0 || ev.Index >= len(e.tools) || !e.tools[ev.Index] {
			return dst
		}
		dst = append(dst, e.prefix...)
		dst = append(dst, `{"index":0,"delta":{"tool_calls":[{"index":`...)
		dst = strconv.AppendInt(dst, int64(ev.Index), 10)
		dst = append(dst, `,"function":{"arguments":`...)
		dst = translate.AppendJSONString(dst, ev.Args)
		dst = append(dst, `}}]},"logprobs":null,"finish_reason":null}`...)
		dst = e.end(dst)
	case translate.EvUsage:
		u := ev.Usage
		if u.Input != 0 {
			e.usage.Input = u.Input
		}
		if u.Output != 0 {
			e.usage.Output = u.Output
		}
		if u.Cached != 0 {
			e.usage.Cached = u.Cached
		}
		if u.Reasoning != 0 {
			e.usage.Reasoning = u.Reasoning
		}
	case translate.EvFinish:
		dst = e.open(dst, "", "")
		dst = append(dst, e.prefix...)
		dst = append(dst, `{"index":0,"delta":{},"logprobs":null,"finish_reason":`...)
		dst = translate.AppendJSONString(dst, finishReason(ev.StopReason, e.anyTool))
		dst = append(dst, '}')
		dst = e.end(dst)
		if e.o.IncludeUsage {
			dst = append(dst, e.prefix...)
			dst = append(dst, `],"usage":`...)
			dst = appendUsage(dst, e.usage)
			dst = append(dst, "}\n\n"...)
		}
		dst = append(dst, "data: [DONE]\n\n"...)
		e.done = true
	case translate.EvError:
		msg := ev.Text
		if msg == "" {
			msg = "upstream stream interrupted"
		}
		status := ev.Status
		if status == 0 {
			status = http.StatusBadGateway // the upstream failed, how it did not say
		}
		dst = appendStreamError(dst, status, msg, "stream_interrupted")
		e.done = true
	}
	return dst
}

// open writes the first chunk (role assistant) unless written already.
func (e *streamEncoder) open(dst []byte, id, model string) []byte {
	if e.started {
		return dst
	}
	e.started = true
	e.id = completionID(id)
	if model == "" {
		model = e.o.Model
	}
	p := make([]byte, 0, 128)
	p = append(p, `data: {"id":`...)
	p = translate.AppendJSONString(p, e.id)
	p = append(p, `,"object":"chat.completion.chunk","created":`...)
	p = strconv.AppendInt(p, translate.Now().Unix(), 10)
	p = append(p, `,"model":`...)
	p = translate.AppendJSONString(p, model)
	p = append(p, `,"choices":[`...)
	e.prefix = p
	dst = append(dst, p...)
	dst = append(dst, `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`...)
	return e.end(dst)
}

// end closes a chunk opened with prefix and a choice.
func (e *streamEncoder) end(dst []byte) []byte {
	if e.o.IncludeUsage {
		return append(dst, "],\"usage\":null}\n\n"...)
	}
	return append(dst, "]}\n\n"...)
}
