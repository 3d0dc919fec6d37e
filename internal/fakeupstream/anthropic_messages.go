package fakeupstream

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/tidwall/gjson"
)

// antRequest is a validated POST /v1/messages (or count_tokens) body.
type antRequest struct {
	model        string
	stream       bool
	maxTokens    int
	thinking     bool // enabled or adaptive
	omitThinking bool // thinking.display "omitted"
	inputTokens  int
	stopSeqs     []string
	lastUserText string
	toolResult   bool   // the last turn answers tool calls
	resultText   string // their results' text
	callTool     string // tool to call in the reply, "" for a text reply
}

// antBlock is one validated content block.
type antBlock struct {
	msg, idx  int // position in messages / content
	typ       string
	text      string // text, thinking, or a tool result's text
	signature string // thinking
	id, name  string // tool_use
	input     string // tool_use, compact JSON
	toolUseID string // tool_result
}

type antMsg struct {
	idx    int
	role   string
	blocks []antBlock
}

// antTurn is a run of consecutive messages with the same role, which the API
// merges into one turn.
type antTurn struct {
	role   string
	first  int // index of its first message
	last   int // index of its last message
	blocks []antBlock
}

var (
	antMessageFields = []string{"model", "messages", "max_tokens", "metadata", "stop_sequences", "stream", "system",
		"temperature", "thinking", "tool_choice", "tools", "top_k", "top_p", "service_tier", "container", "mcp_servers",
		"context_management", "output_config", "output_format", "inference_geo", "speed", "cache_control", "diagnostics"}
	antCountFields = []string{"model", "messages", "system", "thinking", "tool_choice", "tools", "mcp_servers",
		"context_management", "output_config", "output_format", "speed", "cache_control"}
	antBlockTypes = []string{"text", "image", "document", "search_result", "thinking", "redacted_thinking", "tool_use",
		"tool_result", "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
		"bash_code_execution_tool_result", "text_editor_code_execution_tool_result", "tool_search_tool_result",
		"container_upload"}
	antNestedTypes   = []string{"text", "image", "search_result", "document"}
	antImageTypes    = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}
	antToolIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	antToolName      = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	// Server tools are accepted with their versioned type; only their name
	// is checked.
	antServerTools = regexp.MustCompile(`^(bash|code_execution|memory|text_editor|web_search|web_fetch|computer|` +
		`tool_search_tool_regex|tool_search_tool_bm25|browser_toolset|computer_toolset)_\d{8}$|^mcp_toolset$`)
	// Models that refuse temperature and top_p together.
	antOneSampler = regexp.MustCompile(`^claude-(opus-4-[1-9]|sonnet-4-[5-9]|haiku-4-[5-9])`)
)

const antThinkingDocs = "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"

// validator helpers, worded like the API's (pydantic) messages.

func antJoin(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func antExtra(o gjson.Result, path string, allowed []string) *antError {
	var bad *antError
	o.ForEach(func(k, _ gjson.Result) bool {
		if !slices.Contains(allowed, k.Str) {
			bad = antInvalid(antJoin(path, k.Str), "Extra inputs are not permitted")
			return false
		}
		return true
	})
	return bad
}

func present(r gjson.Result) bool { return r.Exists() && r.Type != gjson.Null }

func antString(r gjson.Result, path string, required bool) (string, *antError) {
	switch {
	case !r.Exists() && required:
		return "", antInvalid(path, "Field required")
	case !r.Exists(), r.Type == gjson.Null && !required:
		return "", nil
	case r.Type != gjson.String:
		return "", antInvalid(path, "Input should be a valid string")
	}
	return r.Str, nil
}

func antObject(r gjson.Result, path string, required bool) (bool, *antError) {
	switch {
	case !r.Exists() && required:
		return false, antInvalid(path, "Field required")
	case !r.Exists(), r.Type == gjson.Null && !required:
		return false, nil
	case !r.IsObject():
		return false, antInvalid(path, "Input should be a valid dictionary or object to extract fields from")
	}
	return true, nil
}

func antNumber(root gjson.Result, field string, lo, hi float64) (float64, bool, *antError) {
	v := root.Get(field)
	if !present(v) {
		return 0, false, nil
	}
	switch {
	case v.Type != gjson.Number:
		return 0, false, antInvalid(field, "Input should be a valid number")
	case v.Num < lo:
		return 0, false, antInvalid(field, fmt.Sprintf("Input should be greater than or equal to %g", lo))
	case v.Num > hi:
		return 0, false, antInvalid(field, fmt.Sprintf("Input should be less than or equal to %g", hi))
	}
	return v.Num, true, nil
}

func antInt(v gjson.Result, path string) (int, *antError) {
	if v.Type != gjson.Number || (!isInteger(v) && v.Num != float64(int64(v.Num))) {
		return 0, antInvalid(path, "Input should be a valid integer")
	}
	return int(v.Num), nil
}

func antNonWhitespace(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsSpace(r) }) >= 0
}

