package fakeupstream

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/tidwall/gjson"
)

// gemRequest is a validated generateContent (or countTokens) body.
type gemRequest struct {
	model           string
	promptTokens    int
	includeThoughts bool
	sign            bool // put thought signatures on function calls
	candidates      int
	maxOutput       int
	stopSeqs        []string
	lastUserText    string
	fnResponse      bool   // the last turn holds function responses
	resultText      string // their text
	callTool        string // function to call in the reply, "" for text
}

type gemCall struct {
	part   int
	name   string
	args   string // compact JSON
	text   string // a response's text
	sig    string
	hasSig bool
}

type gemContent struct {
	idx       int
	role      string
	texts     []string
	standard  bool // has non-thought text, inline or file data
	calls     []gemCall
	responses []gemCall
}

var (
	gemFnName       = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$`)
	gemMimeTypes    = []string{"text/plain", "application/json", "application/xml", "application/yaml", "text/x.enum"}
	gemDummySigs    = []string{"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"}
	gemSniffedTypes = []string{"image/png", "image/jpeg", "image/webp"}
)

const gemImageError = "Unable to process input image. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"

// asList is a repeated field's elements (a single value counts as one).
func asList(v gjson.Result) []gjson.Result {
	switch {
	case !present(v):
		return nil
	case v.IsArray():
		return v.Array()
	}
	return []gjson.Result{v}
}

func gemMimeSupported(mt string) bool {
	for _, p := range []string{"image/", "audio/", "video/", "text/"} {
		if strings.HasPrefix(mt, p) {
			return true
		}
	}
	return slices.Contains([]string{"application/pdf", "application/json", "application/x-javascript", "application/x-python"}, mt)
}

// gemResponseText is the text a function response stands for: its
// "output", "result" or "content" string, its only string field, or else
// the response as JSON.
func gemResponseText(resp gjson.Result) string {
	if !resp.IsObject() {
		return compactJSON(resp.Raw)
	}
	for _, k := range []string{"output", "result", "content"} {
		if v := resp.Get(k); v.Type == gjson.String {
			return v.Str
		}
	}
	if m := resp.Map(); len(m) == 1 {
		for _, v := range m {
			if v.Type == gjson.String {
				return v.Str
			}
		}
	}
	return compactJSON(resp.Raw)
}

// parseGemini validates a GenerateContentRequest-shaped object the way the
// Gemini API does. reqName prefixes field paths in errors
// ("GenerateContentRequest"); generate selects the checks only generation
// does.
func parseGemini(root gjson.Result, reqName, model string, generate bool) (*gemRequest, *gemError) {
	req := &gemRequest{model: model, candidates: 1}
	var sem []string
	semf := func(format string, args ...any) { sem = append(sem, "* "+fmt.Sprintf(format, args...)+"\n") }
	textBytes := 0

	// contents
	list := asList(gemGet(root, "contents"))
	if len(list) == 0 {
		semf("%s.contents: contents is not specified", reqName)
	}
	var cs []gemContent
	for i, c := range list {
		p := fmt.Sprintf("%s.contents[%d]", reqName, i)
		role := gemGet(c, "role").Str
		if (role != "" && role != "user" && role != "model") || (role == "" && len(list) > 1) {
			return nil, gemInvalid("Please use a valid role: user, model.")
		}
		gc := gemContent{idx: i, role: role}
		parts := asList(gemGet(c, "parts"))
		if len(parts) == 0 {
			semf("%s.parts: contents.parts must not be empty.", p)
		}
		for j, part := range parts {
			pp := fmt.Sprintf("%s.parts[%d]", p, j)
			sig := gemGet(part, "thoughtSignature")
			switch {
			case present(gemGet(part, "text")):
				text := gemGet(part, "text").Str
				if gemGet(part, "thought").Type != gjson.True {
					gc.texts = append(gc.texts, text)
					gc.standard = true
					textBytes += len(text)
				}
			case present(gemGet(part, "inlineData")):
				d := gemGet(part, "inlineData")
				mt, data := gemGet(d, "mimeType").Str, gemGet(d, "data").Str
				switch {
				case mt == "":
					semf("%s.inline_data.mime_type: mime_type must not be empty.", pp)
				case !gemMimeSupported(mt):
					return nil, gemInvalid("Unsupported MIME type: " + mt)
				case data == "":
					semf("%s.inline_data.data: data must not be empty.", pp)
				case slices.Contains(gemSniffedTypes, mt):
					if raw, _ := decodeBase64(data); sniffImage(raw) == "" {
						return nil, gemInvalid(gemImageError)
					}
				}
				gc.standard = true
			case present(gemGet(part, "fileData")):
				if gemGet(gemGet(part, "fileData"), "fileUri").Str == "" {
					semf("%s.file_data.file_uri: file_uri must not be empty.", pp)
				}
				gc.standard = true
			case present(gemGet(part, "functionCall")):
				fc := gemGet(part, "functionCall")
				call := gemCall{part: j, name: gemGet(fc, "name").Str, args: "{}", sig: sig.Str, hasSig: sig.Type == gjson.String && sig.Str != ""}
				if a := gemGet(fc, "args"); present(a) {
					call.args = compactJSON(a.Raw)
				}
				if call.name == "" {
					semf("%s.function_call.name: Name cannot be empty.", pp)
				}
				textBytes += len(call.name) + len(call.args)
				gc.calls = append(gc.calls, call)
			case present(gemGet(part, "functionResponse")):
				fr := gemGet(part, "functionResponse")
				resp := gemGet(fr, "response")
				call := gemCall{part: j, name: gemGet(fr, "name").Str, text: gemResponseText(resp)}
				if call.name == "" {
					semf("%s.function_response.name: Name cannot be empty.", pp)
				}
				textBytes += len(call.name) + len(compactJSON(resp.Raw))
				gc.responses = append(gc.responses, call)
			case present(gemGet(part, "executableCode")), present(gemGet(part, "codeExecutionResult")):
			default:
				semf("%s.data: required oneof field 'data' must have one initialized field", pp)
			}
		}
		cs = append(cs, gc)
	}

	// systemInstruction
	if si := gemGet(root, "systemInstruction"); present(si) {
		for j, part := range asList(gemGet(si, "parts")) {
			t := gemGet(part, "text")
			if !present(t) {
				semf("%s.system_instruction.parts[%d]: only text parts are supported in system_instruction.", reqName, j)
				continue
			}
			textBytes += len(t.Str)
		}
	}

	// tools
	var names []string
	for ti, t := range asList(gemGet(root, "tools")) {
		for di, d := range asList(gemGet(t, "functionDeclarations")) {
			p := fmt.Sprintf("%s.tools[%d].function_declarations[%d]", reqName, ti, di)
			name := gemGet(d, "name").Str
			switch {
			case !gemFnName.MatchString(name):
				semf("%s.name: Invalid function name. Must start with a letter or an underscore. Must be a-z, A-Z, 0-9, or contain "+
					"underscores, dots, colons and dashes, with a maximum length of 64.", p)
			case slices.Contains(names, name):
				semf("%s.name: Duplicate function declaration found: %s", p, name)
			}
			names = append(names, name)
			params, pjs := gemGet(d, "parameters"), gemGet(d, "parametersJsonSchema")
			if present(params) && present(pjs) {
				semf("%s.parameters_json_schema: parameters and parameters_json_schema cannot both be set.", p)
			}
			if present(params) {
				gemCheckSchema(p+".parameters", params, semf)
				textBytes += len(compactJSON(params.Raw))
			}
			if present(pjs) {
				if !pjs.IsObject() && pjs.Type != gjson.True && pjs.Type != gjson.False {
					semf("%s.parameters_json_schema: must be a JSON schema object.", p)
				}
				textBytes += len(compactJSON(pjs.Raw))
			}
			textBytes += len(name) + len(gemGet(d, "description").Str)
		}
	}

	// toolConfig
	fcc := gemGet(gemGet(root, "toolConfig"), "functionCallingConfig")
	mode := strings.ToUpper(gemGet(fcc, "mode").String())
	var allowed []string
	for i, a := range asList(gemGet(fcc, "allowedFunctionNames")) {
		if !slices.Contains(names, a.Str) {
			semf("%s.tool_config.function_calling_config.allowed_function_names[%d]: function %q is not declared in tools.", reqName, i, a.Str)
		}
		allowed = append(allowed, a.Str)
	}
	if len(allowed) > 0 && mode != "ANY" && mode != "VALIDATED" {
		semf("%s.tool_config.function_calling_config.allowed_function_names: allowed_function_names should only be set when mode is ANY or VALIDATED.", reqName)
	}

	// generationConfig
	gc := gemGet(root, "generationConfig")
	gp := reqName + ".generation_config"
	if v := gemGet(gc, "candidateCount"); present(v) {
		if n := v.Int(); n < 0 || n > 8 {
			semf("%s.candidate_count: candidate_count must be in the range [1, 8].", gp)
		} else {
			req.candidates = max(1, int(n))
		}
	}
	if v := gemGet(gc, "maxOutputTokens"); present(v) {
		if n := v.Int(); n <= 0 {
			semf("%s.max_output_tokens: max_output_tokens must be positive.", gp)
		} else {
			req.maxOutput = int(n)
		}
	}
	if v := gemGet(gc, "temperature"); present(v) && (v.Float() < 0 || v.Float() > 2) {
		semf("%s.temperature: temperature must be in the range [0.0, 2.0].", gp)
	}
	if v := gemGet(gc, "topP"); present(v) && (v.Float() < 0 || v.Float() > 1) {
		semf("%s.top_p: top_p must be in the range [0.0, 1.0].", gp)
	}
	stops := asList(gemGet(gc, "stopSequences"))
	if len(stops) > 5 {
		semf("%s.stop_sequences: the number of stop_sequences must not exceed 5.", gp)
	}
	for _, s := range stops {
		if s.Str != "" {
			req.stopSeqs = append(req.stopSeqs, s.Str)
		}
	}
	mt := gemGet(gc, "responseMimeType")
	if present(mt) && mt.Str != "" && !slices.Contains(gemMimeTypes, mt.Str) {
		semf("%s.response_mime_type: allowed mimetypes are `text/plain`, `application/json`, `application/xml`, `application/yaml` and `text/x.enum`.", gp)
	}
	rs, rjs := gemGet(gc, "responseSchema"), gemGet(gc, "responseJsonSchema")
	if present(rs) && present(rjs) {
		semf("%s.response_json_schema: response_schema and response_json_schema cannot both be set.", gp)
	}
	if (present(rs) || present(rjs)) && mt.Str != "application/json" && mt.Str != "text/x.enum" {
		semf("%s.response_mime_type: response_mime_type must be application/json or text/x.enum when a response schema is set.", gp)
	}
	if present(rs) {
		gemCheckSchema(gp+".response_schema", rs, semf)
	}
	tc := gemGet(gc, "thinkingConfig")
	req.includeThoughts = gemGet(tc, "includeThoughts").Type == gjson.True
	gemini3 := strings.HasPrefix(model, "gemini-3")
	req.sign = req.includeThoughts || gemini3

	if len(sem) > 0 {
		return nil, gemInvalid(strings.Join(sem, ""))
	}
	if b := gemGet(tc, "thinkingBudget"); present(b) {
		switch n := b.Int(); {
		case n == 0 && strings.HasPrefix(model, "gemini-2.5-pro"):
			return nil, gemInvalid("Budget 0 is invalid. This model only works in thinking mode.")
		case n < -1:
			return nil, gemInvalid(fmt.Sprintf("* %s.thinking_config.thinking_budget: thinking_budget must be -1 or non-negative.\n", gp))
		}
	}
	if present(gemGet(tc, "thinkingLevel")) && !gemini3 {
		return nil, gemInvalid("Thinking level is not supported for this model.")
	}

	// Function call / response turns.
	for i, c := range cs {
		if len(c.calls) > 0 && (c.role != "model" || i == 0 || cs[i-1].role == "model") {
			return nil, gemInvalid("Please ensure that function call turn comes immediately after a user turn or after a function response turn.")
		}
		if len(c.responses) == 0 {
			continue
		}
		if c.role == "model" || i == 0 || len(cs[i-1].calls) == 0 {
			return nil, gemInvalid("Please ensure that function response turn comes immediately after a function call turn.")
		}
		prev := cs[i-1].calls
		if len(c.responses) != len(prev) {
			return nil, gemInvalid("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.")
		}
		var want []string
		for _, fc := range prev {
			want = append(want, fc.name)
		}
		for _, fr := range c.responses {
			k := slices.Index(want, fr.name)
			if k < 0 {
				return nil, gemInvalid(fmt.Sprintf("Please ensure that the function response parts match the function call parts of the "+
					"function call turn: function response %q has no function call of that name.", fr.name))
			}
			want = slices.Delete(want, k, k+1)
		}
	}

	// Gemini 3 validates the thought signatures of the current turn's
	// function calls (the turn starts after the last user message with
	// standard content).
	if generate && gemini3 {
		start := 0
		for i, c := range cs {
			if c.role != "model" && c.standard {
				start = i + 1
			}
		}
		for _, c := range cs[start:] {
			if c.role != "model" || len(c.calls) == 0 {
				continue
			}
			first := c.calls[0]
			switch {
			case !first.hasSig:
				return nil, gemInvalid(fmt.Sprintf("Function call is missing a thought_signature in functionCall parts. This is required "+
					"for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, "+
					"function call `default_api:%s` , position %d. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures "+
					"for more details.", first.name, c.idx+1))
			case !slices.Contains(gemDummySigs, first.sig) && !verify(first.sig, "gemini-fc", first.name, canonicalJSON(first.args)):
				return nil, gemInvalid("Corrupted thought signature.")
			}
		}
	}

	req.promptTokens = textBytes/4 + 1
	if len(cs) == 0 {
		return req, nil
	}
	last := cs[len(cs)-1]
	if len(last.responses) > 0 {
		req.fnResponse = true
		var texts []string
		for _, r := range last.responses {
			texts = append(texts, r.text)
		}
		req.resultText = strings.Join(texts, " ")
	}
	for i := len(cs) - 1; i >= 0; i-- {
		if cs[i].role != "model" && len(cs[i].texts) > 0 {
			req.lastUserText = strings.Join(cs[i].texts, " ")
			break
		}
	}
	if last.role != "model" && !req.fnResponse && mode != "NONE" && len(names) > 0 {
		req.callTool = names[0]
		if mode == "ANY" && len(allowed) > 0 {
			req.callTool = allowed[0]
		}
	}
	return req, nil
}

// gemCheckSchema applies the Gemini API's checks to an OpenAPI-subset
// Schema (parameters, responseSchema).
func gemCheckSchema(p string, s gjson.Result, semf func(string, ...any)) {
	if !s.IsObject() {
		return
	}
	props := gemGet(s, "properties")
	switch strings.ToUpper(gemGet(s, "type").Str) {
	case "OBJECT":
		if !props.IsObject() || len(props.Map()) == 0 {
			semf("%s.properties: should be non-empty for OBJECT type", p)
		}
	case "ARRAY":
		if !present(gemGet(s, "items")) {
			semf("%s.items: missing field.", p)
		}
	}
	for i, r := range asList(gemGet(s, "required")) {
		if !props.Get(gjsonEscape(r.Str)).Exists() {
			semf("%s.required[%d]: property is not defined", p, i)
		}
	}
	props.ForEach(func(k, v gjson.Result) bool {
		gemCheckSchema(fmt.Sprintf("%s.properties[%s]", p, k.Str), v, semf)
		return true
	})
	if items := gemGet(s, "items"); present(items) {
		gemCheckSchema(p+".items", items, semf)
	}
	for i, a := range asList(gemGet(s, "anyOf")) {
		gemCheckSchema(fmt.Sprintf("%s.any_of[%d]", p, i), a, semf)
	}
}

// parseGeminiBody checks the JSON and its proto shape against m.
func parseGeminiBody(body []byte, m *pmsg) (gjson.Result, *gemError) {
	var pe protoErrs
	if !gjson.ValidBytes(body) {
		pe.add("", "Invalid JSON payload received. Unexpected token.")
		return gjson.Result{}, pe.gemError()
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		pe.add("", fmt.Sprintf("Invalid JSON payload received. Expected an object, got %s.", repr(root)))
		return root, pe.gemError()
	}
	pe.checkMessage(m, root, "")
	return root, pe.gemError()
}

// gemReply is the deterministic answer.
type gemReply struct {
	thought       string
	thoughtPieces []string
	text          string
	textPieces    []string
	callName      string
	callArgs      string
	callSig       string
	finish        string
	candTokens    int // per candidate
	thoughtTokens int // per candidate
}

func gemBuildReply(req *gemRequest) gemReply {
	var r gemReply
	subject := req.lastUserText
	if req.fnResponse {
		subject = req.resultText
	}
	if req.includeThoughts {
		r.thought = "thinking about: " + subject
		r.thoughtPieces = words(r.thought)
		r.thoughtTokens = len(r.thoughtPieces)
	}
	r.finish = "STOP"
	if req.callTool != "" {
		r.callName = req.callTool
		r.callArgs = string(jsonBytes(obj{{"q", req.lastUserText}}))
		if req.sign {
			r.callSig = functionCallSignature(r.callName, r.callArgs)
		}
		r.candTokens = len(fragments(r.callArgs, 4))
		return r
	}
	text := "echo: " + req.lastUserText
	if req.fnResponse {
		text = "result: " + req.resultText
	}
	cut := -1
	for _, seq := range req.stopSeqs {
		if i := strings.Index(text, seq); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		text = text[:cut]
	}
	pieces := words(text)
	if req.maxOutput > 0 && r.thoughtTokens+len(pieces) > req.maxOutput {
		pieces = pieces[:max(0, req.maxOutput-r.thoughtTokens)]
		if n := len(pieces); n > 0 {
			pieces[n-1] = strings.TrimRightFunc(pieces[n-1], unicode.IsSpace)
		}
		text = strings.Join(pieces, "")
		r.finish = "MAX_TOKENS"
	}
	r.text, r.textPieces = text, pieces
	r.candTokens = len(pieces)
	return r
}

func (r gemReply) callPart() obj {
	p := obj{{"functionCall", obj{{"name", r.callName}, {"args", json.RawMessage(r.callArgs)}}}}
	if r.callSig != "" {
		p = append(p, kv{"thoughtSignature", r.callSig})
	}
	return p
}

func gemUsage(req *gemRequest, r gemReply, final bool) obj {
	p := req.promptTokens
	details := []any{obj{{"modality", "TEXT"}, {"tokenCount", p}}}
	if !final {
		return obj{{"promptTokenCount", p}, {"totalTokenCount", p}, {"promptTokensDetails", details}}
	}
	c, t := req.candidates*r.candTokens, req.candidates*r.thoughtTokens
	u := obj{{"promptTokenCount", p}}
	if c > 0 {
		u = append(u, kv{"candidatesTokenCount", c})
	}
	u = append(u, kv{"totalTokenCount", p + c + t}, kv{"promptTokensDetails", details})
	if t > 0 {
		u = append(u, kv{"thoughtsTokenCount", t})
	}
	return u
}

func gemCandidates(n int, parts []any, finish string) []any {
	out := make([]any, n)
	for i := range out {
		c := obj{{"content", obj{{"parts", parts}, {"role", "model"}}}}
		if finish != "" {
			c = append(c, kv{"finishReason", finish})
		}
		out[i] = append(c, kv{"index", i})
	}
	return out
}

func (s *Server) gemGenerate(w http.ResponseWriter, r *http.Request, body []byte, b Behavior) {
	model, method, _ := gemSplitPath(r.URL.Path)
	model = strings.TrimPrefix(model, "models/")
	root, e := parseGeminiBody(body, gemGenerateRequest)
	if e != nil {
		writeGemError(w, *e)
		return
	}
	if strings.HasPrefix(model, "unknown") {
		writeGemError(w, *gemNotFound(model))
		return
	}
	req, e := parseGemini(root, "GenerateContentRequest", model, true)
	if e != nil {
		writeGemError(w, *e)
		return
	}
	reply := gemBuildReply(req)
	id := fmt.Sprintf("fakeupstream%011d", s.nextSeq(&s.compSeq))

	if method == "streamGenerateContent" {
		s.gemStream(w, r, req, reply, id, b)
		return
	}
	var parts []any
	if reply.thought != "" {
		parts = append(parts, obj{{"text", reply.thought}, {"thought", true}})
	}
	switch {
	case reply.callName != "":
		parts = append(parts, reply.callPart())
	case reply.text != "" || parts == nil:
		parts = append(parts, obj{{"text", reply.text}})
	}
	s.writeAnswer(w, r, "application/json; charset=UTF-8", indent(jsonBytes(obj{
		{"candidates", gemCandidates(req.candidates, parts, reply.finish)},
		{"usageMetadata", gemUsage(req, reply, true)},
		{"modelVersion", model},
		{"responseId", id},
	}), "  "), b)
}

// gemStream writes the reply in chunks: one per thought word, one per text
// word or one holding the whole function call; the last carries the
// finishReason and the full usage. With ?alt=sse as server-sent events,
// otherwise as a streamed JSON array.
func (s *Server) gemStream(w http.ResponseWriter, r *http.Request, req *gemRequest, reply gemReply, id string, b Behavior) {
	var chunks [][]any
	for _, p := range reply.thoughtPieces {
		chunks = append(chunks, []any{obj{{"text", p}, {"thought", true}}})
	}
	if reply.callName != "" {
		chunks = append(chunks, []any{reply.callPart()})
	}
	for _, p := range reply.textPieces {
		chunks = append(chunks, []any{obj{{"text", p}}})
	}
	if len(chunks) == 0 {
		chunks = append(chunks, []any{obj{{"text", ""}}})
	}

	sse := r.URL.Query().Get("alt") == "sse"
	ct := "application/json; charset=UTF-8"
	if sse {
		ct = "text/event-stream"
	}
	corrupt := []byte("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"corrupt\"}]}}]\r\n\r\n")
	if !sse {
		corrupt = []byte("\n,\r\n{\"candidates\": [corrupt")
	}
	es := s.startStream(w, r, ct, b, corrupt)
	if es == nil {
		return
	}
	for i, parts := range chunks {
		final := i == len(chunks)-1
		finish := ""
		if final {
			finish = reply.finish
		}
		chunk := obj{
			{"candidates", gemCandidates(req.candidates, parts, finish)},
			{"usageMetadata", gemUsage(req, reply, final)},
			{"modelVersion", req.model},
			{"responseId", id},
		}
		var ev []byte
		if sse {
			ev = fmt.Appendf(nil, "data: %s\r\n\r\n", jsonBytes(chunk))
		} else {
			pretty := strings.TrimSuffix(string(indent(jsonBytes(chunk), "  ")), "\n")
			sep := "[" // the array opens with the first chunk
			if i > 0 {
				sep = "\n,\r\n"
			}
			ev = []byte(sep + pretty)
			if final {
				ev = append(ev, "\n]"...)
			}
		}
		if !es.send(ev, final) {
			return
		}
	}
}

func (s *Server) gemCountTokens(w http.ResponseWriter, r *http.Request, body []byte, _ Behavior) {
	model, _, _ := gemSplitPath(r.URL.Path)
	model = strings.TrimPrefix(model, "models/")
	root, e := parseGeminiBody(body, gemCountRequest)
	if e != nil {
		writeGemError(w, *e)
		return
	}
	if strings.HasPrefix(model, "unknown") {
		writeGemError(w, *gemNotFound(model))
		return
	}
	target, name := root, "CountTokensRequest"
	if gcr := gemGet(root, "generateContentRequest"); present(gcr) {
		if present(gemGet(root, "contents")) {
			writeGemError(w, *gemInvalid("* CountTokensRequest: only one of contents and generate_content_request may be set.\n"))
			return
		}
		if !strings.HasPrefix(gemGet(gcr, "model").Str, "models/") {
			writeGemError(w, *gemInvalid("* CountTokensRequest.generate_content_request.model: unexpected model name format\n"))
			return
		}
		target, name = gcr, "CountTokensRequest.generate_content_request"
	}
	req, e := parseGemini(target, name, model, false)
	if e != nil {
		writeGemError(w, *e)
		return
	}
	writeGemJSON(w, obj{
		{"totalTokens", req.promptTokens},
		{"promptTokensDetails", []any{obj{{"modality", "TEXT"}, {"tokenCount", req.promptTokens}}}},
	})
}
