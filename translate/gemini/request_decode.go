package gemini

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// skipSignature is the placeholder thought signature Google documents
// for function calls that Gemini did not generate (history from another
// model): Gemini 3 rejects a model turn whose first functionCall carries no
// signature, and accepts this value instead of a real one.
const skipSignature = "skip_thought_signature_validator"

// DecodeRequest reads a generateContent (or streamGenerateContent)
// body; model is the {model} of the URL path.
func DecodeRequest(body []byte, model string) (*translate.Request, error) {
	root, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	r := &translate.Request{Model: strings.TrimPrefix(model, "models/")}
	if err := decodeGenerate(r, root); err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeCountTokens reads a :countTokens body, either {contents} or
// {generateContentRequest} (which also carries the system instruction and
// tools).
func DecodeCountTokens(body []byte, model string) (*translate.Request, error) {
	root, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	r := &translate.Request{Model: strings.TrimPrefix(model, "models/")}
	if g := field(root, "generateContentRequest", "generate_content_request"); g.Exists() && g.Type != gjson.Null {
		if !g.IsObject() {
			return nil, &translate.RequestError{Message: "generateContentRequest must be an object", Param: "generateContentRequest"}
		}
		root = g
	}
	if err := decodeGenerate(r, root); err != nil {
		return nil, err
	}
	return r, nil
}

func parseObject(body []byte) (gjson.Result, error) {
	if !gjson.ValidBytes(body) {
		return gjson.Result{}, &translate.RequestError{Message: "request body is not valid JSON"}
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return gjson.Result{}, &translate.RequestError{Message: "request body must be a JSON object"}
	}
	return root, nil
}

// field reads a field under its lowerCamel or snake_case name.
func field(r gjson.Result, camel, snake string) gjson.Result {
	if v := r.Get(camel); v.Exists() {
		return v
	}
	return r.Get(snake)
}

func badf(param, format string, args ...any) *translate.RequestError {
	return &translate.RequestError{Message: fmt.Sprintf(format, args...), Param: param}
}

// pendingCall is a functionCall of the latest model turn, waiting for
// its functionResponse.
type pendingCall struct {
	id, name string
	answered bool
}

func decodeGenerate(r *translate.Request, root gjson.Result) error {
	if v := field(root, "cachedContent", "cached_content"); v.Exists() && v.String() != "" {
		return badf("cachedContent", "cachedContent is not supported by this proxy")
	}
	if err := decodeContents(r, root.Get("contents")); err != nil {
		return err
	}
	if err := decodeSystem(r, field(root, "systemInstruction", "system_instruction")); err != nil {
		return err
	}
	if err := decodeTools(r, root.Get("tools")); err != nil {
		return err
	}
	if err := decodeToolConfig(r, field(root, "toolConfig", "tool_config")); err != nil {
		return err
	}
	if err := decodeGenerationConfig(r, field(root, "generationConfig", "generation_config")); err != nil {
		return err
	}
	// Gemini allows dots and colons in function names, other providers
	// do not.
	translate.NameTools(r)
	return nil
}

func decodeContents(r *translate.Request, contents gjson.Result) error {
	if !contents.Exists() || contents.Type == gjson.Null {
		return badf("contents", "contents is required")
	}
	if !contents.IsArray() {
		return badf("contents", "contents must be an array")
	}
	var (
		pending   []pendingCall
		lastModel bool
		err       error
		ci        = -1
	)
	contents.ForEach(func(_, c gjson.Result) bool {
		ci++
		param := "contents[" + strconv.Itoa(ci) + "]"
		if !c.IsObject() {
			err = badf(param, "%s must be an object", param)
			return false
		}
		role := c.Get("role")
		if role.Exists() && role.Type != gjson.String && role.Type != gjson.Null {
			err = badf(param+".role", "%s.role must be a string", param)
			return false
		}
		parts := c.Get("parts")
		if !parts.IsArray() {
			err = badf(param+".parts", "%s.parts must be an array", param)
			return false
		}
		switch role.Str {
		case "model":
			if !lastModel {
				pending = pending[:0]
			}
			lastModel = true
			var m translate.Message
			m, pending, err = decodeModelContent(c, parts, ci, pending)
			if err == nil {
				r.Messages = appendMessage(r.Messages, m)
			}
		case "", "user", "function", "tool":
			lastModel = false
			var tool, user translate.Message
			tool, user, err = decodeUserContent(parts, ci, pending)
			if err == nil {
				r.Messages = appendMessage(r.Messages, tool)
				r.Messages = appendMessage(r.Messages, user)
			}
		default:
			err = badf(param+".role", "%s.role must be \"user\" or \"model\", not %q", param, role.Str)
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	if len(r.Messages) == 0 {
		return badf("contents", "contents must hold at least one non-empty content")
	}
	return nil
}

// appendMessage appends m, merging it into the last message when both
// have the same role (Gemini allows consecutive same-role contents; the
// other APIs want turns to alternate).
func appendMessage(msgs []translate.Message, m translate.Message) []translate.Message {
	if len(m.Parts) == 0 {
		return msgs
	}
	if n := len(msgs); n > 0 && msgs[n-1].Role == m.Role {
		msgs[n-1].Parts = append(msgs[n-1].Parts, m.Parts...)
		return msgs
	}
	return append(msgs, m)
}

// addSignature records a thought signature found on a part, just before
// that part: it closes the thinking part right before it when that one has
// no signature yet, and is a signature-only thinking part otherwise. sig
// is the thinking part the signature stands for (see thoughtPart).
func addSignature(parts []translate.Part, sig translate.Part) []translate.Part {
	if sig.Signature == "" {
		return parts
	}
	if n := len(parts); n > 0 && parts[n-1].Type == translate.PartThinking && parts[n-1].Signature == "" && !parts[n-1].Redacted {
		parts[n-1].Signature, parts[n-1].SignatureFormat = sig.Signature, sig.SignatureFormat
		if parts[n-1].Text == "" {
			parts[n-1].Text = sig.Text
		}
		return parts
	}
	return append(parts, sig)
}

func decodeModelContent(c, parts gjson.Result, ci int, pending []pendingCall) (translate.Message, []pendingCall, error) {
	m := translate.Message{Role: translate.RoleAssistant}
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
			err = badf(param, "%s must be an object", param)
			return false
		}
		var sig translate.Part
		if s := field(p, "thoughtSignature", "thought_signature").String(); s != "" && s != skipSignature { // skip...: our own placeholder
			sig = thoughtPart(s)
		}
		if t := p.Get("text"); t.Exists() {
			if p.Get("thought").Bool() {
				if t.String() != "" || sig.Signature != "" {
					th := sig
					th.Type = translate.PartThinking
					if t.String() != "" {
						th.Text = t.String()
					}
					m.Parts = append(m.Parts, th)
				}
				return true
			}
			m.Parts = addSignature(m.Parts, sig)
			if t.String() != "" {
				m.Parts = append(m.Parts, translate.Part{Type: translate.PartText, Text: t.String()})
			}
			return true
		}
		if fc := field(p, "functionCall", "function_call"); fc.Exists() {
			if !fc.IsObject() {
				err = badf(param, "%s.functionCall must be an object", param)
				return false
			}
			name := fc.Get("name").String()
			if name == "" {
				err = badf(param, "%s.functionCall.name is required", param)
				return false
			}
			args := "{}"
			if a := fc.Get("args"); a.Exists() && a.Type != gjson.Null {
				if !a.IsObject() {
					err = badf(param, "%s.functionCall.args must be an object", param)
					return false
				}
				args = a.Raw
			}
			id := fc.Get("id").String()
			if id == "" {
				if seed == "" {
					seed = strconv.Itoa(ci) + ":" + c.Raw
				}
				id = translate.MakeToolCallID("call_", seed, calls)
			}
			calls++
			m.Parts = addSignature(m.Parts, sig)
			m.Parts = append(m.Parts, translate.Part{Type: translate.PartToolCall, ToolCallID: id, ToolName: name, Arguments: args})
			pending = append(pending, pendingCall{id: id, name: name})
			return true
		}
		if field(p, "functionResponse", "function_response").Exists() {
			err = badf(param, "%s: a functionResponse belongs in a user content, not a model one", param)
			return false
		}
		var img translate.Part
		var ok bool
		img, ok, err = decodeMedia(p, param)
		if err != nil {
			return false
		}
		if ok {
			m.Parts = addSignature(m.Parts, sig)
			m.Parts = append(m.Parts, img)
			return true
		}
		if err = unsupportedPart(p, param); err != nil {
			return false
		}
		m.Parts = addSignature(m.Parts, sig)
		return true
	})
	return m, pending, err
}

func decodeUserContent(parts gjson.Result, ci int, pending []pendingCall) (tool, user translate.Message, err error) {
	tool.Role, user.Role = translate.RoleTool, translate.RoleUser
	pi := -1
	parts.ForEach(func(_, p gjson.Result) bool {
		pi++
		param := "contents[" + strconv.Itoa(ci) + "].parts[" + strconv.Itoa(pi) + "]"
		if !p.IsObject() {
			err = badf(param, "%s must be an object", param)
			return false
		}
		// Thought signatures and thoughts only mean something on model
		// parts: on user parts they are dropped.
		if t := p.Get("text"); t.Exists() {
			if t.String() != "" && !p.Get("thought").Bool() {
				user.Parts = append(user.Parts, translate.Part{Type: translate.PartText, Text: t.String()})
			}
			return true
		}
		if fr := field(p, "functionResponse", "function_response"); fr.Exists() {
			var res translate.Part
			res, err = decodeFunctionResponse(fr, param, pending)
			if err != nil {
				return false
			}
			tool.Parts = append(tool.Parts, res)
			return true
		}
		if field(p, "functionCall", "function_call").Exists() {
			err = badf(param, "%s: a functionCall belongs in a model content, not a user one", param)
			return false
		}
		var img translate.Part
		var ok bool
		img, ok, err = decodeMedia(p, param)
		if err != nil {
			return false
		}
		if ok {
			user.Parts = append(user.Parts, img)
			return true
		}
		err = unsupportedPart(p, param)
		return err == nil
	})
	return tool, user, err
}

// unsupportedPart fails on part kinds the canonical model cannot carry;
// a part with none of the known kinds (only a thought flag or a signature)
// is accepted and carries nothing.
func unsupportedPart(p gjson.Result, param string) error {
	for _, k := range [...]string{"executableCode", "executable_code", "codeExecutionResult", "code_execution_result", "toolCall", "tool_call", "toolResponse", "tool_response"} {
		if p.Get(k).Exists() {
			return badf(param, "%s: %s parts are not supported by this proxy", param, k)
		}
	}
	return nil
}

// decodeMedia reads an inlineData or fileData part as an image.
func decodeMedia(p gjson.Result, param string) (translate.Part, bool, error) {
	if d := field(p, "inlineData", "inline_data"); d.Exists() {
		mt := field(d, "mimeType", "mime_type").String()
		data := d.Get("data").String()
		if !strings.HasPrefix(mt, "image/") {
			return translate.Part{}, false, badf(param, "%s: inlineData of type %q is not supported by this proxy (images only)", param, mt)
		}
		if data == "" {
			return translate.Part{}, false, badf(param, "%s.inlineData.data is required", param)
		}
		return translate.Part{Type: translate.PartImage, MediaType: mt, Data: data}, true, nil
	}
	if d := field(p, "fileData", "file_data"); d.Exists() {
		uri := field(d, "fileUri", "file_uri").String()
		mt := field(d, "mimeType", "mime_type").String()
		if uri == "" {
			return translate.Part{}, false, badf(param, "%s.fileData.fileUri is required", param)
		}
		if mt == "" {
			mt = guessImageType(uri)
		}
		if !strings.HasPrefix(mt, "image/") {
			return translate.Part{}, false, badf(param, "%s: fileData of type %q is not supported by this proxy (images only)", param, mt)
		}
		return translate.Part{Type: translate.PartImage, MediaType: mt, URL: uri}, true, nil
	}
	return translate.Part{}, false, nil
}

// guessImageType is the image type a URL's extension names, "" if none.
func guessImageType(uri string) string {
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

func decodeFunctionResponse(fr gjson.Result, param string, pending []pendingCall) (translate.Part, error) {
	if !fr.IsObject() {
		return translate.Part{}, badf(param, "%s.functionResponse must be an object", param)
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
		return translate.Part{}, badf(param, "%s: functionResponse %q answers no functionCall of the preceding model turn", param, name)
	}
	pending[match].answered = true
	res := translate.Part{Type: translate.PartToolResult, ToolCallID: pending[match].id, ToolName: pending[match].name}
	if name != "" {
		res.ToolName = name
	}
	text, isErr := responseText(fr.Get("response"))
	res.IsError = isErr
	if text != "" {
		res.Content = append(res.Content, translate.Part{Type: translate.PartText, Text: text})
	}
	// Multimodal function responses (Gemini 3): parts with inline images.
	var err error
	fr.Get("parts").ForEach(func(_, fp gjson.Result) bool {
		var img translate.Part
		var ok bool
		img, ok, err = decodeMedia(fp, param+".functionResponse.parts")
		if ok {
			res.Content = append(res.Content, img)
		}
		return err == nil
	})
	return res, err
}

// responseText is the tool-result text of a functionResponse.response:
// the string of {"result": s} or {"output": s}, the error of {"error": e},
// else the JSON text of the object.
func responseText(resp gjson.Result) (string, bool) {
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

func decodeSystem(r *translate.Request, si gjson.Result) error {
	switch {
	case !si.Exists() || si.Type == gjson.Null:
		return nil
	case si.Type == gjson.String:
		r.System = si.Str
		return nil
	case !si.IsObject():
		return badf("systemInstruction", "systemInstruction must be an object")
	}
	var sb strings.Builder
	var err error
	si.Get("parts").ForEach(func(_, p gjson.Result) bool {
		t := p.Get("text")
		if !t.Exists() {
			if field(p, "inlineData", "inline_data").Exists() || field(p, "fileData", "file_data").Exists() {
				err = badf("systemInstruction", "systemInstruction may only hold text parts")
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

func decodeTools(r *translate.Request, tools gjson.Result) error {
	if !tools.Exists() || tools.Type == gjson.Null {
		return nil
	}
	if !tools.IsArray() {
		return badf("tools", "tools must be an array")
	}
	var err error
	tools.ForEach(func(_, t gjson.Result) bool {
		if !t.IsObject() {
			err = badf("tools", "tools must hold objects")
			return false
		}
		t.ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "functionDeclarations", "function_declarations":
				v.ForEach(func(_, d gjson.Result) bool {
					var tool translate.Tool
					tool, err = decodeDeclaration(d)
					if err == nil {
						r.Tools = append(r.Tools, tool)
					}
					return err == nil
				})
			default:
				err = badf("tools", "the %s tool is not supported by this proxy (function declarations only)", k.Str)
			}
			return err == nil
		})
		return err == nil
	})
	return err
}

func decodeDeclaration(d gjson.Result) (translate.Tool, error) {
	if !d.IsObject() {
		return translate.Tool{}, badf("tools", "functionDeclarations must hold objects")
	}
	t := translate.Tool{Name: d.Get("name").String(), Description: d.Get("description").String()}
	if t.Name == "" {
		return t, badf("tools", "a function declaration has no name")
	}
	if s := field(d, "parametersJsonSchema", "parameters_json_schema"); s.Exists() && s.Type != gjson.Null {
		if !s.IsObject() {
			return t, badf("tools", "parametersJsonSchema of %q must be an object", t.Name)
		}
		t.Parameters = json.RawMessage(s.Raw)
	} else if s := d.Get("parameters"); s.Exists() && s.Type != gjson.Null {
		if !s.IsObject() {
			return t, badf("tools", "parameters of %q must be an object", t.Name)
		}
		t.Parameters = schemaToJSONSchema(s.Raw)
	}
	return t, nil
}

// schemaToJSONSchema turns a Gemini Schema (OpenAPI 3.0 subset: upper-case
// types, nullable, int64 bounds as strings, propertyOrdering) into JSON
// Schema the other providers accept.
func schemaToJSONSchema(raw string) json.RawMessage {
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return json.RawMessage(raw)
	}
	fixSchema(v)
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(raw)
	}
	return b
}

func fixSchema(v any) {
	switch s := v.(type) {
	case []any:
		for _, e := range s {
			fixSchema(e)
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
			fixSchema(e)
		}
	}
}

func decodeToolConfig(r *translate.Request, tc gjson.Result) error {
	if !tc.Exists() || tc.Type == gjson.Null {
		return nil
	}
	fc := field(tc, "functionCallingConfig", "function_calling_config")
	if !fc.Exists() || fc.Type == gjson.Null {
		return nil
	}
	var names []string
	field(fc, "allowedFunctionNames", "allowed_function_names").ForEach(func(_, n gjson.Result) bool {
		names = append(names, n.String())
		return true
	})
	switch mode := strings.ToUpper(fc.Get("mode").String()); mode {
	case "", "MODE_UNSPECIFIED":
	case "AUTO", "VALIDATED":
		r.ToolChoice = &translate.ToolChoice{Mode: "auto"}
	case "NONE":
		r.ToolChoice = &translate.ToolChoice{Mode: "none"}
	case "ANY":
		if len(names) == 1 {
			r.ToolChoice = &translate.ToolChoice{Mode: "tool", Name: names[0]}
		} else {
			r.ToolChoice = &translate.ToolChoice{Mode: "required"}
		}
	default:
		return badf("toolConfig", "unknown functionCallingConfig.mode %q", mode)
	}
	return nil
}

// number reads a number, accepting the string form proto JSON allows.
func number(v gjson.Result, param string) (float64, bool, error) {
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
	return 0, false, badf(param, "%s must be a number", param)
}

func decodeGenerationConfig(r *translate.Request, gc gjson.Result) error {
	if !gc.Exists() || gc.Type == gjson.Null {
		return nil
	}
	if !gc.IsObject() {
		return badf("generationConfig", "generationConfig must be an object")
	}
	if f, ok, err := number(field(gc, "maxOutputTokens", "max_output_tokens"), "generationConfig.maxOutputTokens"); err != nil {
		return err
	} else if ok {
		if f < 0 || f > 1<<31 {
			return badf("generationConfig.maxOutputTokens", "generationConfig.maxOutputTokens is out of range")
		}
		r.MaxTokens = int(f)
	}
	if f, ok, err := number(gc.Get("temperature"), "generationConfig.temperature"); err != nil {
		return err
	} else if ok {
		r.Temperature = &f
	}
	if f, ok, err := number(field(gc, "topP", "top_p"), "generationConfig.topP"); err != nil {
		return err
	} else if ok {
		r.TopP = &f
	}
	if f, ok, err := number(field(gc, "topK", "top_k"), "generationConfig.topK"); err != nil {
		return err
	} else if ok {
		if f < 0 || f > 1<<31 {
			return badf("generationConfig.topK", "generationConfig.topK is out of range")
		}
		k := int(f)
		r.TopK = &k
	}
	if f, ok, err := number(field(gc, "candidateCount", "candidate_count"), "generationConfig.candidateCount"); err != nil {
		return err
	} else if ok && f > 1 {
		return badf("generationConfig.candidateCount", "generationConfig.candidateCount above 1 is not supported by this proxy")
	}
	if s := field(gc, "stopSequences", "stop_sequences"); s.Exists() && s.Type != gjson.Null {
		if !s.IsArray() {
			return badf("generationConfig.stopSequences", "generationConfig.stopSequences must be an array of strings")
		}
		s.ForEach(func(_, v gjson.Result) bool {
			r.Stop = append(r.Stop, v.String())
			return true
		})
	}
	if strings.EqualFold(field(gc, "responseMimeType", "response_mime_type").String(), "application/json") {
		r.ResponseFormat = &translate.ResponseFormat{Type: "json_object"}
		if s := field(gc, "responseJsonSchema", "response_json_schema"); s.IsObject() {
			r.ResponseFormat = &translate.ResponseFormat{Type: "json_schema", Name: "response", Schema: json.RawMessage(s.Raw)}
		} else if s := field(gc, "responseSchema", "response_schema"); s.IsObject() {
			r.ResponseFormat = &translate.ResponseFormat{Type: "json_schema", Name: "response", Schema: schemaToJSONSchema(s.Raw)}
		}
	}
	return decodeThinking(r, field(gc, "thinkingConfig", "thinking_config"))
}

func decodeThinking(r *translate.Request, tc gjson.Result) error {
	if !tc.Exists() || tc.Type == gjson.Null {
		return nil
	}
	if !tc.IsObject() {
		return badf("generationConfig.thinkingConfig", "generationConfig.thinkingConfig must be an object")
	}
	budget, hasBudget, err := number(field(tc, "thinkingBudget", "thinking_budget"), "generationConfig.thinkingConfig.thinkingBudget")
	if err != nil {
		return err
	}
	switch {
	case hasBudget && budget == 0:
		r.Reasoning = &translate.Reasoning{Off: true}
	case hasBudget && budget < 0: // -1: dynamic thinking
		r.Reasoning = &translate.Reasoning{Effort: "medium"}
	case hasBudget:
		if budget > 1<<31 {
			budget = 1 << 31
		}
		rs := &translate.Reasoning{Budget: int(budget)}
		rs.Effort = rs.EffortLevel()
		r.Reasoning = rs
	default:
		level := field(tc, "thinkingLevel", "thinking_level")
		switch strings.ToLower(level.String()) {
		case "":
			if field(tc, "includeThoughts", "include_thoughts").Bool() {
				r.Reasoning = &translate.Reasoning{Effort: "medium"}
			}
		case "thinking_level_unspecified":
		case "minimal", "low":
			r.Reasoning = &translate.Reasoning{Effort: "low"}
		case "medium":
			r.Reasoning = &translate.Reasoning{Effort: "medium"}
		case "high":
			r.Reasoning = &translate.Reasoning{Effort: "high"}
		default:
			return badf("generationConfig.thinkingConfig.thinkingLevel", "unknown thinkingLevel %q", level.String())
		}
	}
	return nil
}
