package fakeupstream

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

// antReply is the deterministic answer to a Messages request.
type antReply struct {
	id             string
	thinking       bool
	thinkingText   string
	thinkingPieces []string
	signature      string
	text           string
	textPieces     []string
	toolID         string
	toolName       string
	toolInput      string
	toolPieces     []string
	stopReason     string
	stopSequence   any // string or nil
	outputTokens   int
}

func (s *Server) antReply(req *antRequest) antReply {
	r := antReply{id: fmt.Sprintf("msg_%d", s.nextSeq(&s.compSeq)), stopSequence: nil}
	subject := req.lastUserText
	if req.toolResult {
		subject = req.resultText
	}
	thinkingTokens := 0
	if req.thinking {
		full := "thinking about: " + subject
		thinkingTokens = len(words(full))
		r.thinking = true
		if !req.omitThinking {
			r.thinkingText = full
			r.thinkingPieces = words(full)
		}
		r.signature = thinkingSignature(r.thinkingText)
	}
	if req.callTool != "" {
		args := string(jsonBytes(obj{{"q", req.lastUserText}}))
		r.toolID = fmt.Sprintf("toolu_%d", s.nextSeq(&s.callSeq))
		r.toolName = req.callTool
		r.toolInput = args
		r.toolPieces = fragments(args, 4)
		r.stopReason = "tool_use"
		r.outputTokens = thinkingTokens + len(r.toolPieces)
		return r
	}
	text := "echo: " + req.lastUserText
	if req.toolResult {
		text = "result: " + req.resultText
	}
	cut := -1
	for _, seq := range req.stopSeqs {
		if i := strings.Index(text, seq); i >= 0 && (cut < 0 || i < cut) {
			cut, r.stopSequence = i, seq
		}
	}
	if cut >= 0 {
		text = text[:cut]
		r.stopReason = "stop_sequence"
	}
	pieces := words(text)
	if req.maxTokens > 0 && thinkingTokens+len(pieces) > req.maxTokens {
		pieces = pieces[:max(0, req.maxTokens-thinkingTokens)]
		if n := len(pieces); n > 0 {
			pieces[n-1] = strings.TrimRightFunc(pieces[n-1], unicode.IsSpace)
		}
		text = strings.Join(pieces, "")
		r.stopReason, r.stopSequence = "max_tokens", nil
	}
	if r.stopReason == "" {
		r.stopReason = "end_turn"
	}
	r.text, r.textPieces = text, pieces
	r.outputTokens = thinkingTokens + len(pieces)
	return r
}

func antUsage(in, out int) obj {
	return obj{
		{"input_tokens", in},
		{"cache_creation_input_tokens", 0},
		{"cache_read_input_tokens", 0},
		{"cache_creation", obj{{"ephemeral_5m_input_tokens", 0}, {"ephemeral_1h_input_tokens", 0}}},
		{"output_tokens", out},
		{"service_tier", "standard"},
		{"inference_geo", "global"},
	}
}

// content is the reply's content blocks as the non-streaming API sends them.
func (r antReply) content() []any {
	var out []any
	if r.thinking {
		out = append(out, obj{{"type", "thinking"}, {"thinking", r.thinkingText}, {"signature", r.signature}})
	}
	switch {
	case r.toolID != "":
		out = append(out, obj{{"type", "tool_use"}, {"id", r.toolID}, {"name", r.toolName}, {"input", json.RawMessage(r.toolInput)}})
	case r.text != "":
		out = append(out, obj{{"type", "text"}, {"text", r.text}})
	}
	if out == nil {
		out = []any{}
	}
	return out
}

func (s *Server) antMessages(w http.ResponseWriter, r *http.Request, body []byte, b Behavior) {
	if e := antCheckVersion(r); e != nil {
		writeAntError(w, *e)
		return
	}
	req, e := parseAnthropic(body, false)
	if e != nil {
		writeAntError(w, *e)
		return
	}
	reply := s.antReply(req)
	if req.stream {
		s.antStream(w, r, req, reply, b)
		return
	}
	resp := obj{
		{"id", reply.id},
		{"type", "message"},
		{"role", "assistant"},
		{"model", req.model},
		{"content", reply.content()},
		{"stop_reason", reply.stopReason},
		{"stop_sequence", reply.stopSequence},
		{"stop_details", nil},
		{"usage", antUsage(req.inputTokens, reply.outputTokens)},
	}
	s.writeAnswer(w, r, "application/json", jsonBytes(resp), b)
}

