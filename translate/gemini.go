package translate

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// The Gemini generateContent codec (generativelanguage.googleapis.com
// v1beta). Bodies carry no model: it is in the URL path
// (models/{model}:generateContent, :streamGenerateContent?alt=sse,
// :countTokens), so the decoders take it as an argument and the request
// encoder leaves it out for the caller to put in the URL.
//
// Gemini's REST surface accepts both lowerCamel and snake_case field names
// (its own docs use both: "system_instruction", "inline_data"), so the
// decoders read either spelling.

// geminiSkipSignature is the placeholder thought signature Google documents
// for function calls that Gemini did not generate (history from another
// model): Gemini 3 rejects a model turn whose first functionCall carries no
// signature, and accepts this value instead of a real one.
const geminiSkipSignature = "skip_thought_signature_validator"

// DecodeGeminiRequest reads a generateContent (or streamGenerateContent)
// body; model is the {model} of the URL path.
func DecodeGeminiRequest(body []byte, model string) (*Request, error) {
	root, err := gemParseObject(body)
	if err != nil {
		return nil, err
	}
	r := &Request{Model: strings.TrimPrefix(model, "models/")}
	if err := gemDecodeGenerate(r, root); err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeGeminiCountTokens reads a :countTokens body, either {contents} or
// {generateContentRequest} (which also carries the system instruction and
// tools).
func DecodeGeminiCountTokens(body []byte, model string) (*Request, error) {
	root, err := gemParseObject(body)
	if err != nil {
		return nil, err
	}
	r := &Request{Model: strings.TrimPrefix(model, "models/")}
	if g := gemField(root, "generateContentRequest", "generate_content_request"); g.Exists() && g.Type != gjson.Null {
		if !g.IsObject() {
			return nil, &RequestError{Message: "generateContentRequest must be an object", Param: "generateContentRequest"}
		}
		root = g
	}
	if err := gemDecodeGenerate(r, root); err != nil {
		return nil, err
	}
	return r, nil
}

func gemParseObject(body []byte) (gjson.Result, error) {
	if !gjson.ValidBytes(body) {
		return gjson.Result{}, &RequestError{Message: "request body is not valid JSON"}
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return gjson.Result{}, &RequestError{Message: "request body must be a JSON object"}
	}
	return root, nil
}

// gemField reads a field under its lowerCamel or snake_case name.
func gemField(r gjson.Result, camel, snake string) gjson.Result {
	if v := r.Get(camel); v.Exists() {
		return v
	}
	return r.Get(snake)
}

func gemBadf(param, format string, args ...any) *RequestError {
	return &RequestError{Message: fmt.Sprintf(format, args...), Param: param}
}

// gemPendingCall is a functionCall of the latest model turn, waiting for
// its functionResponse.
type gemPendingCall struct {
	id, name string
	answered bool
}

func gemDecodeGenerate(r *Request, root gjson.Result) error {
	if v := gemField(root, "cachedContent", "cached_content"); v.Exists() && v.String() != "" {
		return gemBadf("cachedContent", "cachedContent is not supported by this proxy")
	}
	if err := gemDecodeContents(r, root.Get("contents")); err != nil {
		return err
	}
	if err := gemDecodeSystem(r, gemField(root, "systemInstruction", "system_instruction")); err != nil {
		return err
	}
	if err := gemDecodeTools(r, root.Get("tools")); err != nil {
		return err
	}
	if err := gemDecodeToolConfig(r, gemField(root, "toolConfig", "tool_config")); err != nil {
		return err
	}
	return gemDecodeGenerationConfig(r, gemField(root, "generationConfig", "generation_config"))
}

func gemDecodeContents(r *Request, contents gjson.Result) error {
	if !contents.Exists() || contents.Type == gjson.Null {
		return gemBadf("contents", "contents is required")
	}
	if !contents.IsArray() {
		return gemBadf("contents", "contents must be an array")
	}
	var (
		pending   []gemPendingCall
		lastModel bool
		err       error
		ci        = -1
	)
	contents.ForEach(func(_, c gjson.Result) bool {
		ci++
		param := "contents[" + strconv.Itoa(ci) + "]"
		if !c.IsObject() {
			err = gemBadf(param, "%s must be an object", param)
			return false
		}
		role := c.Get("role")
		if role.Exists() && role.Type != gjson.String && role.Type != gjson.Null {
			err = gemBadf(param+".role", "%s.role must be a string", param)
			return false
		}
		parts := c.Get("parts")
		if !parts.IsArray() {
			err = gemBadf(param+".parts", "%s.parts must be an array", param)
			return false
		}
		switch role.Str {
		case "model":
			if !lastModel {
				pending = pending[:0]
			}
			lastModel = true
			var m Message
			m, pending, err = gemDecodeModelContent(c, parts, ci, pending)
			if err == nil {
				r.Messages = gemAppendMessage(r.Messages, m)
			}
		case "", "user", "function", "tool":
			lastModel = false
			var tool, user Message
			tool, user, err = gemDecodeUserContent(parts, ci, pending)
			if err == nil {
				r.Messages = gemAppendMessage(r.Messages, tool)
				r.Messages = gemAppendMessage(r.Messages, user)
			}
		default:
			err = gemBadf(param+".role", "%s.role must be \"user\" or \"model\", not %q", param, role.Str)
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	if len(r.Messages) == 0 {
		return gemBadf("contents", "contents must hold at least one non-empty content")
	}
	return nil
}

// gemAppendMessage appends m, merging it into the last message when both
// have the same role (Gemini allows consecutive same-role contents; the
// other APIs want turns to alternate).
func gemAppendMessage(msgs []Message, m Message) []Message {
	if len(m.Parts) == 0 {
		return msgs
	}
	if n := len(msgs); n > 0 && msgs[n-1].Role == m.Role {
		msgs[n-1].Parts = append(msgs[n-1].Parts, m.Parts...)
		return msgs
	}
	return append(msgs, m)
}

// gemAddSignature records a thought signature found on a part, just before
// that part: it closes the thinking part right before it when that one has
// no signature yet, and is a signature-only thinking part otherwise.
func gemAddSignature(parts []Part, sig string) []Part {
	if sig == "" {
		return parts
	}
	if n := len(parts); n > 0 && parts[n-1].Type == PartThinking && parts[n-1].Signature == "" && !parts[n-1].Redacted {
		parts[n-1].Signature = sig
		return parts
	}
	return append(parts, Part{Type: PartThinking, Signature: sig})
}

func gemDecodeModelContent(c, parts gjson.Result, ci int, pending []gemPendingCall) (Message, []gemPendingCall, error) {
	m := Message{Role: RoleAssistant}
	var (
		err   error
		pi    = -1
		calls = 0
		seed  string
	)
	parts.ForEach(func(_, p gjson.Result) bool {
		pi++
		param := "contents[" + strconv.Itoa(ci) + "].parts[" + strconv.Itoa(pi) + "]"
		if !p.IsObject() {
			err = gemBadf(param, "%s must be an object", param)
			return false
		}
		sig := gemField(p, "thoughtSignature", "thought_signature").String()
		if sig == geminiSkipSignature {
			sig = "" // our own placeholder, sent in an earlier turn
		}
		if t := p.Get("text"); t.Exists() {
			if p.Get("thought").Bool() {
				if t.String() != "" || sig != "" {
					m.Parts = append(m.Parts, Part{Type: PartThinking, Text: t.String(), Signature: sig})
				}
				return true
			}
			m.Parts = gemAddSignature(m.Parts, sig)
			if t.String() != "" {
				m.Parts = append(m.Parts, Part{Type: PartText, Text: t.String()})
			}
			return true
		}
		if fc := gemField(p, "functionCall", "function_call"); fc.Exists() {
			if !fc.IsObject() {
				err = gemBadf(param, "%s.functionCall must be an object", param)
				return false
			}
			name := fc.Get("name").String()
			if name == "" {
				err = gemBadf(param, "%s.functionCall.name is required", param)
				return false
			}
			args := "{}"
			if a := fc.Get("args"); a.Exists() && a.Type != gjson.Null {
				if !a.IsObject() {
					err = gemBadf(param, "%s.functionCall.args must be an object", param)
					return false
				}
				args = a.Raw
			}
			id := fc.Get("id").String()
			if id == "" {
				if seed == "" {
					seed = strconv.Itoa(ci) + ":" + c.Raw
				}
				id = MakeToolCallID("call_", seed, calls)
			}
			calls++
			m.Parts = gemAddSignature(m.Parts, sig)
			m.Parts = append(m.Parts, Part{Type: PartToolCall, ToolCallID: id, ToolName: name, Arguments: args})
			pending = append(pending, gemPendingCall{id: id, name: name})
			return true
		}
		if gemField(p, "functionResponse", "function_response").Exists() {
			err = gemBadf(param, "%s: a functionResponse belongs in a user content, not a model one", param)
			return false
		}
		var img Part
		var ok bool
		img, ok, err = gemDecodeMedia(p, param)
		if err != nil {
			return false
		}
		if ok {
			m.Parts = gemAddSignature(m.Parts, sig)
			m.Parts = append(m.Parts, img)
			return true
		}
		if err = gemUnsupportedPart(p, param); err != nil {
			return false
		}
		m.Parts = gemAddSignature(m.Parts, sig)
		return true
	})
	return m, pending, err
}

func gemDecodeUserContent(parts gjson.Result, ci int, pending []gemPendingCall) (tool, user Message, err error) {
	tool.Role, user.Role = RoleTool, RoleUser
	pi := -1
	parts.ForEach(func(_, p gjson.Result) bool {
		pi++
		param := "contents[" + strconv.Itoa(ci) + "].parts[" + strconv.Itoa(pi) + "]"
		if !p.IsObject() {
			err = gemBadf(param, "%s must be an object", param)
			return false
		}
		// Thought signatures and thoughts only mean something on model
		// parts: on user parts they are dropped.
		if t := p.Get("text"); t.Exists() {
			if t.String() != "" && !p.Get("thought").Bool() {
				user.Parts = append(user.Parts, Part{Type: PartText, Text: t.String()})
			}
			return true
		}
		if fr := gemField(p, "functionResponse", "function_response"); fr.Exists() {
			var res Part
			res, err = gemDecodeFunctionResponse(fr, param, pending)
			if err != nil {
				return false
			}
			tool.Parts = append(tool.Parts, res)
			return true
		}
		if gemField(p, "functionCall", "function_call").Exists() {
			err = gemBadf(param, "%s: a functionCall belongs in a model content, not a user one", param)
			return false
		}
		var img Part
		var ok bool
		img, ok, err = gemDecodeMedia(p, param)
		if err != nil {
			return false
		}
		if ok {
			user.Parts = append(user.Parts, img)
			return true
		}
		err = gemUnsupportedPart(p, param)
		return err == nil
	})
	return tool, user, err
}

// gemUnsupportedPart fails on part kinds the canonical model cannot carry;
// a part with none of the known kinds (only a thought flag or a signature)
// is accepted and carries nothing.
func gemUnsupportedPart(p gjson.Result, param string) error {
	for _, k := range [...]string{"executableCode", "executable_code", "codeExecutionResult", "code_execution_result", "toolCall", "tool_call", "toolResponse", "tool_response"} {
		if p.Get(k).Exists() {
			return gemBadf(param, "%s: %s parts are not supported by this proxy", param, k)
		}
	}
	return nil
}

// gemDecodeMedia reads an inlineData or fileData part as an image.
func gemDecodeMedia(p gjson.Result, param string) (Part, bool, error) {
	if d := gemField(p, "inlineData", "inline_data"); d.Exists() {
		mt := gemField(d, "mimeType", "mime_type").String()
		data := d.Get("data").String()
		if !strings.HasPrefix(mt, "image/") {
			return Part{}, false, gemBadf(param, "%s: inlineData of type %q is not supported by this proxy (images only)", param, mt)
		}
		if data == "" {
			return Part{}, false, gemBadf(param, "%s.inlineData.data is required", param)
		}
		return Part{Type: PartImage, MediaType: mt, Data: data}, true, nil
	}
	if d := gemField(p, "fileData", "file_data"); d.Exists() {
		uri := gemField(d, "fileUri", "file_uri").String()
		mt := gemField(d, "mimeType", "mime_type").String()
		if uri == "" {
			return Part{}, false, gemBadf(param, "%s.fileData.fileUri is required", param)
		}
		if mt == "" {
			mt = gemGuessImageType(uri)
		}
		if !strings.HasPrefix(mt, "image/") {
			return Part{}, false, gemBadf(param, "%s: fileData of type %q is not supported by this proxy (images only)", param, mt)
		}
		return Part{Type: PartImage, MediaType: mt, URL: uri}, true, nil
	}
	return Part{}, false, nil
}

// gemGuessImageType is the image type a URL's extension names, "" if none.
func gemGuessImageType(uri string) string {
	p := uri
	if u, err := url.Parse(uri); err == nil {
		p = u.Path
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".heic":
		return "image/heic"
	case ".heif":
		return "image/heif"
	}
	return ""
}

func gemDecodeFunctionResponse(fr gjson.Result, param string, pending []gemPendingCall) (Part, error) {
	if !fr.IsObject() {
		return Part{}, gemBadf(param, "%s.functionResponse must be an object", param)
	}
	name := fr.Get("name").String()
	id := fr.Get("id").String()
	match := -1
	if id != "" {
		for i := range pending {
			if !pending[i].answered && pending[i].id == id {
				match = i
				break
			}
		}
	}
	if match < 0 {
		for i := range pending {
			if !pending[i].answered && pending[i].name == name {
				match = i
				break
			}
		}
	}
	if match < 0 {
		return Part{}, gemBadf(param, "%s: functionResponse %q answers no functionCall of the preceding model turn", param, name)
	}
	pending[match].answered = true
	res := Part{Type: PartToolResult, ToolCallID: pending[match].id, ToolName: pending[match].name}
	if name != "" {
		res.ToolName = name
	}
	text, isErr := gemResponseText(fr.Get("response"))
	res.IsError = isErr
	if text != "" {
		res.Content = append(res.Content, Part{Type: PartText, Text: text})
	}
	// Multimodal function responses (Gemini 3): parts with inline images.
	var err error
	fr.Get("parts").ForEach(func(_, fp gjson.Result) bool {
		var img Part
		var ok bool
		img, ok, err = gemDecodeMedia(fp, param+".functionResponse.parts")
		if ok {
			res.Content = append(res.Content, img)
		}
		return err == nil
	})
	return res, err
}

// gemResponseText is the tool-result text of a functionResponse.response:
// the string of {"result": s} or {"output": s}, the error of {"error": e},
// else the JSON text of the object.
func gemResponseText(resp gjson.Result) (string, bool) {
	if !resp.Exists() || resp.Type == gjson.Null {
		return "", false
	}
	if resp.IsObject() {
		var key string
		var val gjson.Result
		n := 0
		resp.ForEach(func(k, v gjson.Result) bool {
			n++
			key, val = k.Str, v
			return n < 2
		})
		if n == 1 {
			switch key {
			case "result", "output":
				if val.Type == gjson.String {
					return val.Str, false
				}
			case "error":
				if val.Type == gjson.String {
					return val.Str, true
				}
				return val.Raw, true
			}
		}
	}
	return resp.Raw, false
}

func gemDecodeSystem(r *Request, si gjson.Result) error {
	switch {
	case !si.Exists() || si.Type == gjson.Null:
		return nil
	case si.Type == gjson.String:
		r.System = si.Str
		return nil
	case !si.IsObject():
		return gemBadf("systemInstruction", "systemInstruction must be an object")
	}
	var sb strings.Builder
	var err error
	si.Get("parts").ForEach(func(_, p gjson.Result) bool {
		t := p.Get("text")
		if !t.Exists() {
			if gemField(p, "inlineData", "inline_data").Exists() || gemField(p, "fileData", "file_data").Exists() {
				err = gemBadf("systemInstruction", "systemInstruction may only hold text parts")
				return false
			}
			return true
		}
		if t.String() == "" {
			return true
		}
		if sb.Len() > 0 {
			sb.WriteString("\n\n")
		}
		sb.WriteString(t.String())
		return true
	})
	r.System = sb.String()
	return err
}

func gemDecodeTools(r *Request, tools gjson.Result) error {
	if !tools.Exists() || tools.Type == gjson.Null {
		return nil
	}
	if !tools.IsArray() {
		return gemBadf("tools", "tools must be an array")
	}
	var err error
	tools.ForEach(func(_, t gjson.Result) bool {
		if !t.IsObject() {
			err = gemBadf("tools", "tools must hold objects")
			return false
		}
		t.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "functionDeclarations", "function_declarations":
				v.ForEach(func(_, d gjson.Result) bool {
					var tool Tool
					tool, err = gemDecodeDeclaration(d)
					if err == nil {
						r.Tools = append(r.Tools, tool)
					}
					return err == nil
				})
			default:
				err = gemBadf("tools", "the %s tool is not supported by this proxy (function declarations only)", k.Str)
			}
			return err == nil
		})
		return err == nil
	})
	return err
}

func gemDecodeDeclaration(d gjson.Result) (Tool, error) {
	if !d.IsObject() {
		return Tool{}, gemBadf("tools", "functionDeclarations must hold objects")
	}
	t := Tool{Name: d.Get("name").String(), Description: d.Get("description").String()}
	if t.Name == "" {
		return t, gemBadf("tools", "a function declaration has no name")
	}
	if s := gemField(d, "parametersJsonSchema", "parameters_json_schema"); s.Exists() && s.Type != gjson.Null {
		if !s.IsObject() {
			return t, gemBadf("tools", "parametersJsonSchema of %q must be an object", t.Name)
		}
		t.Parameters = json.RawMessage(s.Raw)
	} else if s := d.Get("parameters"); s.Exists() && s.Type != gjson.Null {
		if !s.IsObject() {
			return t, gemBadf("tools", "parameters of %q must be an object", t.Name)
		}
		t.Parameters = gemSchemaToJSONSchema(s.Raw)
	}
	return t, nil
}

// gemSchemaToJSONSchema turns a Gemini Schema (OpenAPI 3.0 subset: upper-case
// types, nullable, int64 bounds as strings, propertyOrdering) into JSON
// Schema the other providers accept.
func gemSchemaToJSONSchema(raw string) json.RawMessage {
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return json.RawMessage(raw)
	}
	gemFixSchema(v)
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(raw)
	}
	return b
}