// parseAnthropic validates a Messages (count=false) or count_tokens
// (count=true) body the way the API does and extracts what the reply needs.
func parseAnthropic(body []byte, count bool) (*antRequest, *antError) {
	if !gjson.ValidBytes(body) {
		return nil, antInvalid("", "There was an error parsing the body of your request. The body must be valid JSON.")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, antInvalid("", "Input should be a valid dictionary or object to extract fields from")
	}
	fields := antMessageFields
	if count {
		fields = antCountFields
	}
	if e := antExtra(root, "", fields); e != nil {
		return nil, e
	}
	req := &antRequest{}

	model, e := antString(root.Get("model"), "model", true)
	if e != nil {
		return nil, e
	}
	if model == "" {
		return nil, antInvalid("model", "String should have at least 1 character")
	}
	req.model = model

	if !count {
		mt := root.Get("max_tokens")
		if !mt.Exists() {
			return nil, antInvalid("max_tokens", "Field required")
		}
		n, e := antInt(mt, "max_tokens")
		if e != nil {
			return nil, e
		}
		if n < 1 {
			return nil, antInvalid("max_tokens", "Input should be greater than or equal to 1")
		}
		if limit := antModelMaxTokens(model); n > limit {
			return nil, antInvalid("max_tokens", fmt.Sprintf("%d > %d, which is the maximum allowed number of output tokens for %s", n, limit, model))
		}
		req.maxTokens = n
	}

	textBytes := 0
	msgs, n, e := antParseMessages(root.Get("messages"))
	if e != nil {
		return nil, e
	}
	textBytes += n

	n, e = antParseSystem(root.Get("system"))
	if e != nil {
		return nil, e
	}
	textBytes += n

	tools, n, e := antParseTools(root.Get("tools"))
	if e != nil {
		return nil, e
	}
	textBytes += n

	choice, forced, e := antParseToolChoice(root.Get("tool_choice"), tools)
	if e != nil {
		return nil, e
	}

	if e := antParseThinking(root, req, count); e != nil {
		return nil, e
	}

	if !count {
		temp, hasTemp, e := antNumber(root, "temperature", 0, 1)
		if e != nil {
			return nil, e
		}
		topP, hasTopP, e := antNumber(root, "top_p", 0, 1)
		if e != nil {
			return nil, e
		}
		hasTopK := false
		if v := root.Get("top_k"); present(v) {
			k, e := antInt(v, "top_k")
			if e != nil {
				return nil, e
			}
			if k < 0 {
				return nil, antInvalid("top_k", "Input should be greater than or equal to 0")
			}
			hasTopK = true
		}
		if req.thinking {
			switch {
			case hasTemp && temp != 1:
				return nil, antInvalid("", "`temperature` may only be set to 1 when thinking is enabled. "+antThinkingDocs+"#feature-compatibility")
			case hasTopK:
				return nil, antInvalid("", "`top_k` must be unset when thinking is enabled. "+antThinkingDocs+"#feature-compatibility")
			case hasTopP && topP < 0.95:
				return nil, antInvalid("", "`top_p` must be unset or between 0.95 and 1 when thinking is enabled. "+antThinkingDocs+"#feature-compatibility")
			}
		}
		if hasTemp && hasTopP && antOneSampler.MatchString(model) {
			return nil, antInvalid("", "`temperature` and `top_p` cannot both be specified for this model. Please use only one.")
		}

		if ss := root.Get("stop_sequences"); present(ss) {
			if !ss.IsArray() {
				return nil, antInvalid("stop_sequences", "Input should be a valid list")
			}
			for i, v := range ss.Array() {
				if v.Type != gjson.String {
					return nil, antInvalid(fmt.Sprintf("stop_sequences.%d", i), "Input should be a valid string")
				}
				if !antNonWhitespace(v.Str) {
					return nil, antInvalid("stop_sequences", "each stop sequence must contain non-whitespace")
				}
				req.stopSeqs = append(req.stopSeqs, v.Str)
			}
		}
		if st := root.Get("stream"); present(st) {
			if st.Type != gjson.True && st.Type != gjson.False {
				return nil, antInvalid("stream", "Input should be a valid boolean")
			}
			req.stream = st.Type == gjson.True
		}
		if md := root.Get("metadata"); present(md) {
			if _, e := antObject(md, "metadata", false); e != nil {
				return nil, e
			}
			if e := antExtra(md, "metadata", []string{"user_id"}); e != nil {
				return nil, e
			}
			if _, e := antString(md.Get("user_id"), "metadata.user_id", false); e != nil {
				return nil, e
			}
		}
		if st := root.Get("service_tier"); present(st) && st.Str != "auto" && st.Str != "standard_only" {
			return nil, antInvalid("service_tier", "Input should be 'auto' or 'standard_only'")
		}
	}
	if req.thinking && (choice == "any" || choice == "tool") {
		return nil, antInvalid("", "Thinking may not be enabled when tool_choice forces tool use.")
	}

	turns, e := antCheckConversation(msgs, req.thinking)
	if e != nil {
		return nil, e
	}

	if strings.HasPrefix(model, "unknown") {
		return nil, &antError{http.StatusNotFound, "not_found_error", "model: " + model}
	}

	req.inputTokens = textBytes/4 + 1
	lastTurn := turns[len(turns)-1]
	if lastTurn.role == "user" && lastTurn.blocks[0].typ == "tool_result" {
		req.toolResult = true
		var texts []string
		for _, b := range lastTurn.blocks {
			if b.typ == "tool_result" {
				texts = append(texts, b.text)
			}
		}
		req.resultText = strings.Join(texts, " ")
	}
	for i := len(msgs) - 1; i >= 0 && req.lastUserText == ""; i-- {
		if msgs[i].role != "user" {
			continue
		}
		var texts []string
		for _, b := range msgs[i].blocks {
			if b.typ == "text" {
				texts = append(texts, b.text)
			}
		}
		req.lastUserText = strings.Join(texts, " ")
	}
	if lastTurn.role == "user" && !req.toolResult && choice != "none" && len(tools) > 0 {
		req.callTool = tools[0]
		if forced != "" {
			req.callTool = forced
		}
	}
	return req, nil
}

