package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"
)

// Tools as clients declare them and as providers take them.
//
// A client may declare a tool a provider cannot take as is: inside a
// namespace (Responses namespace tools), as a custom tool with free-text
// input (Responses custom tools), or under a name some provider refuses
// (Gemini allows dots and colons, OpenAI and Anthropic do not). Decoders
// record the declaration on the canonical Tool (Kind, Namespace,
// ClientName) and give it a name and a JSON Schema every provider takes
// (NameTools, CustomToolParameters); the answer's calls get the client's
// names and kinds back through ClientTools.
//
// What the engine does with a translated request (the client's decoded
// canonical request canon, for one upstream):
//
//	tools := translate.NewClientTools(canon)       // once, after decoding; nil = nothing to restore
//	log canon.Dropped as a warning                   // hosted tools and items left out
//	req := *canon; req.Model = ...; overrides.Apply(&req)
//	providers.Fit(&req, upstream.MaxOutputTokens)  // then EncodeRequest
//	tools.RestoreResponse(resp)                     // whole answer, before EncodeResponse
//	enc = tools.Wrap(client.NewStreamEncoder(opts)) // streams (and a whole answer streamed)

// DefaultNamespace is the Responses namespace whose tools are plain
// functions: Codex declares its own tools in it.
const DefaultNamespace = "functions"

// maxToolName is the longest tool name every provider takes (OpenAI,
// Anthropic and Gemini: 64).
const maxToolName = 64

// ProviderToolName is the name providers see for the tool the client
// declared as name in namespace ns ("" for none): name itself when every
// provider takes it (^[a-zA-Z_][a-zA-Z0-9_-]{0,63}$), "ns__name" for a
// namespace other than DefaultNamespace, and for a name that does not fit,
// its valid characters, cut short, and a hash of the original, so that two
// names never meet.
func ProviderToolName(ns, name string) string {
	full := name
	if ns != "" && ns != DefaultNamespace {
		if strings.HasSuffix(ns, "__") {
			full = ns + name
		} else {
			full = ns + "__" + name
		}
	}
	if validToolName(full) {
		return full
	}
	return hashedToolName(ns+"\x00"+name, full)
}

func validToolName(s string) bool {
	if s == "" || len(s) > maxToolName {
		return false
	}
	if c := s[0]; !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !toolNameChar(s[i]) {
			return false
		}
	}
	return true
}

func toolNameChar(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// hashedToolName keeps what it can of name (valid characters, at most 52
// of them, starting with a letter or '_') and adds 11 characters of a hash
// of key.
func hashedToolName(key, name string) string {
	b := make([]byte, 0, maxToolName)
	for i := 0; i < len(name) && len(b) < maxToolName-12; i++ {
		c := name[i]
		if !toolNameChar(c) {
			c = '_'
		}
		if len(b) == 0 && !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b = append(b, '_')
		}
		b = append(b, c)
	}
	sum := sha256.Sum256([]byte(key))
	if len(b) == 0 {
		b = append(b, 't')
	}
	b = append(b, '_')
	return string(hex.AppendEncode(b, sum[:5]))
}

// toolKey identifies a tool as the client declared it.
type toolKey struct{ ns, name string }

// NameTools gives the request's tools, the tool calls and results of its
// history and its tool choice the names providers see. Decoders set each
// Tool's Name to the client's name within its Namespace and call it once,
// after decoding; a tool whose name changes keeps the client's in
// ClientName. Calls (and the results that answer them) are renamed like
// the tool they call, by their Namespace and name, so history that calls
// a tool no longer declared still reads the same way. Two declarations
// that would share a name get distinct ones.
func NameTools(r *Request) {
	names := map[toolKey]string{}
	taken := map[string]toolKey{}
	for i := range r.Tools {
		t := &r.Tools[i]
		k := toolKey{t.Namespace, t.Name}
		if _, dup := names[k]; dup {
			continue // a repeated declaration: providers refuse it, encoders see it as is
		}
		pn := ProviderToolName(k.ns, k.name)
		if other, ok := taken[pn]; ok && other != k {
			pn = hashedToolName(k.ns+"\x00"+k.name, k.ns+"__"+k.name)
		}
		names[k], taken[pn] = pn, k
	}
	rename := func(ns, name string) string {
		if pn, ok := names[toolKey{ns, name}]; ok {
			return pn
		}
		return ProviderToolName(ns, name)
	}
	for i := range r.Tools {
		t := &r.Tools[i]
		pn := rename(t.Namespace, t.Name)
		if pn != t.Name {
			t.ClientName, t.Name = t.Name, pn
		}
	}
	byID := map[string]string{}
	for mi := range r.Messages {
		for pi := range r.Messages[mi].Parts {
			p := &r.Messages[mi].Parts[pi]
			if p.Type == PartToolCall && p.ToolName != "" {
				p.ToolName = rename(p.Namespace, p.ToolName)
				if p.ToolCallID != "" {
					byID[p.ToolCallID] = p.ToolName
				}
			}
		}
	}
	for mi := range r.Messages {
		for pi := range r.Messages[mi].Parts {
			p := &r.Messages[mi].Parts[pi]
			if p.Type != PartToolResult {
				continue
			}
			if pn, ok := byID[p.ToolCallID]; ok && p.ToolCallID != "" {
				p.ToolName = pn
			} else if p.ToolName != "" {
				p.ToolName = rename(p.Namespace, p.ToolName)
			}
		}
	}
	if tc := r.ToolChoice; tc != nil && tc.Name != "" {
		tc.Name = rename("", tc.Name)
	}
}

// CustomToolParameters is the JSON Schema of the function a custom tool
// becomes for providers without custom tools: one string, "input".
const CustomToolParameters = `{"type":"object","properties":{"input":{"type":"string","description":"The tool's whole input, as free text in the format the tool's description gives."}},"required":["input"],"additionalProperties":false}`