func gemFixSchema(v any) {
	switch s := v.(type) {
	case []any:
		for _, e := range s {
			gemFixSchema(e)
		}
	case map[string]any:
		if t, ok := s["type"].(string); ok {
			t = strings.ToLower(t)
			if t == "type_unspecified" {
				delete(s, "type")
			} else if n, _ := s["nullable"].(bool); n {
				s["type"] = []any{t, "null"}
			} else {
				s["type"] = t
			}
		}
		delete(s, "nullable")
		delete(s, "propertyOrdering")
		for _, k := range [...]string{"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"} {
			if str, ok := s[k].(string); ok {
				if n, err := strconv.ParseInt(str, 10, 64); err == nil {
					s[k] = n
				}
			}
		}
		for k, e := range s {
			switch k {
			case "enum", "example", "default", "const":
				continue
			}
			gemFixSchema(e)
		}
	}
}

func gemDecodeToolConfig(r *Request, tc gjson.Result) error {
	if !tc.Exists() || tc.Type == gjson.Null {
		return nil
	}
	fc := gemField(tc, "functionCallingConfig", "function_calling_config")
	if !fc.Exists() || fc.Type == gjson.Null {
		return nil
	}
	var names []string
	gemField(fc, "allowedFunctionNames", "allowed_function_names").ForEach(func(_, n gjson.Result) bool {
		names = append(names, n.String())
		return true
	})
	switch mode := strings.ToUpper(fc.Get("mode").String()); mode {
	case "", "MODE_UNSPECIFIED":
	case "AUTO", "VALIDATED":
		r.ToolChoice = &ToolChoice{Mode: "auto"}
	case "NONE":
		r.ToolChoice = &ToolChoice{Mode: "none"}
	case "ANY":
		if len(names) == 1 {
			r.ToolChoice = &ToolChoice{Mode: "tool", Name: names[0]}
		} else {
			r.ToolChoice = &ToolChoice{Mode: "required"}
		}
	default:
		return gemBadf("toolConfig", "unknown functionCallingConfig.mode %q", mode)
	}
	return nil
}