// antParseMessages validates messages and returns them with the bytes of
// text they carry.
func antParseMessages(ms gjson.Result) ([]antMsg, int, *antError) {
	switch {
	case !ms.Exists():
		return nil, 0, antInvalid("messages", "Field required")
	case !ms.IsArray():
		return nil, 0, antInvalid("messages", "Input should be a valid list")
	}
	list := ms.Array()
	if len(list) == 0 {
		return nil, 0, antInvalid("messages", "at least one message is required")
	}
	var out []antMsg
	textBytes := 0
	for i, m := range list {
		p := fmt.Sprintf("messages.%d", i)
		if _, e := antObject(m, p, true); e != nil {
			return nil, 0, e
		}
		if e := antExtra(m, p, []string{"role", "content"}); e != nil {
			return nil, 0, e
		}
		role, e := antString(m.Get("role"), p+".role", true)
		if e != nil {
			return nil, 0, e
		}
		if role != "user" && role != "assistant" {
			return nil, 0, antInvalid(p+".role", "Input should be 'user' or 'assistant'")
		}
		final := i == len(list)-1
		msg := antMsg{idx: i, role: role}
		c := m.Get("content")
		switch {
		case !c.Exists():
			return nil, 0, antInvalid(p+".content", "Field required")
		case c.Type == gjson.String:
			if c.Str == "" && !(final && role == "assistant") {
				return nil, 0, antInvalid(p, "all messages must have non-empty content except for the optional final assistant message")
			}
			if c.Str != "" {
				if !antNonWhitespace(c.Str) {
					return nil, 0, antInvalid("messages", "text content blocks must contain non-whitespace text")
				}
				msg.blocks = append(msg.blocks, antBlock{msg: i, typ: "text", text: c.Str})
				textBytes += len(c.Str)
			}
		case c.IsArray():
			blocks := c.Array()
			if len(blocks) == 0 && !(final && role == "assistant") {
				return nil, 0, antInvalid(p, "all messages must have non-empty content except for the optional final assistant message")
			}
			for j, b := range blocks {
				blk, n, e := antParseBlock(fmt.Sprintf("%s.content.%d", p, j), b, false)
				if e != nil {
					return nil, 0, e
				}
				blk.msg, blk.idx = i, j
				switch {
				case role == "user" && (blk.typ == "tool_use" || blk.typ == "thinking" || blk.typ == "redacted_thinking" || blk.typ == "server_tool_use"):
					return nil, 0, antInvalid(fmt.Sprintf("%s.content.%d", p, j), fmt.Sprintf("`%s` blocks can only be in `assistant` messages", blk.typ))
				case role == "assistant" && blk.typ == "tool_result":
					return nil, 0, antInvalid(fmt.Sprintf("%s.content.%d", p, j), "`tool_result` blocks can only be in `user` messages")
				}
				msg.blocks = append(msg.blocks, blk)
				textBytes += n
			}
		default:
			return nil, 0, antInvalid(p+".content", "Input should be a valid list")
		}
		if final && role == "assistant" && len(msg.blocks) > 0 {
			if lb := msg.blocks[len(msg.blocks)-1]; lb.typ == "text" && strings.TrimRightFunc(lb.text, unicode.IsSpace) != lb.text {
				return nil, 0, antInvalid("", "messages: final assistant content cannot end with trailing whitespace")
			}
		}
		out = append(out, msg)
	}
	return out, textBytes, nil
}