func (s *Server) antCountTokens(w http.ResponseWriter, r *http.Request, body []byte, _ Behavior) {
	if e := antCheckVersion(r); e != nil {
		writeAntError(w, *e)
		return
	}
	req, e := parseAnthropic(body, true)
	if e != nil {
		writeAntError(w, *e)
		return
	}
	writeBody(w, http.StatusOK, "application/json", jsonBytes(obj{{"input_tokens", req.inputTokens}}), 0)
}

// antCorrupt is the broken event Behavior.CorruptAfter inserts: a text
// delta with its closing brace missing.
var antCorrupt = []byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"corrupt\"}\n\n")

// antStream writes the reply as the Messages API streams it: message_start,
// then per content block content_block_start, deltas and
// content_block_stop (with a ping after the first start), message_delta and
// message_stop.
func (s *Server) antStream(w http.ResponseWriter, r *http.Request, req *antRequest, reply antReply, b Behavior) {
	es := s.startStream(w, r, "text/event-stream; charset=utf-8", b, antCorrupt)
	if es == nil {
		return
	}
	send := func(event string, data obj) bool {
		return es.send([]byte(fmt.Sprintf("event: %s\ndata: %s\n\n", event, jsonBytes(data))), event == "message_stop")
	}
	if !send("message_start", obj{{"type", "message_start"}, {"message", obj{
		{"id", reply.id},
		{"type", "message"},
		{"role", "assistant"},
		{"model", req.model},
		{"content", []any{}},
		{"stop_reason", nil},
		{"stop_sequence", nil},
		{"stop_details", nil},
		{"usage", antUsage(req.inputTokens, 1)},
	}}}) {
		return
	}

	type block struct {
		start  obj
		deltas []obj
	}
	var blocks []block
	if reply.thinking {
		var ds []obj
		for _, p := range reply.thinkingPieces {
			ds = append(ds, obj{{"type", "thinking_delta"}, {"thinking", p}})
		}
		ds = append(ds, obj{{"type", "signature_delta"}, {"signature", reply.signature}})
		blocks = append(blocks, block{obj{{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}, ds})
	}
	switch {
	case reply.toolID != "":
		ds := []obj{{{"type", "input_json_delta"}, {"partial_json", ""}}}
		for _, p := range reply.toolPieces {
			ds = append(ds, obj{{"type", "input_json_delta"}, {"partial_json", p}})
		}
		blocks = append(blocks, block{obj{{"type", "tool_use"}, {"id", reply.toolID}, {"name", reply.toolName}, {"input", obj{}}}, ds})
	case reply.text != "":
		var ds []obj
		for _, p := range reply.textPieces {
			ds = append(ds, obj{{"type", "text_delta"}, {"text", p}})
		}
		blocks = append(blocks, block{obj{{"type", "text"}, {"text", ""}}, ds})
	}

	ping := func() bool { return send("ping", obj{{"type", "ping"}}) }
	if len(blocks) == 0 && !ping() {
		return
	}
	for i, bl := range blocks {
		if !send("content_block_start", obj{{"type", "content_block_start"}, {"index", i}, {"content_block", bl.start}}) {
			return
		}
		if i == 0 && !ping() {
			return
		}
		for _, d := range bl.deltas {
			if !send("content_block_delta", obj{{"type", "content_block_delta"}, {"index", i}, {"delta", d}}) {
				return
			}
		}
		if !send("content_block_stop", obj{{"type", "content_block_stop"}, {"index", i}}) {
			return
		}
	}
	if !send("message_delta", obj{
		{"type", "message_delta"},
		{"delta", obj{{"stop_reason", reply.stopReason}, {"stop_sequence", reply.stopSequence}, {"stop_details", nil}}},
		{"usage", obj{
			{"input_tokens", req.inputTokens},
			{"cache_creation_input_tokens", 0},
			{"cache_read_input_tokens", 0},
			{"output_tokens", reply.outputTokens},
		}},
	}) {
		return
	}
	send("message_stop", obj{{"type", "message_stop"}})
}