// gemNumber reads a number, accepting the string form proto JSON allows.
func gemNumber(v gjson.Result, param string) (float64, bool, error) {
	switch v.Type {
	case gjson.Null:
		return 0, false, nil
	case gjson.Number:
		return v.Num, true, nil
	case gjson.String:
		if f, err := strconv.ParseFloat(v.Str, 64); err == nil {
			return f, true, nil
		}
	}
	if !v.Exists() {
		return 0, false, nil
	}
	return 0, false, gemBadf(param, "%s must be a number", param)
}

func gemDecodeGenerationConfig(r *Request, gc gjson.Result) error {
	if !gc.Exists() || gc.Type == gjson.Null {
		return nil
	}
	if !gc.IsObject() {
		return gemBadf("generationConfig", "generationConfig must be an object")
	}
	if f, ok, err := gemNumber(gemField(gc, "maxOutputTokens", "max_output_tokens"), "generationConfig.maxOutputTokens"); err != nil {
		return err
	} else if ok {
		if f < 0 || f > 1<<31 {
			return gemBadf("generationConfig.maxOutputTokens", "generationConfig.maxOutputTokens is out of range")
		}
		r.MaxTokens = int(f)
	}
	if f, ok, err := gemNumber(gc.Get("temperature"), "generationConfig.temperature"); err != nil {
		return err
	} else if ok {
		r.Temperature = &f
	}
	if f, ok, err := gemNumber(gemField(gc, "topP", "top_p"), "generationConfig.topP"); err != nil {
		return err
	} else if ok {
		r.TopP = &f
	}
	if f, ok, err := gemNumber(gemField(gc, "topK", "top_k"), "generationConfig.topK"); err != nil {
		return err
	} else if ok {
		if f < 0 || f > 1<<31 {
			return gemBadf("generationConfig.topK", "generationConfig.topK is out of range")
		}
		k := int(f)
		r.TopK = &k
	}
	if f, ok, err := gemNumber(gemField(gc, "candidateCount", "candidate_count"), "generationConfig.candidateCount"); err != nil {
		return err
	} else if ok && f > 1 {
		return gemBadf("generationConfig.candidateCount", "generationConfig.candidateCount above 1 is not supported by this proxy")
	}
	if s := gemField(gc, "stopSequences", "stop_sequences"); s.Exists() && s.Type != gjson.Null {
		if !s.IsArray() {
			return gemBadf("generationConfig.stopSequences", "generationConfig.stopSequences must be an array of strings")
		}
		s.ForEach(func(_, v gjson.Result) bool {
			r.Stop = append(r.Stop, v.String())
			return true
		})
	}
	if strings.EqualFold(gemField(gc, "responseMimeType", "response_mime_type").String(), "application/json") {
		r.ResponseFormat = &ResponseFormat{Type: "json_object"}
		if s := gemField(gc, "responseJsonSchema", "response_json_schema"); s.IsObject() {
			r.ResponseFormat = &ResponseFormat{Type: "json_schema", Name: "response", Schema: json.RawMessage(s.Raw)}
		} else if s := gemField(gc, "responseSchema", "response_schema"); s.IsObject() {
			r.ResponseFormat = &ResponseFormat{Type: "json_schema", Name: "response", Schema: gemSchemaToJSONSchema(s.Raw)}
		}
	}
	return gemDecodeThinking(r, gemField(gc, "thinkingConfig", "thinking_config"))
}