// antParseBlock validates one content block (nested: inside a tool_result's
// content) and returns it with the bytes of text it counts for.
func antParseBlock(p string, b gjson.Result, nested bool) (antBlock, int, *antError) {
	if _, e := antObject(b, p, true); e != nil {
		return antBlock{}, 0, e
	}
	t := b.Get("type")
	if !t.Exists() {
		return antBlock{}, 0, antInvalid(p, "Unable to extract tag using discriminator 'type'")
	}
	allowed := antBlockTypes
	if nested {
		allowed = antNestedTypes
	}
	if t.Type != gjson.String || !slices.Contains(allowed, t.Str) {
		return antBlock{}, 0, antInvalid(p, fmt.Sprintf("Input tag '%s' found using 'type' does not match any of the expected tags: %s",
			t.String(), quoteAll(allowed)))
	}
	blk := antBlock{typ: t.Str}
	tp := p + "." + t.Str
	switch t.Str {
	case "text":
		if e := antExtra(b, tp, []string{"type", "text", "cache_control", "citations"}); e != nil {
			return blk, 0, e
		}
		text, e := antString(b.Get("text"), tp+".text", true)
		if e != nil {
			return blk, 0, e
		}
		switch {
		case text == "":
			return blk, 0, antInvalid("messages", "text content blocks must be non-empty")
		case !antNonWhitespace(text):
			return blk, 0, antInvalid("messages", "text content blocks must contain non-whitespace text")
		}
		blk.text = text
		return blk, len(text), nil

	case "image":
		if e := antExtra(b, tp, []string{"type", "source", "cache_control", "transformations"}); e != nil {
			return blk, 0, e
		}
		return blk, 0, antParseImageSource(b.Get("source"), tp+".source")

	case "document":
		if e := antExtra(b, tp, []string{"type", "source", "cache_control", "citations", "context", "title"}); e != nil {
			return blk, 0, e
		}
		src := b.Get("source")
		if _, e := antObject(src, tp+".source", true); e != nil {
			return blk, 0, e
		}
		st := src.Get("type").String()
		if !slices.Contains([]string{"base64", "text", "content", "url", "file"}, st) {
			return blk, 0, antInvalid(tp+".source", fmt.Sprintf("Input tag '%s' found using 'type' does not match any of the expected tags: 'base64', 'text', 'content', 'url', 'file'", st))
		}
		if st == "text" {
			return blk, len(src.Get("data").String()), nil
		}
		return blk, 0, nil

	case "search_result":
		for _, f := range []string{"source", "title"} {
			if _, e := antString(b.Get(f), tp+"."+f, true); e != nil {
				return blk, 0, e
			}
		}
		if c := b.Get("content"); !c.IsArray() {
			return blk, 0, antInvalid(tp+".content", "Input should be a valid list")
		}
		return blk, 0, nil

	case "thinking":
		if e := antExtra(b, tp, []string{"type", "thinking", "signature"}); e != nil {
			return blk, 0, e
		}
		var e *antError
		if blk.text, e = antString(b.Get("thinking"), tp+".thinking", true); e != nil {
			return blk, 0, e
		}
		if blk.signature, e = antString(b.Get("signature"), tp+".signature", true); e != nil {
			return blk, 0, e
		}
		// Thinking from earlier turns is stripped from the context and not
		// counted.
		return blk, 0, nil

	case "redacted_thinking":
		if e := antExtra(b, tp, []string{"type", "data"}); e != nil {
			return blk, 0, e
		}
		_, e := antString(b.Get("data"), tp+".data", true)
		return blk, 0, e

	case "tool_use":
		if e := antExtra(b, tp, []string{"type", "id", "name", "input", "cache_control", "caller", "toolset_name"}); e != nil {
			return blk, 0, e
		}
		var e *antError
		if blk.id, e = antString(b.Get("id"), tp+".id", true); e != nil {
			return blk, 0, e
		}
		if !antToolIDPattern.MatchString(blk.id) {
			return blk, 0, antInvalid(tp+".id", "String should match pattern '^[a-zA-Z0-9_-]+$'")
		}
		if blk.name, e = antString(b.Get("name"), tp+".name", true); e != nil {
			return blk, 0, e
		}
		if blk.name == "" {
			return blk, 0, antInvalid(tp+".name", "String should have at least 1 character")
		}
		in := b.Get("input")
		switch {
		case !in.Exists():
			return blk, 0, antInvalid(tp+".input", "Field required")
		case !in.IsObject():
			return blk, 0, antInvalid(tp+".input", "Input should be a valid dictionary")
		}
		blk.input = compactJSON(in.Raw)
		return blk, len(blk.name) + len(blk.input), nil

	case "tool_result":
		if e := antExtra(b, tp, []string{"type", "tool_use_id", "content", "is_error", "cache_control", "toolset_name"}); e != nil {
			return blk, 0, e
		}
		var e *antError
		if blk.toolUseID, e = antString(b.Get("tool_use_id"), tp+".tool_use_id", true); e != nil {
			return blk, 0, e
		}
		if !antToolIDPattern.MatchString(blk.toolUseID) {
			return blk, 0, antInvalid(tp+".tool_use_id", "String should match pattern '^[a-zA-Z0-9_-]+$'")
		}
		if ie := b.Get("is_error"); present(ie) && ie.Type != gjson.True && ie.Type != gjson.False {
			return blk, 0, antInvalid(tp+".is_error", "Input should be a valid boolean")
		}
		c := b.Get("content")
		switch {
		case !present(c):
		case c.Type == gjson.String:
			blk.text = c.Str
		case c.IsArray():
			var texts []string
			for k, nb := range c.Array() {
				inner, _, e := antParseBlock(fmt.Sprintf("%s.content.%d", tp, k), nb, true)
				if e != nil {
					return blk, 0, e
				}
				if inner.typ == "text" {
					texts = append(texts, inner.text)
				}
			}
			blk.text = strings.Join(texts, " ")
		default:
			return blk, 0, antInvalid(tp+".content", "Input should be a valid list")
		}
		return blk, len(blk.text), nil
	}
	// Server tool blocks: accepted as they are.
	return blk, 0, nil
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = "'" + v + "'"
	}
	return strings.Join(q, ", ")
}

