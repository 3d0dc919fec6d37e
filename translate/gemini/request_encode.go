package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// EncodeRequest writes r as a generateContent body (without the
// model, which goes in the URL).
func EncodeRequest(r *translate.Request) ([]byte, error) {
	b := make([]byte, 0, 256+translate.RequestSize(r))
	b = append(b, '{')
	b, err := appendRequestFields(b, r, false)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// EncodeCountTokens writes r as a :countTokens body in the
// generateContentRequest form, so the system instruction and tools count.
func EncodeCountTokens(r *translate.Request) ([]byte, error) {
	b := make([]byte, 0, 256+translate.RequestSize(r))
	b = append(b, `{"generateContentRequest":{`...)
	if r.Model != "" {
		b = append(b, `"model":`...)
		m := r.Model
		if !strings.HasPrefix(m, "models/") && !strings.HasPrefix(m, "tunedModels/") {
			m = "models/" + m
		}
		b = translate.AppendJSONString(b, m)
		b = append(b, ',')
	}
	b, err := appendRequestFields(b, r, true)
	if err != nil {
		return nil, err
	}
	return append(b, `}}`...), nil
}

func appendRequestFields(b []byte, r *translate.Request, count bool) ([]byte, error) {
	translate.ResolveToolNames(r)
	b = append(b, `"contents":[`...)
	var scratch []byte
	open, role, contents := false, "", 0
	callSeen := false
	for mi := range r.Messages {
		m := &r.Messages[mi]
		if m.Role == translate.RoleSystem {
			continue // in systemInstruction, after the system prompt
		}
		want := "user"
		if m.Role == translate.RoleAssistant {
			want = "model"
		}
		seen := callSeen
		if want != role || !open {
			seen = false
		}
		var err error
		scratch, err = appendMessageParts(scratch[:0], m, mi, &seen)
		if err != nil {
			return nil, err
		}
		if len(scratch) == 0 {
			continue
		}
		callSeen = seen
		if open && want == role {
			b = append(b, ',')
			b = append(b, scratch...)
			continue
		}
		if open {
			b = append(b, `]},`...)
		}
		b = append(b, `{"role":"`...)
		b = append(b, want...)
		b = append(b, `","parts":[`...)
		b = append(b, scratch...)
		open, role = true, want
		contents++
	}
	if open {
		b = append(b, `]}`...)
	}
	b = append(b, ']')
	if contents == 0 {
		return nil, &translate.RequestError{Message: "the request has no message content to send", Param: "messages"}
	}
	// Gemini has no system instructions partway through the conversation:
	// they join the system instruction.
	if sys := translate.SystemText(r); sys != "" {
		b = append(b, `,"systemInstruction":{"parts":[{"text":`...)
		b = translate.AppendJSONString(b, sys)
		b = append(b, `}]}`...)
	}
	if len(r.Tools) > 0 {
		b = append(b, `,"tools":[{"functionDeclarations":[`...)
		for i := range r.Tools {
			t := &r.Tools[i]
			if t.Name == "" {
				return nil, &translate.RequestError{Message: "a tool has no name", Param: "tools"}
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = translate.AppendJSONString(b, t.Name)
			if t.Description != "" {
				b = append(b, `,"description":`...)
				b = translate.AppendJSONString(b, t.Description)
			}
			if len(bytes.TrimSpace(t.Parameters)) > 0 && string(bytes.TrimSpace(t.Parameters)) != "null" {
				if !gjson.ValidBytes(t.Parameters) || !gjson.ParseBytes(t.Parameters).IsObject() {
					return nil, &translate.RequestError{Message: fmt.Sprintf("the parameters of tool %q are not a JSON object", t.Name), Param: "tools"}
				}
				b = append(b, `,"parametersJsonSchema":`...)
				b = compact(b, geminiSchema(t.Parameters))
			}
			b = append(b, '}')
		}
		b = append(b, `]}]`...)
		if tc := r.ToolChoice; tc != nil && !count {
			switch tc.Mode {
			case "auto":
				b = append(b, `,"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}`...)
			case "none":
				b = append(b, `,"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}`...)
			case "required":
				b = append(b, `,"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}`...)
			case "tool":
				b = append(b, `,"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":[`...)
				b = translate.AppendJSONString(b, tc.Name)
				b = append(b, `]}}`...)
			}
		}
	}
	if !count {
		b = appendGenerationConfig(b, r)
	}
	return b, nil
}

func appendGenerationConfig(b []byte, r *translate.Request) []byte {
	start := len(b)
	b = append(b, `,"generationConfig":{`...)
	inner := len(b)
	sep := func() {
		if len(b) > inner {
			b = append(b, ',')
		}
	}
	if r.MaxTokens > 0 {
		sep()
		b = append(b, `"maxOutputTokens":`...)
		b = strconv.AppendInt(b, int64(r.MaxTokens), 10)
	}
	if r.Temperature != nil {
		sep()
		b = append(b, `"temperature":`...)
		b = translate.AppendFloat(b, *r.Temperature)
	}
	if r.TopP != nil {
		sep()
		b = append(b, `"topP":`...)
		b = translate.AppendFloat(b, *r.TopP)
	}
	if r.TopK != nil {
		sep()
		b = append(b, `"topK":`...)
		b = strconv.AppendInt(b, int64(*r.TopK), 10)
	}
	if len(r.Stop) > 0 {
		sep()
		b = append(b, `"stopSequences":[`...)
		for i, s := range r.Stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = translate.AppendJSONString(b, s)
		}
		b = append(b, ']')
	}
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			sep()
			b = append(b, `"responseMimeType":"application/json"`...)
		case "json_schema":
			sep()
			b = append(b, `"responseMimeType":"application/json"`...)
			if s := bytes.TrimSpace(rf.Schema); len(s) > 0 && gjson.ValidBytes(s) {
				b = append(b, `,"responseJsonSchema":`...)
				b = compact(b, geminiSchema(s))
			}
		}
	}
	if rs := r.Reasoning; rs != nil {
		sep()
		if rs.Off {
			b = append(b, `"thinkingConfig":{"thinkingBudget":0}`...)
		} else {
			b = append(b, `"thinkingConfig":{"thinkingBudget":`...)
			b = strconv.AppendInt(b, int64(rs.BudgetTokens()), 10)
			b = append(b, `,"includeThoughts":true}`...)
		}
	}
	if len(b) == inner {
		return b[:start]
	}
	return append(b, '}')
}

