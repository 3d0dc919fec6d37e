package anthropic

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// placeholderUser opens a conversation that does not start with a user
// message, which the API requires.
const placeholderUser = "(conversation continues)"

// missingResult answers a tool call whose result the history lacks.
const missingResult = "No result was recorded for this tool call."

const (
	blockText uint8 = iota
	blockImage
	blockToolUse
	blockToolResult
	blockThinking
	blockRedacted
)

type block struct {
	kind uint8
	text string          // blockText: the text
	id   string          // blockToolUse / blockToolResult: the (sanitized, unique) id
	orig string          // blockToolUse: the sanitized id before making it unique
	part *translate.Part // the source part (nil for synthesized blocks)
	err  bool            // synthesized tool_result: is_error
}

type message struct {
	user    bool
	results []block // tool_result blocks (user messages), sent first
	blocks  []block
}

// buildMessages turns the canonical history into strictly alternating
// user/assistant messages the API accepts.
func buildMessages(r *translate.Request) []message {
	var out []message
	add := func(user bool, results, blocks []block) {
		if len(results) == 0 && len(blocks) == 0 {
			return
		}
		if n := len(out); n > 0 && out[n-1].user == user {
			out[n-1].results = append(out[n-1].results, results...)
			out[n-1].blocks = append(out[n-1].blocks, blocks...)
			return
		}
		out = append(out, message{user: user, results: results, blocks: blocks})
	}
	for mi := range r.Messages {
		m := &r.Messages[mi]
		var results, blocks []block
		if m.Role == translate.RoleSystem {
			continue // folded into the system prompt (see systemText)
		}
		if m.Role == translate.RoleAssistant {
			for pi := range m.Parts {
				p := &m.Parts[pi]
				switch p.Type {
				case translate.PartText:
					if strings.TrimSpace(p.Text) != "" {
						blocks = append(blocks, block{kind: blockText, text: p.Text, part: p})
					}
				case translate.PartToolCall:
					id := p.ToolCallID
					if id == "" {
						id = translate.MakeToolCallID("toolu_", p.ToolName, mi<<16|pi)
					}
					blocks = append(blocks, block{kind: blockToolUse, id: toolID(id), part: p})
				case translate.PartThinking:
					// Another provider's signature (a Gemini thought
					// signature) means nothing here, and Anthropic refuses it.
					switch {
					case !translate.SignatureFor(p.SignatureFormat, Name):
					case p.Redacted:
						if p.Data != "" {
							blocks = append(blocks, block{kind: blockRedacted, part: p})
						}
					case p.Signature != "":
						blocks = append(blocks, block{kind: blockThinking, part: p})
					}
				}
			}
			add(false, nil, blocks)
			continue
		}
		// User and tool messages (and any unknown role) speak as the user.
		for pi := range m.Parts {
			p := &m.Parts[pi]
			switch p.Type {
			case translate.PartText:
				if strings.TrimSpace(p.Text) != "" {
					blocks = append(blocks, block{kind: blockText, text: p.Text, part: p})
				}
			case translate.PartImage:
				if p.Data != "" || p.URL != "" {
					blocks = append(blocks, block{kind: blockImage, part: p})
				}
			case translate.PartToolResult:
				id := p.ToolCallID
				if id != "" {
					id = toolID(id)
				}
				results = append(results, block{kind: blockToolResult, id: id, part: p})
			}
		}
		add(true, results, blocks)
	}

	// Tool-use ids must be unique in the conversation; some servers reuse
	// ids such as "call_0" every turn. A repeated id gets a suffix; results
	// are matched to calls by the original id, within one exchange.
	used := map[string]bool{}
	for i := range out {
		if out[i].user {
			continue
		}
		for k := range out[i].blocks {
			bl := &out[i].blocks[k]
			if bl.kind != blockToolUse {
				continue
			}
			bl.orig = bl.id
			for n := 2; used[bl.id]; n++ {
				bl.id = bl.orig + "_" + strconv.Itoa(n)
			}
			used[bl.id] = true
		}
	}

	// Every tool_result must answer a tool_use of the assistant message just
	// before it, and every tool_use must get its tool_result.
	for i := range out {
		if !out[i].user {
			continue
		}
		var calls []*block
		if i > 0 {
			for k := range out[i-1].blocks {
				if out[i-1].blocks[k].kind == blockToolUse {
					calls = append(calls, &out[i-1].blocks[k])
				}
			}
		}
		if len(calls) == 0 && len(out[i].results) == 0 {
			continue
		}
		answered := make([]bool, len(calls))
		var kept, orphans []block
		for _, res := range out[i].results {
			j := -1
			for k, c := range calls {
				if !answered[k] && (c.orig == res.id || res.id == "") {
					j = k
					break
				}
			}
			if j < 0 {
				orphans = append(orphans, orphanResult(res)...)
				continue
			}
			answered[j] = true
			res.id = calls[j].id
			kept = append(kept, res)
		}
		for k, c := range calls {
			if !answered[k] {
				kept = append(kept, block{kind: blockToolResult, id: c.id, text: missingResult, err: true})
			}
		}
		out[i].results = kept
		if len(orphans) > 0 {
			out[i].blocks = append(orphans, out[i].blocks...)
		}
	}

	if len(out) == 0 || !out[0].user {
		out = append([]message{{user: true, blocks: []block{{kind: blockText, text: placeholderUser}}}}, out...)
	}
	// A final assistant message (a prefill) may not end with whitespace.
	if last := &out[len(out)-1]; !last.user {
		if n := len(last.blocks); n > 0 && last.blocks[n-1].kind == blockText {
			t := strings.TrimRightFunc(last.blocks[n-1].text, unicode.IsSpace)
			if t == "" {
				last.blocks = last.blocks[:n-1]
			} else {
				last.blocks[n-1].text = t
			}
		}
		if len(last.blocks) == 0 {
			out = out[:len(out)-1]
		}
	}
	return out
}

