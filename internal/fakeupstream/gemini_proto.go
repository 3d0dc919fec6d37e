package fakeupstream

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/tidwall/gjson"
)

// A small emulation of Google's proto3 JSON parsing of request bodies: field
// names in lowerCamel or snake_case, unknown names rejected, scalar types
// checked, bytes as base64, enums by name, oneofs exclusive, a repeated
// field also accepting a single value. Its errors are worded as the Gemini
// API's "Invalid JSON payload received" / "Invalid value at" messages.

type pkind int

const (
	pString pkind = iota
	pInt
	pFloat
	pBool
	pBytes
	pEnum
	pMsg
	pStruct // google.protobuf.Struct
	pValue  // google.protobuf.Value
	pMap    // map<string, msg>
	pStrMap // map<string, string>
)

type pfield struct {
	kind     pkind
	repeated bool
	msg      *pmsg
	enum     *penum
	oneof    string
}

type penum struct {
	name   string
	values []string
	fold   bool // case-insensitive (the Schema Type enum is, in practice)
}

type pmsg struct {
	name   string
	fields map[string]*pfield
}

const gemPkg = "google.ai.generativelanguage.v1beta."

func newMsg(name string) *pmsg { return &pmsg{name: gemPkg + name, fields: map[string]*pfield{}} }

func (m *pmsg) add(kind pkind, names ...string) *pmsg {
	for _, n := range names {
		m.fields[n] = &pfield{kind: kind}
	}
	return m
}

func (m *pmsg) addRepeated(kind pkind, names ...string) *pmsg {
	for _, n := range names {
		m.fields[n] = &pfield{kind: kind, repeated: true}
	}
	return m
}

func (m *pmsg) addMsg(name string, sub *pmsg, repeated bool) *pmsg {
	m.fields[name] = &pfield{kind: pMsg, msg: sub, repeated: repeated}
	return m
}

func (m *pmsg) addEnum(name string, e *penum, repeated bool) *pmsg {
	m.fields[name] = &pfield{kind: pEnum, enum: e, repeated: repeated}
	return m
}

func (m *pmsg) oneof(group string, names ...string) *pmsg {
	for _, n := range names {
		m.fields[n].oneof = group
	}
	return m
}

var (
	gemGenerateRequest   *pmsg
	gemCountRequest      *pmsg
	gemEmbedRequest      *pmsg
	gemBatchEmbedRequest *pmsg
)