// antParseImageSource checks an image source, decoding base64 data to make
// sure it is an image of the declared type, as the API does.
func antParseImageSource(src gjson.Result, p string) *antError {
	if _, e := antObject(src, p, true); e != nil {
		return e
	}
	st := src.Get("type")
	switch st.String() {
	case "base64":
		bp := p + ".base64"
		if e := antExtra(src, bp, []string{"type", "media_type", "data"}); e != nil {
			return e
		}
		mt, e := antString(src.Get("media_type"), bp+".media_type", true)
		if e != nil {
			return e
		}
		if !slices.Contains(antImageTypes, mt) {
			return antInvalid(bp+".media_type", "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'")
		}
		data, e := antString(src.Get("data"), bp+".data", true)
		if e != nil {
			return e
		}
		raw, ok := decodeStdBase64(data)
		if !ok {
			return antInvalid(bp+".data", "Invalid base64 data")
		}
		got := sniffImage(raw)
		switch {
		case got == "" || !slices.Contains(antImageTypes, got):
			return antInvalid("", "Could not process image")
		case got != mt:
			return antInvalid(bp+".data", fmt.Sprintf("The image was specified using the %s media type, but the image appears to be a %s image", mt, got))
		}
		return nil
	case "url":
		up := p + ".url"
		if e := antExtra(src, up, []string{"type", "url"}); e != nil {
			return e
		}
		u, e := antString(src.Get("url"), up+".url", true)
		if e != nil {
			return e
		}
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return antInvalid(up+".url", "URL must start with 'http://' or 'https://'")
		}
		return nil
	case "file":
		_, e := antString(src.Get("file_id"), p+".file.file_id", true)
		return e
	}
	if !st.Exists() {
		return antInvalid(p, "Unable to extract tag using discriminator 'type'")
	}
	return antInvalid(p, fmt.Sprintf("Input tag '%s' found using 'type' does not match any of the expected tags: 'base64', 'url', 'file'", st.String()))
}