func gemDecodeThinking(r *Request, tc gjson.Result) error {
	if !tc.Exists() || tc.Type == gjson.Null {
		return nil
	}
	if !tc.IsObject() {
		return gemBadf("generationConfig.thinkingConfig", "generationConfig.thinkingConfig must be an object")
	}
	budget, hasBudget, err := gemNumber(gemField(tc, "thinkingBudget", "thinking_budget"), "generationConfig.thinkingConfig.thinkingBudget")
	if err != nil {
		return err
	}
	switch {
	case hasBudget && budget == 0:
		r.Reasoning = &Reasoning{Off: true}
	case hasBudget && budget < 0: // -1: dynamic thinking
		r.Reasoning = &Reasoning{Effort: "medium"}
	case hasBudget:
		if budget > 1<<31 {
			budget = 1 << 31
		}
		rs := &Reasoning{Budget: int(budget)}
		rs.Effort = rs.EffortLevel()
		r.Reasoning = rs
	default:
		level := gemField(tc, "thinkingLevel", "thinking_level")
		switch strings.ToLower(level.String()) {
		case "":
			if gemField(tc, "includeThoughts", "include_thoughts").Bool() {
				r.Reasoning = &Reasoning{Effort: "medium"}
			}
		case "thinking_level_unspecified":
		case "minimal", "low":
			r.Reasoning = &Reasoning{Effort: "low"}
		case "medium":
			r.Reasoning = &Reasoning{Effort: "medium"}
		case "high":
			r.Reasoning = &Reasoning{Effort: "high"}
		default:
			return gemBadf("generationConfig.thinkingConfig.thinkingLevel", "unknown thinkingLevel %q", level.String())
		}
	}
	return nil
}