// orphanResult turns a tool result that answers no call into user
// content: a text block naming the call, then its images.
func orphanResult(res block) []block {
	p := res.part
	var sb strings.Builder
	sb.WriteString(translate.OrphanLabel(p))
	var imgs []block
	for k := range p.Content {
		c := &p.Content[k]
		switch c.Type {
		case translate.PartText:
			sb.WriteByte('\n')
			sb.WriteString(c.Text)
		case translate.PartImage:
			if c.Data != "" || c.URL != "" {
				imgs = append(imgs, block{kind: blockImage, part: c})
			}
		}
	}
	return append([]block{{kind: blockText, text: sb.String()}}, imgs...)
}

// turnStartsWithThinking reports whether the current turn - the
// assistant messages after the last user message without tool results -
// is empty or starts with a thinking block, as the API demands when
// thinking is on.
func turnStartsWithThinking(msgs []message) bool {
	k := -1
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].user && len(msgs[i].results) == 0 {
			k = i
			break
		}
	}
	for i := k + 1; i < len(msgs); i++ {
		if !msgs[i].user {
			bl := msgs[i].blocks
			return len(bl) > 0 && (bl[0].kind == blockThinking || bl[0].kind == blockRedacted)
		}
	}
	return true
}

// toolID makes id match ^[a-zA-Z0-9_-]+$, deterministically: valid ids
// are kept, others get '_' for each invalid character and a hash of the
// original, so distinct ids stay distinct.
func toolID(id string) string {
	ok := id != ""
	for i := 0; i < len(id) && ok; i++ {
		ok = idChar(id[i])
	}
	if ok {
		return id
	}
	b := make([]byte, 0, len(id)+17)
	for i := 0; i < len(id); i++ {
		if idChar(id[i]) {
			b = append(b, id[i])
		} else {
			b = append(b, '_')
		}
	}
	sum := sha256.Sum256([]byte(id))
	b = append(b, '_')
	b = hex.AppendEncode(b, sum[:8])
	return string(b)
}

func idChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func appendMessage(b []byte, m *message) []byte {
	if m.user {
		b = append(b, `{"role":"user","content":[`...)
	} else {
		b = append(b, `{"role":"assistant","content":[`...)
	}
	n := 0
	for _, list := range [2][]block{m.results, m.blocks} {
		for k := range list {
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendBlock(b, &list[k])
		}
	}
	return append(b, "]}"...)
}