// appendMessageParts writes the Gemini parts of one canonical message,
// comma separated, without brackets. *callSeen tracks whether the Gemini
// content being built already has a functionCall (only the first one of a
// model turn needs a thought signature).
func appendMessageParts(b []byte, m *translate.Message, mi int, callSeen *bool) ([]byte, error) {
	sig := ""
	n := 0
	next := func() {
		if n > 0 {
			b = append(b, ',')
		}
		n++
	}
	// withSig closes a part object, adding the pending signature.
	withSig := func() {
		if sig != "" {
			b = append(b, `,"thoughtSignature":`...)
			b = translate.AppendJSONString(b, sig)
			sig = ""
		}
		b = append(b, '}')
	}
	assistant := m.Role == translate.RoleAssistant
	for pi := range m.Parts {
		p := &m.Parts[pi]
		param := "messages[" + strconv.Itoa(mi) + "]"
		switch p.Type {
		case translate.PartThinking:
			// Thought text is never sent back (Gemini asks not to); the
			// signature goes on the next part.
			if assistant && !p.Redacted && p.Signature != "" && translate.SignatureFor(p.SignatureFormat, Name) && sigValid(p.Signature) {
				sig = p.Signature
			}
		case translate.PartText:
			if p.Text == "" && sig == "" {
				continue
			}
			next()
			b = append(b, `{"text":`...)
			b = translate.AppendJSONString(b, p.Text)
			withSig()
		case translate.PartImage:
			next()
			var err error
			b = append(b, '{')
			if b, err = appendMedia(b, p, param); err != nil {
				return nil, err
			}
			withSig()
		case translate.PartToolCall:
			if !assistant {
				return nil, &translate.RequestError{Message: "a tool call outside an assistant message", Param: param}
			}
			if p.ToolName == "" {
				return nil, &translate.RequestError{Message: "a tool call has no name", Param: param}
			}
			args := bytes.TrimSpace([]byte(p.Arguments))
			if len(args) == 0 {
				args = []byte("{}")
			}
			if !gjson.ValidBytes(args) || !gjson.ParseBytes(args).IsObject() {
				return nil, &translate.RequestError{Message: fmt.Sprintf("the arguments of tool call %q are not a JSON object", p.ToolName), Param: param}
			}
			next()
			b = append(b, `{"functionCall":{`...)
			if p.ToolCallID != "" {
				b = append(b, `"id":`...)
				b = translate.AppendJSONString(b, p.ToolCallID)
				b = append(b, ',')
			}
			b = append(b, `"name":`...)
			b = translate.AppendJSONString(b, p.ToolName)
			b = append(b, `,"args":`...)
			b = compact(b, args)
			b = append(b, '}')
			if !*callSeen && sig == "" {
				sig = skipSignature
			}
			*callSeen = true
			withSig()
		case translate.PartToolResult:
			if assistant {
				return nil, &translate.RequestError{Message: "a tool result inside an assistant message", Param: param}
			}
			if p.ToolName == "" {
				return nil, &translate.RequestError{Message: fmt.Sprintf("tool result %q answers no tool call of the conversation", p.ToolCallID), Param: param}
			}
			next()
			b = append(b, `{"functionResponse":{`...)
			if p.ToolCallID != "" {
				b = append(b, `"id":`...)
				b = translate.AppendJSONString(b, p.ToolCallID)
				b = append(b, ',')
			}
			b = append(b, `"name":`...)
			b = translate.AppendJSONString(b, p.ToolName)
			b = append(b, `,"response":`...)
			b = appendToolResponse(b, p)
			b = append(b, `}}`...)
			for ci := range p.Content {
				if c := &p.Content[ci]; c.Type == translate.PartImage {
					next()
					var err error
					b = append(b, '{')
					if b, err = appendMedia(b, c, param); err != nil {
						return nil, err
					}
					b = append(b, '}')
				}
			}
		}
	}
	return b, nil
}