// CustomToolDescription is the description of a custom tool for providers
// without custom tools: the client's, and the input format it declared
// (format: a Responses custom tool format object, nil for free text).
func CustomToolDescription(description string, format json.RawMessage) string {
	f := gjson.ParseBytes(format)
	if f.Get("type").Str != "grammar" {
		return description
	}
	var b strings.Builder
	b.WriteString(description)
	if b.Len() > 0 {
		b.WriteString("\n\n")
	}
	syntax := f.Get("syntax").String()
	if syntax == "" {
		syntax = "lark"
	}
	b.WriteString("The input must match this ")
	b.WriteString(syntax)
	b.WriteString(" grammar:\n")
	b.WriteString(strings.TrimSpace(f.Get("definition").String()))
	return b.String()
}

// CustomToolArguments is the Arguments of a custom tool's call with this
// input.
func CustomToolArguments(input string) string {
	return string(AppendJSONString([]byte(`{"input":`), input)) + "}"
}

// CustomToolInput reads the input text back from a custom tool call's
// arguments: their "input" string; else their only string member (a
// model may name it otherwise); else the arguments themselves.
func CustomToolInput(args string) string {
	a := gjson.Parse(args)
	switch {
	case a.Type == gjson.String:
		return a.Str
	case !a.IsObject():
		return args
	}
	if in := a.Get("input"); in.Type == gjson.String {
		return in.Str
	}
	var only string
	n := 0
	a.ForEach(func(_, v gjson.Result) bool {
		n++
		if v.Type == gjson.String {
			only = v.Str
		}
		return n < 2
	})
	if n == 1 && only != "" {
		return only
	}
	return args
}

// ClientTools gives the tool calls of an answer the names, namespaces and
// kinds the client declared. Build it from the decoded request with
// NewClientTools; it is nil when no tool needs it, and a nil ClientTools
// leaves everything unchanged.
//
// It keeps only what it restores, not the tools themselves: a translated
// stream holds it for as long as it lasts, and tool definitions (their
// descriptions and schemas) can be tens of kilobytes.
type ClientTools struct {
	byName map[string]clientTool
}

// clientTool is a tool as its client declared it.
type clientTool struct {
	name, namespace string
	kind            ToolKind
}

// NewClientTools returns the ClientTools of r, nil when every tool is a
// function under its own name.
func NewClientTools(r *Request) *ClientTools {
	var c *ClientTools
	for i := range r.Tools {
		t := &r.Tools[i]
		if t.ClientName == "" && t.Namespace == "" && t.Kind == ToolFunction {
			continue
		}
		if c == nil {
			c = &ClientTools{byName: map[string]clientTool{}}
		}
		if _, dup := c.byName[t.Name]; !dup {
			c.byName[t.Name] = clientTool{name: t.clientName(), namespace: t.Namespace, kind: t.Kind}
		}
	}
	return c
}

func (c *ClientTools) lookup(name string) (clientTool, bool) {
	if c == nil {
		return clientTool{}, false
	}
	t, ok := c.byName[name]
	return t, ok
}

func (t *Tool) clientName() string {
	if t.ClientName != "" {
		return t.ClientName
	}
	return t.Name
}

// RestoreResponse renames the tool calls of a whole answer as the client
// declared their tools, and marks their namespace and kind.
func (c *ClientTools) RestoreResponse(r *Response) {
	if c == nil || r == nil {
		return
	}
	for i := range r.Parts {
		p := &r.Parts[i]
		if p.Type != PartToolCall {
			continue
		}
		if t, ok := c.lookup(p.ToolName); ok {
			p.ToolName, p.Namespace, p.ToolKind = t.name, t.namespace, t.kind
		}
	}
}

// Wrap returns enc with the tool calls of the stream renamed as the
// client declared their tools (EvToolStart gets ToolName, Namespace and
// ToolKind); a nil ClientTools returns enc itself.
func (c *ClientTools) Wrap(enc StreamEncoder) StreamEncoder {
	if c == nil {
		return enc
	}
	return &restoringEncoder{c: c, enc: enc}
}

type restoringEncoder struct {
	c   *ClientTools
	enc StreamEncoder
}

func (e *restoringEncoder) Encode(dst []byte, ev *StreamEvent) []byte {
	if ev.Type == EvToolStart {
		if t, ok := e.c.lookup(ev.ToolName); ok {
			cp := *ev
			cp.ToolName, cp.Namespace, cp.ToolKind = t.name, t.namespace, t.kind
			return e.enc.Encode(dst, &cp)
		}
	}
	return e.enc.Encode(dst, ev)
}

// SystemText is the system prompt of r with its RoleSystem messages
// appended in order, for encoders whose provider takes system
// instructions only ahead of the conversation.
func SystemText(r *Request) string {
	sys := r.System
	for mi := range r.Messages {
		m := &r.Messages[mi]
		if m.Role != RoleSystem {
			continue
		}
		for pi := range m.Parts {
			if p := &m.Parts[pi]; p.Type == PartText && strings.TrimSpace(p.Text) != "" {
				if sys != "" {
					sys += "\n\n"
				}
				sys += p.Text
			}
		}
	}
	return sys
}

// FitUserID is user when it is at most max bytes long, else a stable
// stand-in of at most max bytes ("u-" and a SHA-256 prefix), so a provider
// that limits its user field still tells users apart.
func FitUserID(user string, max int) string {
	if len(user) <= max || max <= 0 {
		return user
	}
	sum := sha256.Sum256([]byte(user))
	h := hex.EncodeToString(sum[:])
	n := min(max-2, 32)
	if n <= 0 {
		return h[:max]
	}
	return "u-" + h[:n]
}