// decodeStdBase64 accepts only standard, padded base64 (a data: URL prefix
// is not base64).
func decodeStdBase64(s string) ([]byte, bool) {
	b, err := base64Std.DecodeString(s)
	return b, err == nil
}

func antParseSystem(sys gjson.Result) (int, *antError) {
	switch {
	case !present(sys):
		return 0, nil
	case sys.Type == gjson.String:
		return len(sys.Str), nil
	case !sys.IsArray():
		return 0, antInvalid("system", "Input should be a valid list")
	}
	n := 0
	for i, b := range sys.Array() {
		p := fmt.Sprintf("system.%d", i)
		if _, e := antObject(b, p, true); e != nil {
			return 0, e
		}
		if b.Get("type").String() != "text" {
			return 0, antInvalid(p+".type", "Input should be 'text'")
		}
		if e := antExtra(b, p, []string{"type", "text", "cache_control", "citations"}); e != nil {
			return 0, e
		}
		text, e := antString(b.Get("text"), p+".text", true)
		if e != nil {
			return 0, e
		}
		switch {
		case text == "":
			return 0, antInvalid("system", "text content blocks must be non-empty")
		case !antNonWhitespace(text):
			return 0, antInvalid("system", "text content blocks must contain non-whitespace text")
		}
		n += len(text)
	}
	return n, nil
}

// antParseTools validates tools and returns the custom tools' names, in
// order, and the bytes their definitions count for.
func antParseTools(tools gjson.Result) ([]string, int, *antError) {
	if !present(tools) {
		return nil, 0, nil
	}
	if !tools.IsArray() {
		return nil, 0, antInvalid("tools", "Input should be a valid list")
	}
	var names []string
	seen := map[string]bool{}
	n := 0
	for i, t := range tools.Array() {
		p := fmt.Sprintf("tools.%d", i)
		if _, e := antObject(t, p, true); e != nil {
			return nil, 0, e
		}
		typ := t.Get("type")
		custom := !present(typ) || typ.Str == "custom"
		if !custom && (typ.Type != gjson.String || !antServerTools.MatchString(typ.Str)) {
			return nil, 0, antInvalid(p, fmt.Sprintf("Input tag '%s' found using 'type' does not match any of the expected tags: "+
				"'custom', 'bash_20250124', 'code_execution_20250825', 'memory_20250818', 'text_editor_20250728', "+
				"'web_search_20250305', 'web_fetch_20250910', 'tool_search_tool_regex_20251119', 'tool_search_tool_bm25_20251119'", typ.String()))
		}
		tp := p + ".custom"
		if !custom {
			tp = p + "." + typ.Str
		}
		name, e := antString(t.Get("name"), tp+".name", true)
		if e != nil {
			return nil, 0, e
		}
		if seen[name] {
			return nil, 0, antInvalid("tools", "Tool names must be unique.")
		}
		seen[name] = true
		if !custom {
			continue
		}
		if e := antExtra(t, tp, []string{"type", "name", "description", "input_schema", "cache_control", "strict",
			"defer_loading", "allowed_callers", "input_examples", "eager_input_streaming"}); e != nil {
			return nil, 0, e
		}
		if !antToolName.MatchString(name) {
			return nil, 0, antInvalid(tp+".name", "String should match pattern '^[a-zA-Z0-9_-]{1,64}$'")
		}
		desc, e := antString(t.Get("description"), tp+".description", false)
		if e != nil {
			return nil, 0, e
		}
		schema := t.Get("input_schema")
		if _, e := antObject(schema, tp+".input_schema", true); e != nil {
			return nil, 0, e
		}
		switch st := schema.Get("type"); {
		case !st.Exists():
			return nil, 0, antInvalid(tp+".input_schema.type", "Field required")
		case st.Str != "object":
			return nil, 0, antInvalid(tp+".input_schema.type", "Input should be 'object'")
		}
		if props := schema.Get("properties"); present(props) && !props.IsObject() {
			return nil, 0, antInvalid(tp+".input_schema.properties", "Input should be a valid dictionary")
		}
		names = append(names, name)
		n += len(name) + len(desc) + len(compactJSON(schema.Raw))
	}
	return names, n, nil
}

