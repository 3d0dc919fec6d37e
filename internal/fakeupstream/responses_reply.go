package fakeupstream

import (
	"fmt"
	"net/http"
	"time"

	"github.com/tidwall/gjson"
)

// respReply is the deterministic answer to a Responses request.
type respReply struct {
	id         string
	created    int64
	reasoning  bool
	rsID       string
	thinking   string
	thinkWords []string
	enc        string // encrypted_content, "" unless asked for
	summary    bool   // show the thinking as the reasoning summary
	msgID      string
	text       string
	textPieces []string
	fcID       string // the call item's id (fc_ or ctc_)
	callID     string
	callName   string
	callNS     string // the called tool's namespace, "" if none
	custom     bool   // a custom tool call: args is its input
	args       string
	argPieces  []string
	incomplete bool
}

func (s *Server) respReply(req *respRequest) *respReply {
	n := s.nextSeq(&s.compSeq)
	r := &respReply{id: fmt.Sprintf("resp_%048x", n), created: time.Now().Unix()}
	item := func(prefix string, i int) string { return fmt.Sprintf("%s_%046x%02x", prefix, n, i) }
	subject := req.lastUserText
	if req.lastRole == "tool" {
		subject = req.lastToolText
	}
	budget := req.maxOutput
	if budget == 0 {
		budget = 1 << 30
	}
	if req.reasons {
		r.reasoning = true
		r.rsID = item("rs", 0)
		r.thinking = "thinking about: " + subject
		r.thinkWords = words(r.thinking)
		r.summary = req.summary != ""
		if req.encrypted {
			r.enc = encryptedContent(r.rsID)
		}
		budget -= len(r.thinkWords)
		if budget <= 0 {
			r.incomplete = true
			return r
		}
	}
	if c := req.call; c != nil {
		args, prefix := string(jsonBytes(obj{{"q", req.lastUserText}})), "fc"
		if c.custom {
			args, prefix = req.lastUserText, "ctc"
		}
		pieces := fragments(args, 4)
		if len(pieces) > budget {
			r.incomplete = true
			return r
		}
		r.fcID = item(prefix, 1)
		r.callID = fmt.Sprintf("call_%d", s.nextSeq(&s.callSeq))
		r.callName, r.callNS, r.custom, r.args, r.argPieces = c.name, c.namespace, c.custom, args, pieces
		return r
	}
	text := "echo: " + req.lastUserText
	if req.lastRole == "tool" {
		text = "result: " + req.lastToolText
	}
	r.msgID = item("msg", 1)
	r.textPieces = words(text)
	if len(r.textPieces) > budget {
		r.textPieces = r.textPieces[:budget]
		r.incomplete = true
	}
	for _, p := range r.textPieces {
		r.text += p
	}
	return r
}

func (r *respReply) outputTokens() int {
	return len(r.thinkWords) + len(r.textPieces) + len(r.argPieces)
}

func (r *respReply) status() string {
	if r.incomplete {
		return "incomplete"
	}
	return "completed"
}

func summaryPart(text string) obj { return obj{{"type", "summary_text"}, {"text", text}} }

func outputTextPart(text string) obj {
	return obj{{"type", "output_text"}, {"annotations", []any{}}, {"logprobs", []any{}}, {"text", text}}
}

func (r *respReply) reasoningItem(done bool) obj {
	it := obj{{"id", r.rsID}, {"type", "reasoning"}}
	if r.enc != "" {
		it = append(it, kv{"encrypted_content", r.enc})
	}
	summary := []any{}
	if done && r.summary {
		summary = append(summary, summaryPart(r.thinking))
	}
	return append(it, kv{"summary", summary})
}

func (r *respReply) messageItem(done bool) obj {
	status, content := "in_progress", []any{}
	if done {
		status, content = "completed", []any{outputTextPart(r.text)}
		if r.incomplete {
			status = "incomplete"
		}
	}
	return obj{{"id", r.msgID}, {"type", "message"}, {"status", status}, {"content", content}, {"role", "assistant"}}
}

// callItem is the function_call or custom_tool_call item, with the
// namespace of a namespaced tool.
func (r *respReply) callItem(done bool) obj {
	status, args := "in_progress", ""
	if done {
		status, args = "completed", r.args
	}
	it := obj{{"id", r.fcID}, {"type", "function_call"}, {"status", status}, {"arguments", args}, {"call_id", r.callID}, {"name", r.callName}}
	if r.custom {
		it = obj{{"id", r.fcID}, {"type", "custom_tool_call"}, {"status", status}, {"call_id", r.callID}, {"input", args}, {"name", r.callName}}
	}
	if r.callNS != "" {
		it = append(it, kv{"namespace", r.callNS})
	}
	return it
}

