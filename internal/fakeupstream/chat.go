package fakeupstream

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// chatRequest is a validated POST /v1/chat/completions body.
type chatRequest struct {
	model        string
	stream       bool
	includeUsage bool
	obfuscation  bool
	n            int
	promptTokens int
	lastRole     string
	lastUserText string
	lastToolText string
	callTool     string // function to call in the reply, "" for a text reply
}

var (
	roles          = []string{"system", "assistant", "user", "function", "tool", "developer"}
	partTypes      = []string{"text", "image_url", "input_audio", "refusal", "audio", "file"}
	toolTypes      = []string{"function", "custom"}
	toolChoices    = []string{"none", "auto", "required"}
	toolNameRegexp = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
)

// parseChat validates body the way OpenAI does (the commonly hit subset)
// and extracts what the reply needs.
func parseChat(body []byte) (*chatRequest, *apiError) {
	root := gjson.ParseBytes(body)
	if !gjson.ValidBytes(body) || !root.IsObject() {
		return nil, badRequest("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "+
			"HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have "+
			"trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)", "", "")
	}
	req := &chatRequest{n: 1, obfuscation: true}

	model := root.Get("model")
	switch {
	case !model.Exists() || model.Type == gjson.Null || (model.Type == gjson.String && model.Str == ""):
		return nil, badRequest("you must provide a model parameter", "", "")
	case model.Type != gjson.String:
		return nil, errType("model", "a string", model)
	}
	req.model = model.Str

	msgs := root.Get("messages")
	switch {
	case !msgs.Exists() || msgs.Type == gjson.Null:
		return nil, errMissing("messages")
	case !msgs.IsArray():
		return nil, errType("messages", "an array", msgs)
	}
	list := msgs.Array()
	if len(list) == 0 {
		return nil, errEmpty("messages")
	}
	textBytes := 0
	for i, m := range list {
		n, err := checkMessage(i, m)
		if err != nil {
			return nil, err
		}
		textBytes += n
	}
	if err := checkToolSequence(list); err != nil {
		return nil, err
	}
	req.promptTokens = textBytes/4 + 1
	last := list[len(list)-1]
	req.lastRole = last.Get("role").Str
	if req.lastRole == "tool" {
		req.lastToolText = contentText(last.Get("content"))
	}
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Get("role").Str == "user" {
			req.lastUserText = contentText(list[i].Get("content"))
			break
		}
	}

	firstFunc, err := checkTools(root.Get("tools"))
	if err != nil {
		return nil, err
	}
	forced, choice, err := checkToolChoice(root.Get("tool_choice"), root.Get("tools").Exists() && root.Get("tools").Type != gjson.Null)
	if err != nil {
		return nil, err
	}
	if req.lastRole == "user" && choice != "none" {
		req.callTool = firstFunc
		if forced != "" {
			req.callTool = forced
		}
	}

	if st := root.Get("stream"); st.Exists() && st.Type != gjson.Null {
		if st.Type != gjson.True && st.Type != gjson.False {
			return nil, errType("stream", "a boolean", st)
		}
		req.stream = st.Type == gjson.True
	}
	if so := root.Get("stream_options"); so.Exists() && so.Type != gjson.Null {
		if !req.stream {
			return nil, badRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options", "")
		}
		if !so.IsObject() {
			return nil, errType("stream_options", "an object", so)
		}
		for _, f := range []string{"include_usage", "include_obfuscation"} {
			v := so.Get(f)
			if !v.Exists() || v.Type == gjson.Null {
				continue
			}
			if v.Type != gjson.True && v.Type != gjson.False {
				return nil, errType("stream_options."+f, "a boolean", v)
			}
		}
		req.includeUsage = so.Get("include_usage").Type == gjson.True
		req.obfuscation = so.Get("include_obfuscation").Type != gjson.False
	}

	if n := root.Get("n"); n.Exists() && n.Type != gjson.Null {
		if !isInteger(n) {
			return nil, errType("n", "an integer", n)
		}
		v := n.Int()
		switch {
		case v < 1:
			return nil, badRequest(fmt.Sprintf("Invalid 'n': integer below minimum value. Expected a value >= 1, but got %s instead.", n.Raw), "n", "integer_below_min_value")
		case v > 128:
			return nil, badRequest(fmt.Sprintf("Invalid 'n': integer above maximum value. Expected a value <= 128, but got %s instead.", n.Raw), "n", "integer_above_max_value")
		}
		req.n = int(v)
	}
	for _, f := range []struct {
		name     string
		min, max float64
	}{{"temperature", 0, 2}, {"top_p", 0, 1}, {"presence_penalty", -2, 2}, {"frequency_penalty", -2, 2}} {
		v := root.Get(f.name)
		if !v.Exists() || v.Type == gjson.Null {
			continue
		}
		if v.Type != gjson.Number {
			return nil, errType(f.name, "a decimal", v)
		}
		switch {
		case v.Num < f.min:
			return nil, badRequest(fmt.Sprintf("Invalid '%s': decimal below minimum value. Expected a value >= %g, but got %s instead.", f.name, f.min, v.Raw), f.name, "decimal_below_min_value")
		case v.Num > f.max:
			return nil, badRequest(fmt.Sprintf("Invalid '%s': decimal above maximum value. Expected a value <= %g, but got %s instead.", f.name, f.max, v.Raw), f.name, "decimal_above_max_value")
		}
	}
	for _, f := range []string{"max_tokens", "max_completion_tokens"} {
		if v := root.Get(f); v.Exists() && v.Type != gjson.Null && !isInteger(v) {
			return nil, errType(f, "an integer", v)
		}
	}

	if strings.HasPrefix(req.model, "unknown") {
		e := errModelNotFound(req.model)
		return nil, &e
	}
	return req, nil
}