// antParseToolChoice validates tool_choice and returns its type and the
// forced tool's name.
func antParseToolChoice(tc gjson.Result, tools []string) (string, string, *antError) {
	if !present(tc) {
		return "auto", "", nil
	}
	if _, e := antObject(tc, "tool_choice", true); e != nil {
		return "", "", e
	}
	typ := tc.Get("type")
	if !typ.Exists() {
		return "", "", antInvalid("tool_choice", "Unable to extract tag using discriminator 'type'")
	}
	choices := []string{"auto", "any", "tool", "none"}
	if !slices.Contains(choices, typ.String()) || typ.Type != gjson.String {
		return "", "", antInvalid("tool_choice", fmt.Sprintf("Input tag '%s' found using 'type' does not match any of the expected tags: %s", typ.String(), quoteAll(choices)))
	}
	p := "tool_choice." + typ.Str
	allowed := []string{"type", "disable_parallel_tool_use"}
	if typ.Str == "tool" {
		allowed = append(allowed, "name")
	}
	if typ.Str == "none" {
		allowed = []string{"type"}
	}
	if e := antExtra(tc, p, allowed); e != nil {
		return "", "", e
	}
	if d := tc.Get("disable_parallel_tool_use"); present(d) && d.Type != gjson.True && d.Type != gjson.False {
		return "", "", antInvalid(p+".disable_parallel_tool_use", "Input should be a valid boolean")
	}
	if (typ.Str == "any" || typ.Str == "tool") && len(tools) == 0 {
		return "", "", antInvalid("", "tool_choice may only be specified while providing tools")
	}
	forced := ""
	if typ.Str == "tool" {
		name, e := antString(tc.Get("name"), p+".name", true)
		if e != nil {
			return "", "", e
		}
		if !slices.Contains(tools, name) {
			return "", "", antInvalid(p+".name", fmt.Sprintf("Tool '%s' not found in provided tools", name))
		}
		forced = name
	}
	return typ.Str, forced, nil
}

func antParseThinking(root gjson.Result, req *antRequest, count bool) *antError {
	th := root.Get("thinking")
	if !present(th) {
		return nil
	}
	if _, e := antObject(th, "thinking", true); e != nil {
		return e
	}
	typ := th.Get("type")
	if !typ.Exists() {
		return antInvalid("thinking", "Unable to extract tag using discriminator 'type'")
	}
	types := []string{"enabled", "disabled", "adaptive"}
	if typ.Type != gjson.String || !slices.Contains(types, typ.Str) {
		return antInvalid("thinking", fmt.Sprintf("Input tag '%s' found using 'type' does not match any of the expected tags: %s", typ.String(), quoteAll(types)))
	}
	p := "thinking." + typ.Str
	switch typ.Str {
	case "disabled":
		return antExtra(th, p, []string{"type"})
	case "enabled":
		if e := antExtra(th, p, []string{"type", "budget_tokens", "display"}); e != nil {
			return e
		}
		bt := th.Get("budget_tokens")
		if !bt.Exists() {
			return antInvalid(p+".budget_tokens", "Field required")
		}
		budget, e := antInt(bt, p+".budget_tokens")
		if e != nil {
			return e
		}
		if budget < 1024 {
			return antInvalid(p+".budget_tokens", "Input should be greater than or equal to 1024")
		}
		if !count && budget >= req.maxTokens {
			return antInvalid("", "`max_tokens` must be greater than `thinking.budget_tokens`. "+antThinkingDocs+"#max-tokens-and-context-window-size")
		}
	case "adaptive":
		if e := antExtra(th, p, []string{"type", "display"}); e != nil {
			return e
		}
	}
	if d := th.Get("display"); present(d) {
		if d.Str != "summarized" && d.Str != "omitted" {
			return antInvalid(p+".display", "Input should be 'summarized' or 'omitted'")
		}
		req.omitThinking = d.Str == "omitted"
	}
	req.thinking = true
	return nil
}