func init() {
	typeEnum := &penum{name: "Type", values: []string{"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}, fold: true}
	schema := newMsg("Schema").
		add(pString, "format", "title", "description", "pattern").
		add(pBool, "nullable").
		addRepeated(pString, "enum", "required", "propertyOrdering").
		add(pInt, "maxItems", "minItems", "minProperties", "maxProperties", "minLength", "maxLength").
		add(pFloat, "minimum", "maximum").
		add(pValue, "example", "default").
		addEnum("type", typeEnum, false)
	schema.fields["properties"] = &pfield{kind: pMap, msg: schema}
	schema.addMsg("items", schema, false).addMsg("anyOf", schema, true)

	blob := newMsg("Blob").add(pString, "mimeType").add(pBytes, "data")
	fileData := newMsg("FileData").add(pString, "mimeType", "fileUri")
	functionCall := newMsg("FunctionCall").add(pString, "id", "name").add(pStruct, "args")
	functionResponse := newMsg("FunctionResponse").add(pString, "id", "name").add(pStruct, "response").
		addRepeated(pValue, "parts").add(pBool, "willContinue").
		addEnum("scheduling", &penum{name: "FunctionResponse.Scheduling", values: []string{"SCHEDULING_UNSPECIFIED", "SILENT", "WHEN_IDLE", "INTERRUPT"}}, false)
	executableCode := newMsg("ExecutableCode").add(pString, "code").
		addEnum("language", &penum{name: "ExecutableCode.Language", values: []string{"LANGUAGE_UNSPECIFIED", "PYTHON"}}, false)
	codeResult := newMsg("CodeExecutionResult").add(pString, "output").
		addEnum("outcome", &penum{name: "CodeExecutionResult.Outcome", values: []string{"OUTCOME_UNSPECIFIED", "OUTCOME_OK", "OUTCOME_FAILED", "OUTCOME_DEADLINE_EXCEEDED"}}, false)
	videoMetadata := newMsg("VideoMetadata").add(pString, "startOffset", "endOffset").add(pFloat, "fps")
	part := newMsg("Part").
		add(pString, "text").
		addMsg("inlineData", blob, false).
		addMsg("fileData", fileData, false).
		addMsg("functionCall", functionCall, false).
		addMsg("functionResponse", functionResponse, false).
		addMsg("executableCode", executableCode, false).
		addMsg("codeExecutionResult", codeResult, false).
		add(pBool, "thought").
		add(pBytes, "thoughtSignature").
		addMsg("videoMetadata", videoMetadata, false).
		add(pStruct, "partMetadata").
		add(pValue, "mediaResolution").
		oneof("data", "text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult")
	content := newMsg("Content").add(pString, "role").addMsg("parts", part, true)

	functionDecl := newMsg("FunctionDeclaration").add(pString, "name", "description").
		addMsg("parameters", schema, false).add(pValue, "parametersJsonSchema").
		addMsg("response", schema, false).add(pValue, "responseJsonSchema").
		addEnum("behavior", &penum{name: "FunctionDeclaration.Behavior", values: []string{"UNSPECIFIED", "BLOCKING", "NON_BLOCKING"}}, false)
	tool := newMsg("Tool").addMsg("functionDeclarations", functionDecl, true).
		add(pStruct, "googleSearchRetrieval", "codeExecution", "googleSearch", "urlContext", "computerUse", "fileSearch", "googleMaps")
	callingConfig := newMsg("FunctionCallingConfig").addRepeated(pString, "allowedFunctionNames").
		addEnum("mode", &penum{name: "FunctionCallingConfig.Mode", values: []string{"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"}}, false)
	toolConfig := newMsg("ToolConfig").addMsg("functionCallingConfig", callingConfig, false).
		add(pStruct, "retrievalConfig").add(pBool, "includeServerSideToolInvocations")
	safety := newMsg("SafetySetting").
		addEnum("category", &penum{name: "HarmCategory", values: []string{"HARM_CATEGORY_UNSPECIFIED", "HARM_CATEGORY_DEROGATORY",
			"HARM_CATEGORY_TOXICITY", "HARM_CATEGORY_VIOLENCE", "HARM_CATEGORY_SEXUAL", "HARM_CATEGORY_MEDICAL", "HARM_CATEGORY_DANGEROUS",
			"HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_DANGEROUS_CONTENT",
			"HARM_CATEGORY_CIVIC_INTEGRITY"}}, false).
		addEnum("threshold", &penum{name: "SafetySetting.HarmBlockThreshold", values: []string{"HARM_BLOCK_THRESHOLD_UNSPECIFIED",
			"BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"}}, false)
	thinking := newMsg("ThinkingConfig").add(pBool, "includeThoughts").add(pInt, "thinkingBudget").
		addEnum("thinkingLevel", &penum{name: "ThinkingConfig.ThinkingLevel", values: []string{"THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"}}, false)
	genConfig := newMsg("GenerationConfig").
		add(pInt, "candidateCount", "maxOutputTokens", "topK", "seed", "logprobs").
		addRepeated(pString, "stopSequences").
		add(pFloat, "temperature", "topP", "presencePenalty", "frequencyPenalty").
		add(pBool, "responseLogprobs", "enableEnhancedCivicAnswers").
		add(pString, "responseMimeType").
		addMsg("responseSchema", schema, false).
		add(pValue, "responseJsonSchema").
		addEnum("responseModalities", &penum{name: "GenerationConfig.Modality", values: []string{"MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO"}}, true).
		add(pStruct, "speechConfig", "imageConfig").
		addMsg("thinkingConfig", thinking, false).
		addEnum("mediaResolution", &penum{name: "GenerationConfig.MediaResolution", values: []string{"MEDIA_RESOLUTION_UNSPECIFIED",
			"MEDIA_RESOLUTION_LOW", "MEDIA_RESOLUTION_MEDIUM", "MEDIA_RESOLUTION_HIGH"}}, false)

	gemGenerateRequest = newMsg("GenerateContentRequest").
		add(pString, "model", "cachedContent").
		addMsg("contents", content, true).
		addMsg("tools", tool, true).
		addMsg("toolConfig", toolConfig, false).
		addMsg("safetySettings", safety, true).
		addMsg("systemInstruction", content, false).
		addMsg("generationConfig", genConfig, false).
		add(pStrMap, "labels").
		add(pValue, "serviceTier").
		add(pBool, "store")
	gemCountRequest = newMsg("CountTokensRequest").
		addMsg("contents", content, true).
		addMsg("generateContentRequest", gemGenerateRequest, false)
	taskType := &penum{name: "TaskType", values: []string{"TASK_TYPE_UNSPECIFIED", "RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT",
		"SEMANTIC_SIMILARITY", "CLASSIFICATION", "CLUSTERING", "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY"}}
	gemEmbedRequest = newMsg("EmbedContentRequest").
		add(pString, "model", "title").
		addMsg("content", content, false).
		addEnum("taskType", taskType, false).
		add(pInt, "outputDimensionality")
	gemBatchEmbedRequest = newMsg("BatchEmbedContentsRequest").addMsg("requests", gemEmbedRequest, true)
}

// protoErrs collects parse errors with their field paths.
type protoErrs struct {
	fields, descs []string
}

func (pe *protoErrs) add(field, desc string) {
	pe.fields = append(pe.fields, field)
	pe.descs = append(pe.descs, desc)
}

// gemError turns the parse errors into the API's 400 with a BadRequest
// detail; nil if there were none.
func (pe *protoErrs) gemError() *gemError {
	if len(pe.descs) == 0 {
		return nil
	}
	var violations []any
	for i, d := range pe.descs {
		violations = append(violations, obj{{"field", pe.fields[i]}, {"description", d}})
	}
	return &gemError{Code: 400, Message: strings.Join(pe.descs, "\n"), Details: []any{
		obj{{"@type", "type.googleapis.com/google.rpc.BadRequest"}, {"fieldViolations", violations}},
	}}
}

func snakeToCamel(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	var b strings.Builder
	up := false
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

func camelToSnake(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsUpper(r) {
			b.WriteByte('_')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func pjoin(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// repr is a value as the parser's error messages quote it.
func repr(v gjson.Result) string {
	if v.Type == gjson.String {
		return string(jsonBytes(v.Str))
	}
	return compactJSON(v.Raw)
}

// checkMessage parses v as message m at path (snake_case, "" for the root).
func (pe *protoErrs) checkMessage(m *pmsg, v gjson.Result, path string) {
	if !v.IsObject() {
		pe.add(path, fmt.Sprintf("Invalid value at '%s' (type.googleapis.com/%s), %s", path, m.name, repr(v)))
		return
	}
	set := map[string]string{} // oneof group -> member set
	v.ForEach(func(k, val gjson.Result) bool {
		name := snakeToCamel(k.Str)
		f, ok := m.fields[name]
		if !ok {
			at := ""
			if path != "" {
				at = fmt.Sprintf(" at '%s'", path)
			}
			pe.add(path, fmt.Sprintf("Invalid JSON payload received. Unknown name %s%s: Cannot find field.", string(jsonBytes(k.Str)), at))
			return true
		}
		if val.Type == gjson.Null {
			return true
		}
		if f.oneof != "" {
			if prev, dup := set[f.oneof]; dup && prev != name {
				pe.add(path, fmt.Sprintf("Invalid JSON payload received. Oneof field '%s' is already set. Cannot set '%s'", f.oneof, name))
				return true
			}
			set[f.oneof] = name
		}
		fp := pjoin(path, camelToSnake(name))
		if f.repeated && val.IsArray() {
			for i, e := range val.Array() {
				pe.checkValue(f, e, fmt.Sprintf("%s[%d]", fp, i))
			}
			return true
		}
		pe.checkValue(f, val, fp)
		return true
	})
}

func (pe *protoErrs) checkValue(f *pfield, v gjson.Result, path string) {
	if v.Type == gjson.Null {
		return
	}
	bad := func(typ string) {
		pe.add(path, fmt.Sprintf("Invalid value at '%s' (%s), %s", path, typ, repr(v)))
	}
	switch f.kind {
	case pString:
		if v.Type != gjson.String {
			bad("TYPE_STRING")
		}
	case pInt:
		ok := false
		switch v.Type {
		case gjson.Number:
			ok = v.Num == math.Trunc(v.Num)
		case gjson.String:
			_, err := strconv.ParseInt(v.Str, 10, 64)
			ok = err == nil
		}
		if !ok {
			bad("TYPE_INT32")
		}
	case pFloat:
		ok := v.Type == gjson.Number
		if v.Type == gjson.String {
			_, err := strconv.ParseFloat(v.Str, 64)
			ok = err == nil
		}
		if !ok {
			bad("TYPE_FLOAT")
		}
	case pBool:
		if v.Type != gjson.True && v.Type != gjson.False {
			bad("TYPE_BOOL")
		}
	case pBytes:
		if v.Type != gjson.String {
			bad("TYPE_BYTES")
		} else if _, ok := decodeBase64(v.Str); !ok {
			pe.add(path, fmt.Sprintf("Invalid value at '%s' (TYPE_BYTES), Base64 decoding failed for %s", path, repr(v)))
		}
	case pEnum:
		ok := false
		switch v.Type {
		case gjson.String:
			for _, e := range f.enum.values {
				if e == v.Str || (f.enum.fold && strings.EqualFold(e, v.Str)) {
					ok = true
				}
			}
		case gjson.Number:
			ok = v.Num == math.Trunc(v.Num) && v.Num >= 0 && int(v.Num) < len(f.enum.values)
		}
		if !ok {
			bad("type.googleapis.com/" + gemPkg + f.enum.name)
		}
	case pMsg:
		pe.checkMessage(f.msg, v, path)
	case pStruct:
		if !v.IsObject() {
			bad("type.googleapis.com/google.protobuf.Struct")
		}
	case pMap, pStrMap:
		if !v.IsObject() {
			bad("type.googleapis.com/google.protobuf.Map")
			return
		}
		v.ForEach(func(k, e gjson.Result) bool {
			ep := fmt.Sprintf("%s[%s]", path, k.Str)
			if f.kind == pMap {
				pe.checkMessage(f.msg, e, ep)
			} else if e.Type != gjson.String {
				pe.add(ep, fmt.Sprintf("Invalid value at '%s' (TYPE_STRING), %s", ep, repr(e)))
			}
			return true
		})
	}
}

// gemGet looks a field up by its lowerCamel name, accepting snake_case too.
func gemGet(v gjson.Result, camel string) gjson.Result {
	if r := v.Get(gjsonEscape(camel)); r.Exists() {
		return r
	}
	return v.Get(gjsonEscape(camelToSnake(camel)))
}

func gjsonEscape(s string) string {
	r := strings.NewReplacer(".", `\.`, "*", `\*`, "?", `\?`, "|", `\|`, "#", `\#`, "@", `\@`)
	return r.Replace(s)
}