// checkMessage validates messages[i] and returns the bytes of text it
// carries (for prompt_tokens).
func checkMessage(i int, m gjson.Result) (int, *apiError) {
	p := fmt.Sprintf("messages[%d]", i)
	if !m.IsObject() {
		return 0, errType(p, "an object", m)
	}
	role := m.Get("role")
	switch {
	case !role.Exists():
		return 0, errMissing(p + ".role")
	case role.Type != gjson.String:
		return 0, errType(p+".role", "a string", role)
	}
	if name := m.Get("name"); name.Exists() && name.Type != gjson.String {
		return 0, errType(p+".name", "a string", name)
	}
	content := m.Get("content")
	switch role.Str {
	case "system", "developer":
		return checkContent(p, content, true, "text")
	case "user":
		return checkContent(p, content, true, "text", "image_url", "input_audio", "file")
	case "tool", "function":
		idField := "tool_call_id"
		if role.Str == "function" {
			idField = "name"
		}
		id := m.Get(idField)
		switch {
		case !id.Exists():
			return 0, errMissing(p + "." + idField)
		case id.Type != gjson.String:
			return 0, errType(p+"."+idField, "a string", id)
		}
		return checkContent(p, content, true, "text")
	case "assistant":
		n := 0
		hasContent := content.Exists() && content.Type != gjson.Null
		if hasContent {
			c, err := checkContent(p, content, false, "text", "refusal")
			if err != nil {
				return 0, err
			}
			n += c
		}
		tcs := m.Get("tool_calls")
		hasCalls := tcs.Exists() && tcs.Type != gjson.Null
		if hasCalls {
			c, err := checkToolCalls(p+".tool_calls", tcs)
			if err != nil {
				return 0, err
			}
			n += c
		}
		fc := m.Get("function_call")
		refusal := m.Get("refusal")
		if !hasContent && !hasCalls && (!fc.Exists() || fc.Type == gjson.Null) && refusal.Type != gjson.String {
			return 0, badRequest("Invalid value for 'content': expected a string, got null.", fmt.Sprintf("messages.[%d].content", i), "")
		}
		return n, nil
	}
	return 0, errValue(p+".role", role.Str, roles...)
}