func appendBlock(b []byte, bl *block) []byte {
	p := bl.part
	switch bl.kind {
	case blockText:
		b = append(b, `{"type":"text","text":`...)
		b = translate.AppendJSONString(b, bl.text)
		return append(b, '}')
	case blockImage:
		return appendImage(b, p)
	case blockToolUse:
		b = append(b, `{"type":"tool_use","id":`...)
		b = translate.AppendJSONString(b, bl.id)
		b = append(b, `,"name":`...)
		b = translate.AppendJSONString(b, p.ToolName)
		b = append(b, `,"input":`...)
		b = appendObject(b, p.Arguments)
		return append(b, '}')
	case blockToolResult:
		b = append(b, `{"type":"tool_result","tool_use_id":`...)
		b = translate.AppendJSONString(b, bl.id)
		if p == nil { // synthesized
			b = append(b, `,"content":`...)
			b = translate.AppendJSONString(b, bl.text)
			if bl.err {
				b = append(b, `,"is_error":true`...)
			}
			return append(b, '}')
		}
		b = appendResultContent(b, p.Content)
		if p.IsError {
			b = append(b, `,"is_error":true`...)
		}
		return append(b, '}')
	case blockThinking:
		b = append(b, `{"type":"thinking","thinking":`...)
		b = translate.AppendJSONString(b, p.Text)
		b = append(b, `,"signature":`...)
		b = translate.AppendJSONString(b, p.Signature)
		return append(b, '}')
	case blockRedacted:
		b = append(b, `{"type":"redacted_thinking","data":`...)
		b = translate.AppendJSONString(b, p.Data)
		return append(b, '}')
	}
	return b
}

// appendResultContent writes a tool_result's content: a string when it
// is one text, blocks otherwise, nothing when empty.
func appendResultContent(b []byte, content []translate.Part) []byte {
	n, texts := 0, 0
	var only *translate.Part
	for k := range content {
		c := &content[k]
		switch {
		case c.Type == translate.PartText && c.Text != "":
			n++
			texts++
			only = c
		case c.Type == translate.PartImage && (c.Data != "" || c.URL != ""):
			n++
		}
	}
	if n == 0 {
		return b
	}
	if n == 1 && texts == 1 {
		b = append(b, `,"content":`...)
		return translate.AppendJSONString(b, only.Text)
	}
	b = append(b, `,"content":[`...)
	first := true
	for k := range content {
		c := &content[k]
		switch {
		case c.Type == translate.PartText && c.Text != "":
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, `{"type":"text","text":`...)
			b = translate.AppendJSONString(b, c.Text)
			b = append(b, '}')
		case c.Type == translate.PartImage && (c.Data != "" || c.URL != ""):
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendImage(b, c)
		}
	}
	return append(b, ']')
}

func appendImage(b []byte, p *translate.Part) []byte {
	mt, data := p.MediaType, p.Data
	if data == "" && strings.HasPrefix(p.URL, "data:") {
		mt, data = parseDataURL(p.URL)
	}
	if data != "" {
		if mt == "" {
			mt = sniffImage(data)
		}
		b = append(b, `{"type":"image","source":{"type":"base64","media_type":`...)
		b = translate.AppendJSONString(b, mt)
		b = append(b, `,"data":`...)
		b = translate.AppendJSONString(b, data)
		return append(b, "}}"...)
	}
	b = append(b, `{"type":"image","source":{"type":"url","url":`...)
	b = translate.AppendJSONString(b, p.URL)
	return append(b, "}}"...)
}

// parseDataURL splits "data:<media type>;base64,<data>".
func parseDataURL(u string) (mediaType, data string) {
	rest := strings.TrimPrefix(u, "data:")
	comma := strings.IndexByte(rest, ',')
	if comma < 0 {
		return "", ""
	}
	meta := rest[:comma]
	if !strings.HasSuffix(meta, ";base64") {
		return "", ""
	}
	mt := strings.TrimSuffix(meta, ";base64")
	if j := strings.IndexByte(mt, ';'); j >= 0 {
		mt = mt[:j]
	}
	return mt, rest[comma+1:]
}

// sniffImage guesses the media type of base64 image data.
func sniffImage(data string) string {
	switch {
	case strings.HasPrefix(data, "/9j/"):
		return "image/jpeg"
	case strings.HasPrefix(data, "R0lGOD"):
		return "image/gif"
	case strings.HasPrefix(data, "UklGR"):
		return "image/webp"
	}
	return "image/png"
}