// antCheckConversation enforces the conversation rules: the first message
// is the user's; consecutive messages of one role are merged into one turn;
// every tool_use is answered by a tool_result at the start of the next turn
// and every tool_result answers a tool_use of the previous turn; thinking
// signatures are genuine; with thinking enabled, the assistant turn whose
// tools are being answered starts with a thinking block.
func antCheckConversation(msgs []antMsg, thinking bool) ([]antTurn, *antError) {
	if msgs[0].role != "user" {
		return nil, antInvalid("messages", `first message must use the "user" role`)
	}
	var turns []antTurn
	for _, m := range msgs {
		if n := len(turns); n > 0 && turns[n-1].role == m.role {
			turns[n-1].blocks = append(turns[n-1].blocks, m.blocks...)
			turns[n-1].last = m.idx
			continue
		}
		turns = append(turns, antTurn{role: m.role, first: m.idx, last: m.idx, blocks: slices.Clone(m.blocks)})
	}
	// An empty final assistant message merges into nothing.
	if n := len(turns); len(turns[n-1].blocks) == 0 {
		turns = turns[:n-1]
	}

	seen := map[string]bool{}
	for ti, t := range turns {
		for _, b := range t.blocks {
			if b.typ == "thinking" && !verify(b.signature, "thinking", b.text) {
				return nil, antInvalid(fmt.Sprintf("messages.%d.content.%d", b.msg, b.idx), "Invalid `signature` in `thinking` block")
			}
		}
		if t.role == "assistant" {
			var ids []string
			toolMsg, trailing := -1, false
			for _, b := range t.blocks {
				switch {
				case b.typ == "tool_use":
					if seen[b.id] {
						return nil, antInvalid(fmt.Sprintf("messages.%d.content.%d", b.msg, b.idx), "`tool_use` ids must be unique")
					}
					seen[b.id] = true
					ids = append(ids, b.id)
					toolMsg = b.msg
				case toolMsg >= 0:
					trailing = true
				}
			}
			if len(ids) == 0 {
				continue
			}
			answered := map[string]bool{}
			if ti+1 < len(turns) && !trailing {
				for _, b := range turns[ti+1].blocks {
					if b.typ != "tool_result" {
						break
					}
					answered[b.toolUseID] = true
				}
			}
			var missing []string
			for _, id := range ids {
				if !answered[id] {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				return nil, antInvalid(fmt.Sprintf("messages.%d", toolMsg), "`tool_use` ids were found without `tool_result` blocks immediately after: "+
					strings.Join(missing, ", ")+". Each `tool_use` block must have a corresponding `tool_result` block in the next message.")
			}
			continue
		}
		prev := map[string]bool{}
		if ti > 0 {
			for _, b := range turns[ti-1].blocks {
				if b.typ == "tool_use" {
					prev[b.id] = true
				}
			}
		}
		for _, b := range t.blocks {
			if b.typ == "tool_result" && !prev[b.toolUseID] {
				return nil, antInvalid(fmt.Sprintf("messages.%d.content.%d", b.msg, b.idx), "unexpected `tool_use_id` found in `tool_result` blocks: "+
					b.toolUseID+". Each `tool_result` block must have a corresponding `tool_use` block in the previous message.")
			}
		}
	}

	last := turns[len(turns)-1]
	if thinking && last.role == "user" && last.blocks[0].typ == "tool_result" && len(turns) >= 2 {
		a := turns[len(turns)-2]
		if f := a.blocks[0]; f.typ != "thinking" && f.typ != "redacted_thinking" {
			return nil, antInvalid(fmt.Sprintf("messages.%d.content.%d.type", f.msg, f.idx), fmt.Sprintf(
				"Expected `thinking` or `redacted_thinking`, but found `%s`. When `thinking` is enabled, a final `assistant` message "+
					"must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend "+
					"you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. "+antThinkingDocs, f.typ))
		}
	}
	return turns, nil
}