// checkContent validates a message's content: a string or a non-empty array
// of parts whose types are among allowed.
func checkContent(p string, c gjson.Result, required bool, allowed ...string) (int, *apiError) {
	p += ".content"
	switch {
	case !c.Exists() && required:
		return 0, errMissing(p)
	case c.Type == gjson.String:
		return len(c.Str), nil
	case !c.IsArray():
		return 0, errType(p, "one of a string or array of objects", c)
	}
	parts := c.Array()
	if len(parts) == 0 {
		return 0, errEmpty(p)
	}
	n := 0
	for j, part := range parts {
		pp := fmt.Sprintf("%s[%d]", p, j)
		if !part.IsObject() {
			return 0, errType(pp, "an object", part)
		}
		t := part.Get("type")
		switch {
		case !t.Exists():
			return 0, errMissing(pp + ".type")
		case t.Type != gjson.String:
			return 0, errType(pp+".type", "a string", t)
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == t.Str
		}
		if !ok {
			return 0, errValue(pp+".type", t.Str, partTypes...)
		}
		var field string
		switch t.Str {
		case "text", "refusal":
			field = t.Str
		case "image_url":
			img := part.Get("image_url")
			switch {
			case !img.Exists():
				return 0, errMissing(pp + ".image_url")
			case !img.IsObject():
				return 0, errType(pp+".image_url", "an object", img)
			}
			pp += ".image_url"
			field = "url"
			part = img
		default: // input_audio, file: only the payload object is checked
			if v := part.Get(t.Str); !v.IsObject() {
				if !v.Exists() {
					return 0, errMissing(pp + "." + t.Str)
				}
				return 0, errType(pp+"."+t.Str, "an object", v)
			}
			continue
		}
		v := part.Get(field)
		switch {
		case !v.Exists():
			return 0, errMissing(pp + "." + field)
		case v.Type != gjson.String:
			return 0, errType(pp+"."+field, "a string", v)
		}
		if field != "url" {
			n += len(v.Str)
		}
	}
	return n, nil
}

// checkToolCalls validates an assistant message's tool_calls.
func checkToolCalls(p string, tcs gjson.Result) (int, *apiError) {
	if !tcs.IsArray() {
		return 0, errType(p, "an array", tcs)
	}
	calls := tcs.Array()
	if len(calls) == 0 {
		return 0, errEmpty(p)
	}
	n := 0
	for k, tc := range calls {
		pk := fmt.Sprintf("%s[%d]", p, k)
		if !tc.IsObject() {
			return 0, errType(pk, "an object", tc)
		}
		fields := []string{"id", "type"}
		for _, f := range fields {
			v := tc.Get(f)
			switch {
			case !v.Exists():
				return 0, errMissing(pk + "." + f)
			case v.Type != gjson.String:
				return 0, errType(pk+"."+f, "a string", v)
			}
		}
		typ := tc.Get("type").Str
		var sub []string
		switch typ {
		case "function":
			sub = []string{"name", "arguments"}
		case "custom":
			sub = []string{"name", "input"}
		default:
			return 0, errValue(pk+".type", typ, toolTypes...)
		}
		def := tc.Get(typ)
		switch {
		case !def.Exists():
			return 0, errMissing(pk + "." + typ)
		case !def.IsObject():
			return 0, errType(pk+"."+typ, "an object", def)
		}
		for _, f := range sub {
			v := def.Get(f)
			switch {
			case !v.Exists():
				return 0, errMissing(pk + "." + typ + "." + f)
			case v.Type != gjson.String:
				return 0, errType(pk+"."+typ+"."+f, "a string", v)
			}
			n += len(v.Str)
		}
	}
	return n, nil
}