// appendToolResponse writes the functionResponse.response object of a
// tool result: its text when that is a JSON object, else {"result": text};
// {"error": ...} for a failed call.
func appendToolResponse(b []byte, p *translate.Part) []byte {
	var text string
	nText := 0
	for i := range p.Content {
		if p.Content[i].Type == translate.PartText {
			if nText > 0 {
				text += "\n"
			}
			text += p.Content[i].Text
			nText++
		}
	}
	trimmed := strings.TrimSpace(text)
	isObject := strings.HasPrefix(trimmed, "{") && gjson.Valid(trimmed)
	switch {
	case p.IsError && isObject:
		b = append(b, `{"error":`...)
		b = compact(b, []byte(trimmed))
		return append(b, '}')
	case p.IsError:
		b = append(b, `{"error":`...)
		b = translate.AppendJSONString(b, text)
		return append(b, '}')
	case isObject:
		return compact(b, []byte(trimmed))
	}
	b = append(b, `{"result":`...)
	b = translate.AppendJSONString(b, text)
	return append(b, '}')
}

// appendMedia writes the inlineData or fileData field of an image part.
func appendMedia(b []byte, p *translate.Part, param string) ([]byte, error) {
	mt, data := p.MediaType, p.Data
	if data == "" && strings.HasPrefix(p.URL, "data:") {
		meta, payload, ok := strings.Cut(p.URL[len("data:"):], ",")
		if !ok || !strings.HasSuffix(meta, ";base64") {
			return nil, &translate.RequestError{Message: "an image data URL is not base64", Param: param}
		}
		mt, data = strings.TrimSuffix(meta, ";base64"), payload
	}
	if data != "" {
		if mt == "" {
			mt = "image/jpeg"
		}
		b = append(b, `"inlineData":{"mimeType":`...)
		b = translate.AppendJSONString(b, mt)
		b = append(b, `,"data":`...)
		b = translate.AppendJSONString(b, data)
		return append(b, '}'), nil
	}
	if !strings.HasPrefix(p.URL, "https://") && !strings.HasPrefix(p.URL, "http://") {
		return nil, &translate.RequestError{Message: "an image has neither data nor an http(s) URL", Param: param}
	}
	// Gemini fetches public and signed http(s) URLs given as fileData
	// (since January 2026), and needs their MIME type.
	if mt == "" {
		if mt = guessImageType(p.URL); mt == "" {
			mt = "image/jpeg"
		}
	}
	b = append(b, `"fileData":{"mimeType":`...)
	b = translate.AppendJSONString(b, mt)
	b = append(b, `,"fileUri":`...)
	b = translate.AppendJSONString(b, p.URL)
	return append(b, '}'), nil
}

// geminiSchema is a JSON Schema as Gemini takes it: without the "$schema"
// keyword, which it refuses (Claude Code and MCP tools declare draft
// 2020-12). Any other keyword is left to Gemini.
func geminiSchema(js []byte) []byte {
	if !bytes.Contains(js, []byte(`"$schema"`)) {
		return js
	}
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		return js
	}
	dropKey(v, "$schema")
	out, err := json.Marshal(v)
	if err != nil {
		return js
	}
	return out
}

// dropKey removes key from every object in v, except where it names a
// property.
func dropKey(v any, key string) {
	switch x := v.(type) {
	case map[string]any:
		delete(x, key)
		for k, e := range x {
			switch k {
			case "enum", "const", "default", "example", "examples":
				continue
			case "properties", "patternProperties", "$defs", "definitions":
				if m, ok := e.(map[string]any); ok {
					for _, sub := range m {
						dropKey(sub, key)
					}
					continue
				}
			}
			dropKey(e, key)
		}
	case []any:
		for _, e := range x {
			dropKey(e, key)
		}
	}
}

// compact appends JSON without insignificant whitespace (a raw newline
// would break an SSE data line).
func compact(b, js []byte) []byte {
	if bytes.IndexAny(js, " \t\r\n") < 0 {
		return append(b, js...)
	}
	buf := bytes.NewBuffer(b)
	if err := json.Compact(buf, js); err != nil {
		return append(b, `{}`...)
	}
	return buf.Bytes()
}