// output is the response's output items, done.
func (r *respReply) output() []any {
	out := []any{}
	if r.reasoning {
		out = append(out, r.reasoningItem(true))
	}
	switch {
	case r.msgID != "":
		out = append(out, r.messageItem(true))
	case r.fcID != "":
		out = append(out, r.callItem(true))
	}
	return out
}

func (r *respReply) usage(req *respRequest) obj {
	out := r.outputTokens()
	return obj{
		{"input_tokens", req.promptTokens},
		{"input_tokens_details", obj{{"cached_tokens", 0}}},
		{"output_tokens", out},
		{"output_tokens_details", obj{{"reasoning_tokens", len(r.thinkWords)}}},
		{"total_tokens", req.promptTokens + out},
	}
}

// object is the response object; final carries the output and usage.
func (r *respReply) object(req *respRequest, final bool) obj {
	root := req.root
	or := func(path string, def any) any {
		if v := root.Get(path); present(v) {
			return rawJSON(v.Raw)
		}
		return def
	}
	status, completedAt, output, usage := "in_progress", any(nil), []any{}, any(nil)
	var incomplete any
	if final {
		status, completedAt, output, usage = r.status(), time.Now().Unix(), r.output(), r.usage(req)
		if r.incomplete {
			incomplete = obj{{"reason", "max_output_tokens"}}
			completedAt = nil
		}
	}
	reasoning := obj{{"effort", nil}, {"summary", nil}}
	if req.reasons {
		reasoning = obj{{"effort", or("reasoning.effort", "medium")}, {"summary", or("reasoning.summary", nil)}}
	}
	text := obj{{"format", or("text.format", obj{{"type", "text"}})}, {"verbosity", or("text.verbosity", "medium")}}
	var previous any
	if req.previous != "" {
		previous = req.previous
	}
	return obj{
		{"id", r.id},
		{"object", "response"},
		{"created_at", r.created},
		{"status", status},
		{"background", false},
		{"completed_at", completedAt},
		{"billing", obj{{"payer", "developer"}}},
		{"error", nil},
		{"incomplete_details", incomplete},
		{"instructions", or("instructions", nil)},
		{"max_output_tokens", or("max_output_tokens", nil)},
		{"max_tool_calls", or("max_tool_calls", nil)},
		{"model", req.model},
		{"output", output},
		{"parallel_tool_calls", or("parallel_tool_calls", true)},
		{"previous_response_id", previous},
		{"prompt_cache_key", or("prompt_cache_key", nil)},
		{"prompt_cache_retention", nil},
		{"reasoning", reasoning},
		{"safety_identifier", or("safety_identifier", nil)},
		{"service_tier", "default"},
		{"store", req.store},
		{"temperature", or("temperature", 1.0)},
		{"text", text},
		{"tool_choice", or("tool_choice", "auto")},
		{"tools", or("tools", []any{})},
		{"top_logprobs", or("top_logprobs", 0)},
		{"top_p", or("top_p", 1.0)},
		{"truncation", or("truncation", "disabled")},
		{"usage", usage},
		{"user", or("user", nil)},
		{"metadata", or("metadata", obj{})},
	}
}

// rawJSON is JSON text marshalled as is.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// keep stores the conversation of a response made with store left true.
func (s *Server) keep(req *respRequest, r *respReply) {
	if !req.store {
		return
	}
	items := req.items
	for _, o := range r.output() {
		raw := string(jsonBytes(o))
		g := gjson.Parse(raw)
		it := respItem{raw: raw, typ: g.Get("type").Str, id: g.Get("id").Str, call: g.Get("call_id").Str}
		if it.typ == "message" {
			it.role, it.text = "assistant", r.text
		}
		items = append(items, it)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored[r.id] = items
	for _, it := range items {
		if it.id != "" {
			s.storedItems[it.id] = it
		}
	}
}

func (s *Server) storedResponse(id string) []respItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored[id]
}

func (s *Server) storedItem(id string) (respItem, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.storedItems[id]
	return it, ok
}

func (s *Server) responses(w http.ResponseWriter, r *http.Request, body []byte, b Behavior) {
	req, apiErr := s.parseResponses(body)
	if apiErr != nil {
		writeError(w, *apiErr)
		return
	}
	reply := s.respReply(req)
	if req.stream {
		s.streamResponses(w, r, req, reply, b)
		return
	}
	s.keep(req, reply)
	writeBody(w, http.StatusOK, "application/json", indent(jsonBytes(reply.object(req, true)), "  "), b.CutAfter)
}