// checkToolSequence enforces OpenAI's pairing of tool calls and results:
// tool messages must directly follow (possibly after other tool messages)
// an assistant message with tool_calls and answer one of its ids, and every
// id must be answered before the next non-tool message.
func checkToolSequence(list []gjson.Result) *apiError {
	owner := -1 // index of the assistant message whose calls are being answered
	var pending []string
	unanswered := func() *apiError {
		return badRequest("An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. "+
			"The following tool_call_ids did not have response messages: "+strings.Join(pending, ", "),
			fmt.Sprintf("messages.[%d].role", owner), "")
	}
	var ids map[string]bool
	for i, m := range list {
		role := m.Get("role").Str
		if role == "tool" {
			if owner < 0 {
				return badRequest("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
					fmt.Sprintf("messages.[%d].role", i), "")
			}
			id := m.Get("tool_call_id").Str
			if !ids[id] {
				return badRequest(fmt.Sprintf("Invalid parameter: 'tool_call_id' of '%s' not found in 'tool_calls' of previous message.", id),
					fmt.Sprintf("messages.[%d].tool_call_id", i), "")
			}
			for k, p := range pending {
				if p == id {
					pending = append(pending[:k], pending[k+1:]...)
					break
				}
			}
			continue
		}
		if len(pending) > 0 {
			return unanswered()
		}
		owner, ids, pending = -1, nil, nil
		if tcs := m.Get("tool_calls"); role == "assistant" && tcs.IsArray() {
			owner, ids = i, make(map[string]bool)
			for _, tc := range tcs.Array() {
				id := tc.Get("id").Str
				if !ids[id] {
					ids[id] = true
					pending = append(pending, id)
				}
			}
		}
	}
	if len(pending) > 0 {
		return unanswered()
	}
	return nil
}

// checkTools validates tools and returns the name of the first function tool.
func checkTools(tools gjson.Result) (string, *apiError) {
	if !tools.Exists() || tools.Type == gjson.Null {
		return "", nil
	}
	if !tools.IsArray() {
		return "", errType("tools", "an array", tools)
	}
	list := tools.Array()
	if len(list) == 0 {
		return "", errEmpty("tools")
	}
	first := ""
	for i, t := range list {
		p := fmt.Sprintf("tools[%d]", i)
		if !t.IsObject() {
			return "", errType(p, "an object", t)
		}
		typ := t.Get("type")
		switch {
		case !typ.Exists():
			return "", errMissing(p + ".type")
		case typ.Type != gjson.String:
			return "", errType(p+".type", "a string", typ)
		case typ.Str != "function" && typ.Str != "custom":
			return "", errValue(p+".type", typ.Str, toolTypes...)
		}
		def := t.Get(typ.Str)
		switch {
		case !def.Exists():
			return "", errMissing(p + "." + typ.Str)
		case !def.IsObject():
			return "", errType(p+"."+typ.Str, "an object", def)
		}
		name := def.Get("name")
		np := p + "." + typ.Str + ".name"
		switch {
		case !name.Exists():
			return "", errMissing(np)
		case name.Type != gjson.String:
			return "", errType(np, "a string", name)
		case !toolNameRegexp.MatchString(name.Str):
			return "", badRequest(fmt.Sprintf("Invalid '%s': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", np), np, "invalid_value")
		}
		if params := def.Get("parameters"); typ.Str == "function" && params.Exists() && !params.IsObject() {
			return "", errType(p+".function.parameters", "an object", params)
		}
		if first == "" && typ.Str == "function" {
			first = name.Str
		}
	}
	return first, nil
}