// EncodeGeminiRequest writes r as a generateContent body (without the
// model, which goes in the URL).
func EncodeGeminiRequest(r *Request) ([]byte, error) {
	b := make([]byte, 0, 256+RequestSize(r))
	b = append(b, '{')
	b, err := gemAppendRequestFields(b, r, false)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// EncodeGeminiCountTokens writes r as a :countTokens body in the
// generateContentRequest form, so the system instruction and tools count.
func EncodeGeminiCountTokens(r *Request) ([]byte, error) {
	b := make([]byte, 0, 256+RequestSize(r))
	b = append(b, `{"generateContentRequest":{`...)
	if r.Model != "" {
		b = append(b, `"model":`...)
		m := r.Model
		if !strings.HasPrefix(m, "models/") && !strings.HasPrefix(m, "tunedModels/") {
			m = "models/" + m
		}
		b = AppendJSONString(b, m)
		b = append(b, ',')
	}
	b, err := gemAppendRequestFields(b, r, true)
	if err != nil {
		return nil, err
	}
	return append(b, `}}`...), nil
}

func gemAppendRequestFields(b []byte, r *Request, count bool) ([]byte, error) {
	ResolveToolNames(r)
	b = append(b, `"contents":[`...)
	var scratch []byte
	open, role, contents := false, "", 0
	callSeen := false
	for mi := range r.Messages {
		m := &r.Messages[mi]
		want := "user"
		if m.Role == RoleAssistant {
			want = "model"
		}
		seen := callSeen
		if want != role || !open {
			seen = false
		}
		var err error
		scratch, err = gemAppendMessageParts(scratch[:0], m, mi, &seen)
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
		return nil, &RequestError{Message: "the request has no message content to send", Param: "messages"}
	}
	if r.System != "" {
		b = append(b, `,"systemInstruction":{"parts":[{"text":`...)
		b = AppendJSONString(b, r.System)
		b = append(b, `}]}`...)
	}
	if len(r.Tools) > 0 {
		b = append(b, `,"tools":[{"functionDeclarations":[`...)
		for i := range r.Tools {
			t := &r.Tools[i]
			if t.Name == "" {
				return nil, &RequestError{Message: "a tool has no name", Param: "tools"}
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = AppendJSONString(b, t.Name)
			if t.Description != "" {
				b = append(b, `,"description":`...)
				b = AppendJSONString(b, t.Description)
			}
			if len(bytes.TrimSpace(t.Parameters)) > 0 && string(bytes.TrimSpace(t.Parameters)) != "null" {
				if !gjson.ValidBytes(t.Parameters) || !gjson.ParseBytes(t.Parameters).IsObject() {
					return nil, &RequestError{Message: fmt.Sprintf("the parameters of tool %q are not a JSON object", t.Name), Param: "tools"}
				}
				b = append(b, `,"parametersJsonSchema":`...)
				b = gemCompact(b, t.Parameters)
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
				b = AppendJSONString(b, tc.Name)
				b = append(b, `]}}`...)
			}
		}
	}
	if !count {
		b = gemAppendGenerationConfig(b, r)
	}
	return b, nil
}

func gemAppendGenerationConfig(b []byte, r *Request) []byte {
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
		b = AppendFloat(b, *r.Temperature)
	}
	if r.TopP != nil {
		sep()
		b = append(b, `"topP":`...)
		b = AppendFloat(b, *r.TopP)
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
			b = AppendJSONString(b, s)
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
				b = gemCompact(b, s)
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

// gemAppendMessageParts writes the Gemini parts of one canonical message,
// comma separated, without brackets. *callSeen tracks whether the Gemini
// content being built already has a functionCall (only the first one of a
// model turn needs a thought signature).
func gemAppendMessageParts(b []byte, m *Message, mi int, callSeen *bool) ([]byte, error) {
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
			b = AppendJSONString(b, sig)
			sig = ""
		}
		b = append(b, '}')
	}
	assistant := m.Role == RoleAssistant
	for pi := range m.Parts {
		p := &m.Parts[pi]
		param := "messages[" + strconv.Itoa(mi) + "]"
		switch p.Type {
		case PartThinking:
			// Thought text is never sent back (Gemini asks not to); the
			// signature goes on the next part.
			if assistant && !p.Redacted && p.Signature != "" && gemSigValid(p.Signature) {
				sig = p.Signature
			}
		case PartText:
			if p.Text == "" && sig == "" {
				continue
			}
			next()
			b = append(b, `{"text":`...)
			b = AppendJSONString(b, p.Text)
			withSig()
		case PartImage:
			next()
			var err error
			b = append(b, '{')
			if b, err = gemAppendMedia(b, p, param); err != nil {
				return nil, err
			}
			withSig()
		case PartToolCall:
			if !assistant {
				return nil, &RequestError{Message: "a tool call outside an assistant message", Param: param}
			}
			if p.ToolName == "" {
				return nil, &RequestError{Message: "a tool call has no name", Param: param}
			}
			args := bytes.TrimSpace([]byte(p.Arguments))
			if len(args) == 0 {
				args = []byte("{}")
			}
			if !gjson.ValidBytes(args) || !gjson.ParseBytes(args).IsObject() {
				return nil, &RequestError{Message: fmt.Sprintf("the arguments of tool call %q are not a JSON object", p.ToolName), Param: param}
			}
			next()
			b = append(b, `{"functionCall":{`...)
			if p.ToolCallID != "" {
				b = append(b, `"id":`...)
				b = AppendJSONString(b, p.ToolCallID)
				b = append(b, ',')
			}
			b = append(b, `"name":`...)
			b = AppendJSONString(b, p.ToolName)
			b = append(b, `,"args":`...)
			b = gemCompact(b, args)
			b = append(b, '}')
			if !*callSeen && sig == "" {
				sig = geminiSkipSignature
			}
			*callSeen = true
			withSig()
		case PartToolResult:
			if assistant {
				return nil, &RequestError{Message: "a tool result inside an assistant message", Param: param}
			}
			if p.ToolName == "" {
				return nil, &RequestError{Message: fmt.Sprintf("tool result %q answers no tool call of the conversation", p.ToolCallID), Param: param}
			}
			next()
			b = append(b, `{"functionResponse":{`...)
			if p.ToolCallID != "" {
				b = append(b, `"id":`...)
				b = AppendJSONString(b, p.ToolCallID)
				b = append(b, ',')
			}
			b = append(b, `"name":`...)
			b = AppendJSONString(b, p.ToolName)
			b = append(b, `,"response":`...)
			b = gemAppendToolResponse(b, p)
			b = append(b, `}}`...)
			for ci := range p.Content {
				if c := &p.Content[ci]; c.Type == PartImage {
					next()
					var err error
					b = append(b, '{')
					if b, err = gemAppendMedia(b, c, param); err != nil {
						return nil, err
					}
					b = append(b, '}')
				}
			}
		}
	}
	return b, nil
}

// gemAppendToolResponse writes the functionResponse.response object of a
// tool result: its text when that is a JSON object, else {"result": text};
// {"error": ...} for a failed call.
func gemAppendToolResponse(b []byte, p *Part) []byte {
	var text string
	nText := 0
	for i := range p.Content {
		if p.Content[i].Type == PartText {
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
		b = gemCompact(b, []byte(trimmed))
		return append(b, '}')
	case p.IsError:
		b = append(b, `{"error":`...)
		b = AppendJSONString(b, text)
		return append(b, '}')
	case isObject:
		return gemCompact(b, []byte(trimmed))
	}
	b = append(b, `{"result":`...)
	b = AppendJSONString(b, text)
	return append(b, '}')
}

// gemAppendMedia writes the inlineData or fileData field of an image part.
func gemAppendMedia(b []byte, p *Part, param string) ([]byte, error) {
	mt, data := p.MediaType, p.Data
	if data == "" && strings.HasPrefix(p.URL, "data:") {
		meta, payload, ok := strings.Cut(p.URL[len("data:"):], ",")
		if !ok || !strings.HasSuffix(meta, ";base64") {
			return nil, &RequestError{Message: "an image data URL is not base64", Param: param}
		}
		mt, data = strings.TrimSuffix(meta, ";base64"), payload
	}
	if data != "" {
		if mt == "" {
			mt = "image/jpeg"
		}
		b = append(b, `"inlineData":{"mimeType":`...)
		b = AppendJSONString(b, mt)
		b = append(b, `,"data":`...)
		b = AppendJSONString(b, data)
		return append(b, '}'), nil
	}
	if !strings.HasPrefix(p.URL, "https://") && !strings.HasPrefix(p.URL, "http://") {
		return nil, &RequestError{Message: "an image has neither data nor an http(s) URL", Param: param}
	}
	// Gemini fetches public and signed http(s) URLs given as fileData
	// (since January 2026), and needs their MIME type.
	if mt == "" {
		if mt = gemGuessImageType(p.URL); mt == "" {
			mt = "image/jpeg"
		}
	}
	b = append(b, `"fileData":{"mimeType":`...)
	b = AppendJSONString(b, mt)
	b = append(b, `,"fileUri":`...)
	b = AppendJSONString(b, p.URL)
	return append(b, '}'), nil
}

// DecodeGeminiResponse reads a generateContent answer.
func DecodeGeminiResponse(body []byte) (*Response, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("gemini: response is not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, fmt.Errorf("gemini: response is not a JSON object")
	}
	if e := root.Get("error"); e.Exists() {
		return nil, fmt.Errorf("gemini: error %d: %s", e.Get("code").Int(), e.Get("message").String())
	}
	r := &Response{
		ID:    root.Get("responseId").String(),
		Model: root.Get("modelVersion").String(),
		Parts: []Part{},
	}
	r.Usage, _ = ReadGeminiUsage(body)
	cand := root.Get("candidates.0")
	if !cand.Exists() {
		r.StopReason = StopEnd
		if gemField(root.Get("promptFeedback"), "blockReason", "block_reason").String() != "" {
			r.StopReason = StopContentFilter
		}
		return r, nil
	}
	seed := gemIDSeed(r.ID, cand.Raw)
	calls := 0
	cand.Get("content.parts").ForEach(func(_, p gjson.Result) bool {
		sig := p.Get("thoughtSignature").String()
		if t := p.Get("text"); t.Exists() {
			if p.Get("thought").Bool() {
				if t.Str != "" || sig != "" {
					r.Parts = append(r.Parts, Part{Type: PartThinking, Text: t.Str, Signature: sig})
				}
				return true
			}
			r.Parts = gemAddSignature(r.Parts, sig)
			if t.Str != "" {
				r.Parts = append(r.Parts, Part{Type: PartText, Text: t.Str})
			}
			return true
		}
		r.Parts = gemAddSignature(r.Parts, sig)
		if fc := p.Get("functionCall"); fc.IsObject() {
			id := fc.Get("id").String()
			if id == "" {
				id = MakeToolCallID("call_", seed, calls)
			}
			calls++
			r.Parts = append(r.Parts, Part{Type: PartToolCall, ToolCallID: id, ToolName: fc.Get("name").String(), Arguments: gemArgs(fc.Get("args"))})
		}
		return true
	})
	r.StopReason = gemStopReason(cand.Get("finishReason").String(), calls > 0)
	return r, nil
}

// gemIDSeed seeds the made-up tool-call ids of one answer: its responseId,
// else something unique to this answer.
func gemIDSeed(responseID, raw string) string {
	if responseID != "" {
		return responseID
	}
	return strconv.FormatInt(Now().UnixNano(), 10) + ":" + raw
}

func gemArgs(a gjson.Result) string {
	if a.IsObject() {
		return a.Raw
	}
	return "{}"
}

// gemStopReason maps a finishReason; STOP with function calls is a tool use.
func gemStopReason(fr string, calls bool) StopReason {
	switch fr {
	case "MAX_TOKENS":
		return StopMaxTokens
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
		"IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "LANGUAGE":
		return StopContentFilter
	}
	if calls {
		return StopToolUse
	}
	return StopEnd
}

func gemFinishReason(s StopReason) string {
	switch s {
	case StopMaxTokens:
		return "MAX_TOKENS"
	case StopContentFilter:
		return "SAFETY"
	}
	return "STOP"
}

// EncodeGeminiResponse writes r as a generateContent answer.
func EncodeGeminiResponse(r *Response) []byte {
	b := make([]byte, 0, 256+len(r.ID)+len(r.Model)+PartsSize(r.Parts))
	b = append(b, `{"candidates":[{"content":{`...)
	parts, _ := gemAppendResponseParts(nil, r.Parts)
	if len(parts) > 0 {
		b = append(b, `"parts":[`...)
		b = append(b, parts...)
		b = append(b, `],`...)
	}
	b = append(b, `"role":"model"},"finishReason":"`...)
	b = append(b, gemFinishReason(r.StopReason)...)
	b = append(b, `","index":0}],"usageMetadata":`...)
	b = gemAppendUsage(b, r.Usage)
	if r.Model != "" {
		b = append(b, `,"modelVersion":`...)
		b = AppendJSONString(b, r.Model)
	}
	if r.ID != "" {
		b = append(b, `,"responseId":`...)
		b = AppendJSONString(b, r.ID)
	}
	return append(b, '}')
}

// gemAppendResponseParts writes answer parts, comma separated: thinking as
// thought parts, and each signature on the part after it (on an empty text
// part when none follows). It reports how many parts it wrote.
func gemAppendResponseParts(b []byte, parts []Part) ([]byte, int) {
	sig := ""
	n := 0
	for i := range parts {
		p := &parts[i]
		switch p.Type {
		case PartThinking:
			if p.Redacted {
				continue
			}
			if p.Text != "" {
				b = gemAppendTextPart(b, &n, p.Text, true, &sig)
			}
			if p.Signature != "" {
				if s := gemSigStd(p.Signature); s != "" {
					sig = s
				}
			}
		case PartText:
			if p.Text != "" {
				b = gemAppendTextPart(b, &n, p.Text, false, &sig)
			}
		case PartToolCall:
			b = gemAppendCallPart(b, &n, p.ToolCallID, p.ToolName, []byte(p.Arguments), &sig)
		}
	}
	if sig != "" {
		b = gemAppendTextPart(b, &n, "", false, &sig)
	}
	return b, n
}

func gemAppendTextPart(b []byte, n *int, text string, thought bool, sig *string) []byte {
	if *n > 0 {
		b = append(b, ',')
	}
	*n++
	b = append(b, `{"text":`...)
	b = AppendJSONString(b, text)
	if thought {
		b = append(b, `,"thought":true`...)
	}
	if *sig != "" {
		b = append(b, `,"thoughtSignature":`...)
		b = AppendJSONString(b, *sig)
		*sig = ""
	}
	return append(b, '}')
}

func gemAppendCallPart(b []byte, n *int, id, name string, args []byte, sig *string) []byte {
	if *n > 0 {
		b = append(b, ',')
	}
	*n++
	b = append(b, `{"functionCall":{`...)
	if id != "" {
		b = append(b, `"id":`...)
		b = AppendJSONString(b, id)
		b = append(b, ',')
	}
	b = append(b, `"name":`...)
	b = AppendJSONString(b, name)
	b = append(b, `,"args":`...)
	args = bytes.TrimSpace(args)
	if len(args) > 0 && gjson.ValidBytes(args) && gjson.ParseBytes(args).IsObject() {
		b = gemCompact(b, args)
	} else {
		b = append(b, `{}`...)
	}
	b = append(b, '}')
	if *sig != "" {
		b = append(b, `,"thoughtSignature":`...)
		b = AppendJSONString(b, *sig)
		*sig = ""
	}
	return append(b, '}')
}

func gemAppendUsage(b []byte, u Usage) []byte {
	b = append(b, `{"promptTokenCount":`...)
	b = strconv.AppendInt(b, u.Input, 10)
	b = append(b, `,"candidatesTokenCount":`...)
	b = strconv.AppendInt(b, max(u.Output-u.Reasoning, 0), 10)
	b = append(b, `,"totalTokenCount":`...)
	b = strconv.AppendInt(b, u.Total(), 10)
	if u.Cached > 0 {
		b = append(b, `,"cachedContentTokenCount":`...)
		b = strconv.AppendInt(b, u.Cached, 10)
	}
	if u.Reasoning > 0 {
		b = append(b, `,"thoughtsTokenCount":`...)
		b = strconv.AppendInt(b, u.Reasoning, 10)
	}
	return append(b, '}')
}

// NewGeminiStreamDecoder decodes a streamGenerateContent?alt=sse stream:
// `data: {GenerateContentResponse}` chunks and no end marker.
func NewGeminiStreamDecoder() StreamDecoder { return &geminiStreamDecoder{} }

type geminiStreamDecoder struct {
	started  bool
	finished bool
	seed     string
	calls    int
	usage    Usage
	hasUsage bool
}

func (d *geminiStreamDecoder) Finished() bool { return d.finished }

func (d *geminiStreamDecoder) Decode(dst []StreamEvent, ev Event) ([]StreamEvent, error) {
	data := bytes.TrimSpace(ev.Data)
	if d.finished || len(data) == 0 {
		return dst, nil
	}
	if !gjson.ValidBytes(data) {
		return dst, fmt.Errorf("gemini stream: chunk is not valid JSON")
	}
	root := gjson.ParseBytes(data)
	if !root.IsObject() {
		return dst, fmt.Errorf("gemini stream: chunk is not a JSON object")
	}
	if e := root.Get("error"); e.Exists() {
		d.finished = true
		msg := e.Get("message").String()
		if msg == "" {
			msg = e.Raw
		}
		return append(dst, StreamEvent{Type: EvError, Text: msg, Status: int(e.Get("code").Int())}), nil
	}
	if !d.started {
		d.started = true
		id := root.Get("responseId").String()
		d.seed = gemIDSeed(id, "")
		dst = append(dst, StreamEvent{Type: EvStart, ID: id, Model: root.Get("modelVersion").String()})
	}
	cand := root.Get("candidates.0")
	cand.Get("content.parts").ForEach(func(_, p gjson.Result) bool {
		sig := p.Get("thoughtSignature").String()
		if t := p.Get("text"); t.Exists() {
			if p.Get("thought").Bool() {
				if t.Str != "" {
					dst = append(dst, StreamEvent{Type: EvThinking, Text: t.Str})
				}
				if sig != "" {
					dst = append(dst, StreamEvent{Type: EvSignature, Text: sig})
				}
				return true
			}
			if sig != "" {
				dst = append(dst, StreamEvent{Type: EvSignature, Text: sig})
			}
			if t.Str != "" {
				dst = append(dst, StreamEvent{Type: EvText, Text: t.Str})
			}
			return true
		}
		if sig != "" {
			dst = append(dst, StreamEvent{Type: EvSignature, Text: sig})
		}
		if fc := p.Get("functionCall"); fc.IsObject() {
			id := fc.Get("id").String()
			if id == "" {
				id = MakeToolCallID("call_", d.seed, d.calls)
			}
			dst = append(dst,
				StreamEvent{Type: EvToolStart, Index: d.calls, ToolCallID: id, ToolName: fc.Get("name").String()},
				StreamEvent{Type: EvToolArgs, Index: d.calls, Args: gemArgs(fc.Get("args"))})
			d.calls++
		}
		return true
	})
	if u, ok := ReadGeminiUsage(data); ok {
		d.usage, d.hasUsage = u, true
	}
	fr := cand.Get("finishReason").String()
	blocked := !cand.Exists() && gemField(root.Get("promptFeedback"), "blockReason", "block_reason").String() != ""
	if (fr == "" || fr == "FINISH_REASON_UNSPECIFIED") && !blocked {
		return dst, nil
	}
	d.finished = true
	if d.hasUsage {
		dst = append(dst, StreamEvent{Type: EvUsage, Usage: d.usage})
	}
	stop := gemStopReason(fr, d.calls > 0)
	if blocked {
		stop = StopContentFilter
	}
	return append(dst, StreamEvent{Type: EvFinish, StopReason: stop}), nil
}

// NewGeminiStreamEncoder writes canonical events as a
// streamGenerateContent?alt=sse stream: one `data: {...}\r\n\r\n` chunk per
// piece of content, the way Gemini frames it.
func NewGeminiStreamEncoder(o StreamOptions) StreamEncoder {
	return &geminiStreamEncoder{model: o.Model, clientModel: o.Model != ""}
}

type gemToolBuf struct {
	index    int
	id, name string
	args     []byte
}

type geminiStreamEncoder struct {
	id, model   string
	clientModel bool
	usage       Usage
	hasUsage    bool
	sig         string
	tools       []gemToolBuf
	done        bool
	parts       []byte
}

func (e *geminiStreamEncoder) Encode(dst []byte, ev *StreamEvent) []byte {
	if e.done {
		return dst
	}
	switch ev.Type {
	case EvStart:
		e.id = ev.ID
		if !e.clientModel {
			e.model = ev.Model
		}
	case EvText, EvThinking:
		if ev.Text == "" {
			return dst
		}
		dst = e.flushTools(dst)
		n := 0
		e.parts = gemAppendTextPart(e.parts[:0], &n, ev.Text, ev.Type == EvThinking, &e.sig)
		dst = e.chunk(dst, e.parts, "")
	case EvSignature:
		if ev.Redacted {
			return dst
		}
		dst = e.flushTools(dst)
		if s := gemSigStd(ev.Text); s != "" {
			e.sig = s
		}
	case EvToolStart:
		e.tools = append(e.tools, gemToolBuf{index: ev.Index, id: ev.ToolCallID, name: ev.ToolName})
	case EvToolArgs:
		for i := len(e.tools) - 1; i >= 0; i-- {
			if e.tools[i].index == ev.Index {
				e.tools[i].args = append(e.tools[i].args, ev.Args...)
				break
			}
		}
	case EvUsage:
		e.usage.Merge(ev.Usage)
		e.hasUsage = true
	case EvFinish:
		e.done = true
		n := 0
		e.parts = e.appendTools(e.parts[:0], &n)
		if n == 0 {
			e.parts = gemAppendTextPart(e.parts, &n, "", false, &e.sig)
		}
		e.hasUsage = true
		dst = e.chunk(dst, e.parts, gemFinishReason(ev.StopReason))
	case EvError:
		e.done = true
		code := ev.Status
		if code == 0 {
			code = 500
		}
		msg := ev.Text
		if msg == "" {
			msg = "upstream stream failed"
		}
		dst = append(dst, `data: {"error":{"code":`...)
		dst = strconv.AppendInt(dst, int64(code), 10)
		dst = append(dst, `,"message":`...)
		dst = AppendJSONString(dst, msg)
		dst = append(dst, `,"status":"`...)
		dst = append(dst, gemStatusText(code)...)
		dst = append(dst, "\"}}\r\n\r\n"...)
	}
	return dst
}

// flushTools writes the buffered tool calls as one chunk.
func (e *geminiStreamEncoder) flushTools(dst []byte) []byte {
	if len(e.tools) == 0 {
		return dst
	}
	n := 0
	e.parts = e.appendTools(e.parts[:0], &n)
	return e.chunk(dst, e.parts, "")
}

func (e *geminiStreamEncoder) appendTools(b []byte, n *int) []byte {
	for i := range e.tools {
		t := &e.tools[i]
		b = gemAppendCallPart(b, n, t.id, t.name, t.args, &e.sig)
	}
	e.tools = e.tools[:0]
	return b
}

func (e *geminiStreamEncoder) chunk(dst, parts []byte, finish string) []byte {
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
		dst = gemAppendUsage(dst, e.usage)
	}
	if e.model != "" {
		dst = append(dst, `,"modelVersion":`...)
		dst = AppendJSONString(dst, e.model)
	}
	if e.id != "" {
		dst = append(dst, `,"responseId":`...)
		dst = AppendJSONString(dst, e.id)
	}
	return append(dst, "}\r\n\r\n"...)
}

// gemStatusText is the google.rpc status name of an HTTP status.
func gemStatusText(code int) string {
	switch code {
	case 400, 413:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}

// PatchGeminiRequest applies an upstream's overrides to a Gemini body
// bound for a Gemini upstream, changing nothing else: the system prompt
// becomes the first systemInstruction part, and a reasoning override
// replaces generationConfig.thinkingConfig.
func PatchGeminiRequest(body []byte, o Overrides) ([]byte, error) {
	rs := o.ReasoningOverride()
	if o.SystemPrompt == "" && rs == nil {
		return body, nil
	}
	root, err := gemParseObject(body)
	if err != nil {
		return nil, err
	}
	if o.SystemPrompt != "" {
		if body, err = gemPatchSystem(body, root, o.SystemPrompt); err != nil {
			return nil, err
		}
		root = gjson.ParseBytes(body)
	}
	if rs != nil {
		if body, err = gemPatchThinking(body, root, rs); err != nil {
			return nil, err
		}
	}
	return body, nil
}

func gemPatchSystem(body []byte, root gjson.Result, prompt string) ([]byte, error) {
	key := "systemInstruction"
	si := root.Get(key)
	if !si.Exists() && root.Get("system_instruction").Exists() {
		key = "system_instruction"
		si = root.Get(key)
	}
	part := AppendJSONString([]byte(`{"text":`), prompt)
	part = append(part, '}')
	switch {
	case !si.Exists() || si.Type == gjson.Null:
		v := append(append([]byte(`{"parts":[`), part...), `]}`...)
		return sjson.SetRawBytes(body, key, v)
	case si.Type == gjson.String:
		v := append(append([]byte(`{"parts":[`), part...), `,{"text":`...)
		v = AppendJSONString(v, si.Str)
		v = append(v, `}]}`...)
		return sjson.SetRawBytes(body, key, v)
	case !si.IsObject():
		return nil, gemBadf(key, "%s must be an object", key)
	}
	parts := si.Get("parts")
	if !parts.IsArray() {
		v := append(append([]byte(`[`), part...), ']')
		return sjson.SetRawBytes(body, key+".parts", v)
	}
	v := append([]byte(`[`), part...)
	if inner := strings.TrimSpace(parts.Raw[1 : len(parts.Raw)-1]); inner != "" {
		v = append(v, ',')
		v = append(v, inner...)
	}
	v = append(v, ']')
	return sjson.SetRawBytes(body, key+".parts", v)
}

func gemPatchThinking(body []byte, root gjson.Result, rs *Reasoning) ([]byte, error) {
	key := "generationConfig"
	gc := root.Get(key)
	if !gc.Exists() && root.Get("generation_config").Exists() {
		key = "generation_config"
		gc = root.Get(key)
	}
	if gc.Exists() && gc.Type != gjson.Null && !gc.IsObject() {
		return nil, gemBadf(key, "%s must be an object", key)
	}
	var v []byte
	if rs.Off {
		v = []byte(`{"thinkingBudget":0}`)
	} else {
		v = strconv.AppendInt([]byte(`{"thinkingBudget":`), int64(rs.BudgetTokens()), 10)
		// Whether thoughts are shown stays the client's choice.
		if inc := gemField(gemField(gc, "thinkingConfig", "thinking_config"), "includeThoughts", "include_thoughts"); inc.Exists() {
			v = append(v, `,"includeThoughts":`...)
			v = strconv.AppendBool(v, inc.Bool())
		}
		v = append(v, '}')
	}
	if !gc.IsObject() {
		return sjson.SetRawBytes(body, key, append(append([]byte(`{"thinkingConfig":`), v...), '}'))
	}
	var err error
	if gc.Get("thinking_config").Exists() {
		if body, err = sjson.DeleteBytes(body, key+".thinking_config"); err != nil {
			return nil, err
		}
	}
	return sjson.SetRawBytes(body, key+".thinkingConfig", v)
}

// gemSigValid reports whether s is base64 in a form Gemini's bytes fields
// accept (standard or URL-safe, padded or not): anything else makes it
// answer 400 "Base64 decoding failed".
func gemSigValid(s string) bool {
	if s == "" {
		return false
	}
	for _, enc := range [...]*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if _, err := enc.DecodeString(s); err == nil {
			return true
		}
	}
	return false
}

// gemSigStd is s as standard padded base64, which the SDKs' bytes fields
// (genai's Part.ThoughtSignature []byte) need; "" when s is not base64.
func gemSigStd(s string) string {
	if s == "" {
		return ""
	}
	if _, err := base64.StdEncoding.DecodeString(s); err == nil {
		return s
	}
	for _, enc := range [...]*base64.Encoding{base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			return base64.StdEncoding.EncodeToString(raw)
		}
	}
	return ""
}

// gemCompact appends JSON without insignificant whitespace (a raw newline
// would break an SSE data line).
func gemCompact(b, js []byte) []byte {
	if bytes.IndexAny(js, " \t\r\n") < 0 {
		return append(b, js...)
	}
	buf := bytes.NewBuffer(b)
	if err := json.Compact(buf, js); err != nil {
		return append(b, `{}`...)
	}
	return buf.Bytes()
}