// streamResponses writes the reply as the Responses API streams it: named
// events with sequence numbers, each output item added, its content
// streamed, then done, and response.completed (or response.incomplete).
// respCorrupt is the broken event Behavior.CorruptAfter inserts: a text
// delta whose data is cut short, so it is not JSON.
var respCorrupt = []byte("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"corrupt\"\n\n")

func (s *Server) streamResponses(w http.ResponseWriter, r *http.Request, req *respRequest, reply *respReply, b Behavior) {
	es := s.startStream(w, r, "text/event-stream; charset=utf-8", b, respCorrupt)
	if es == nil {
		return
	}
	seq := 0
	send := func(typ string, fields obj, final bool) bool {
		ev := append(obj{{"type", typ}, {"sequence_number", seq}}, fields...)
		seq++
		return es.send(fmt.Appendf(nil, "event: %s\ndata: %s\n\n", typ, jsonBytes(ev)), final)
	}
	obfuscated := func(o obj) obj {
		if req.obfuscation {
			o = append(o, kv{"obfuscation", obfuscation(seq)})
		}
		return o
	}
	if !send("response.created", obj{{"response", reply.object(req, false)}}, false) ||
		!send("response.in_progress", obj{{"response", reply.object(req, false)}}, false) {
		return
	}
	oi := 0
	if reply.reasoning {
		if !send("response.output_item.added", obj{{"output_index", oi}, {"item", reply.reasoningItem(false)}}, false) {
			return
		}
		if reply.summary {
			at := obj{{"item_id", reply.rsID}, {"output_index", oi}, {"summary_index", 0}}
			if !send("response.reasoning_summary_part.added", append(at, kv{"part", summaryPart("")}), false) {
				return
			}
			for _, p := range reply.thinkWords {
				if !send("response.reasoning_summary_text.delta", obfuscated(append(at, kv{"delta", p})), false) {
					return
				}
			}
			if !send("response.reasoning_summary_text.done", append(at, kv{"text", reply.thinking}), false) ||
				!send("response.reasoning_summary_part.done", append(at, kv{"part", summaryPart(reply.thinking)}), false) {
				return
			}
		}
		if !send("response.output_item.done", obj{{"output_index", oi}, {"item", reply.reasoningItem(true)}}, false) {
			return
		}
		oi++
	}
	switch {
	case reply.msgID != "":
		at := obj{{"item_id", reply.msgID}, {"output_index", oi}, {"content_index", 0}}
		if !send("response.output_item.added", obj{{"output_index", oi}, {"item", reply.messageItem(false)}}, false) ||
			!send("response.content_part.added", append(at, kv{"part", outputTextPart("")}), false) {
			return
		}
		for _, p := range reply.textPieces {
			if !send("response.output_text.delta", obfuscated(append(at, kv{"delta", p}, kv{"logprobs", []any{}})), false) {
				return
			}
		}
		if !send("response.output_text.done", append(at, kv{"text", reply.text}, kv{"logprobs", []any{}}), false) ||
			!send("response.content_part.done", append(at, kv{"part", outputTextPart(reply.text)}), false) ||
			!send("response.output_item.done", obj{{"output_index", oi}, {"item", reply.messageItem(true)}}, false) {
			return
		}
	case reply.fcID != "":
		// A function's arguments stream as function_call_arguments events, a
		// custom tool's input as custom_tool_call_input events.
		at := obj{{"item_id", reply.fcID}, {"output_index", oi}}
		events, field := "response.function_call_arguments", "arguments"
		if reply.custom {
			events, field = "response.custom_tool_call_input", "input"
		}
		if !send("response.output_item.added", obj{{"output_index", oi}, {"item", reply.callItem(false)}}, false) {
			return
		}
		for _, p := range reply.argPieces {
			if !send(events+".delta", obfuscated(append(at, kv{"delta", p})), false) {
				return
			}
		}
		if !send(events+".done", append(at, kv{field, reply.args}), false) ||
			!send("response.output_item.done", obj{{"output_index", oi}, {"item", reply.callItem(true)}}, false) {
			return
		}
	}
	s.keep(req, reply)
	typ := "response.completed"
	if reply.incomplete {
		typ = "response.incomplete"
	}
	send(typ, obj{{"response", reply.object(req, true)}}, true) // with a cut pending: dropped instead
}