// checkToolChoice validates tool_choice; it returns the forced function name
// (if any) and the mode ("none", "auto", "required" or "function").
func checkToolChoice(tc gjson.Result, haveTools bool) (string, string, *apiError) {
	if !tc.Exists() || tc.Type == gjson.Null {
		return "", "auto", nil
	}
	if !haveTools {
		return "", "", badRequest("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", "tool_choice", "")
	}
	switch {
	case tc.Type == gjson.String:
		for _, c := range toolChoices {
			if tc.Str == c {
				return "", c, nil
			}
		}
		return "", "", errValue("tool_choice", tc.Str, toolChoices...)
	case tc.IsObject():
		return tc.Get("function.name").Str, "function", nil
	}
	return "", "", errType("tool_choice", "one of a string or object", tc)
}

// contentText is the text of a message content: the string, or the text
// parts joined by a space.
func contentText(c gjson.Result) string {
	if c.Type == gjson.String {
		return c.Str
	}
	var texts []string
	for _, p := range c.Array() {
		if p.Get("type").Str == "text" {
			texts = append(texts, p.Get("text").Str)
		}
	}
	return strings.Join(texts, " ")
}

// choiceReply is one choice's deterministic answer.
type choiceReply struct {
	content  string   // text reply
	pieces   []string // content deltas, or argument fragments of a tool call
	callID   string
	callName string
	callArgs string
}

func (c choiceReply) finishReason() string {
	if c.callID != "" {
		return "tool_calls"
	}
	return "stop"
}

func (s *Server) reply(req *chatRequest) []choiceReply {
	out := make([]choiceReply, req.n)
	for i := range out {
		switch {
		case req.callTool != "":
			args := string(jsonBytes(obj{{"q", req.lastUserText}}))
			out[i] = choiceReply{
				callID:   fmt.Sprintf("call_%d", s.nextSeq(&s.callSeq)),
				callName: req.callTool,
				callArgs: args,
				pieces:   fragments(args, 4),
			}
		case req.lastRole == "tool":
			out[i] = textReply("result: " + req.lastToolText)
		default:
			out[i] = textReply("echo: " + req.lastUserText)
		}
	}
	return out
}

func textReply(content string) choiceReply {
	return choiceReply{content: content, pieces: words(content)}
}

// words splits s before each word but the first, keeping all whitespace, so
// the pieces concatenate back to s.
func words(s string) []string {
	var out []string
	start := 0
	prevSpace := false
	for i, r := range s {
		sp := unicode.IsSpace(r)
		if i > 0 && !sp && prevSpace {
			out = append(out, s[start:i])
			start = i
		}
		prevSpace = sp
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// fragments splits s into pieces of about n bytes on rune boundaries.
func fragments(s string, n int) []string {
	var out []string
	for len(s) > 0 {
		k := min(n, len(s))
		for k < len(s) && !utf8.RuneStart(s[k]) {
			k++
		}
		out = append(out, s[:k])
		s = s[k:]
	}
	return out
}

func usage(req *chatRequest, replies []choiceReply) obj {
	completion := 0
	for _, r := range replies {
		completion += len(r.pieces)
	}
	return obj{
		{"prompt_tokens", req.promptTokens},
		{"completion_tokens", completion},
		{"total_tokens", req.promptTokens + completion},
		{"prompt_tokens_details", obj{{"cached_tokens", 0}, {"audio_tokens", 0}}},
		{"completion_tokens_details", obj{
			{"reasoning_tokens", 0}, {"audio_tokens", 0},
			{"accepted_prediction_tokens", 0}, {"rejected_prediction_tokens", 0},
		}},
	}
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request, body []byte, b Behavior) {
	req, apiErr := parseChat(body)
	if apiErr != nil {
		writeError(w, *apiErr)
		return
	}
	replies := s.reply(req)
	id := fmt.Sprintf("chatcmpl-fakeupstream%08d", s.nextSeq(&s.compSeq))
	created := time.Now().Unix()
	if req.stream {
		s.streamChat(w, r, req, replies, id, created, b)
		return
	}

	choices := make([]any, len(replies))
	for i, c := range replies {
		msg := obj{{"role", "assistant"}}
		if c.callID != "" {
			msg = append(msg, kv{"content", nil}, kv{"tool_calls", []any{obj{
				{"id", c.callID},
				{"type", "function"},
				{"function", obj{{"name", c.callName}, {"arguments", c.callArgs}}},
			}}})
		} else {
			msg = append(msg, kv{"content", c.content})
		}
		msg = append(msg, kv{"refusal", nil}, kv{"annotations", []any{}})
		choices[i] = obj{{"index", i}, {"message", msg}, {"logprobs", nil}, {"finish_reason", c.finishReason()}}
	}
	resp := obj{
		{"id", id},
		{"object", "chat.completion"},
		{"created", created},
		{"model", req.model},
		{"choices", choices},
		{"usage", usage(req, replies)},
		{"service_tier", "default"},
		{"system_fingerprint", "fp_fakeupstream"},
	}
	s.writeAnswer(w, r, "application/json", indent(jsonBytes(resp), "  "), b)
}

// chatCorrupt is the broken chunk Behavior.CorruptAfter inserts: a content
// delta with its closing brace missing.
var chatCorrupt = []byte(`data: {"id":"chatcmpl-corrupt","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"corrupt"}}]` + "\n\n")

// streamChat writes the reply as chat.completion.chunk events, then
// [DONE], misbehaving as b says.
func (s *Server) streamChat(w http.ResponseWriter, r *http.Request, req *chatRequest, replies []choiceReply, id string, created int64, b Behavior) {
	es := s.startStream(w, r, "text/event-stream; charset=utf-8", b, chatCorrupt)
	if es == nil {
		return
	}

	send := func(choices []any, usageVal any) bool {
		chunk := obj{
			{"id", id},
			{"object", "chat.completion.chunk"},
			{"created", created},
			{"model", req.model},
			{"service_tier", "default"},
			{"system_fingerprint", "fp_fakeupstream"},
			{"choices", choices},
		}
		if req.includeUsage {
			chunk = append(chunk, kv{"usage", usageVal})
		}
		if req.obfuscation {
			chunk = append(chunk, kv{"obfuscation", obfuscation(es.written)})
		}
		return es.send(fmt.Appendf(nil, "data: %s\n\n", jsonBytes(chunk)), false)
	}
	choice := func(i int, delta obj, finish any) []any {
		return []any{obj{{"index", i}, {"delta", delta}, {"logprobs", nil}, {"finish_reason", finish}}}
	}

	for i, c := range replies {
		var first obj
		if c.callID != "" {
			first = obj{{"role", "assistant"}, {"content", nil}, {"tool_calls", []any{obj{
				{"index", 0},
				{"id", c.callID},
				{"type", "function"},
				{"function", obj{{"name", c.callName}, {"arguments", ""}}},
			}}}, {"refusal", nil}}
		} else {
			first = obj{{"role", "assistant"}, {"content", ""}, {"refusal", nil}}
		}
		if !send(choice(i, first, nil), nil) {
			return
		}
		for _, p := range c.pieces {
			var d obj
			if c.callID != "" {
				d = obj{{"tool_calls", []any{obj{{"index", 0}, {"function", obj{{"arguments", p}}}}}}}
			} else {
				d = obj{{"content", p}}
			}
			if !send(choice(i, d, nil), nil) {
				return
			}
		}
		if !send(choice(i, obj{}, c.finishReason()), nil) {
			return
		}
	}
	if req.includeUsage {
		if !send([]any{}, usage(req, replies)) {
			return
		}
	}
	es.send([]byte("data: [DONE]\n\n"), true) // with a cut pending: dropped instead
}

// obfuscation is a deterministic stand-in for the random padding OpenAI adds
// to each chunk unless stream_options.include_obfuscation is false.
func obfuscation(i int) string {
	const alphabet = "Zk3xQ9wYp2LmR7tV"
	return alphabet[:4+i%12]
}
