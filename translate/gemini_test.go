package translate

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"google.golang.org/genai"
)

// Signatures as Gemini sends them: standard padded base64.
var (
	gemSigA = base64.StdEncoding.EncodeToString([]byte("signature-A: opaque bytes \x00\x01\x02 from gemini"))
	gemSigB = base64.StdEncoding.EncodeToString([]byte("signature-B: another opaque blob"))
)

func gemJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// gemSameJSON compares two JSON texts by value.
func gemSameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want invalid JSON: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		gi, _ := json.MarshalIndent(g, "", "  ")
		wi, _ := json.MarshalIndent(w, "", "  ")
		t.Fatalf("JSON differs\n got: %s\nwant: %s", gi, wi)
	}
}

func gemPtrF(f float64) *float64 { return &f }
func gemPtrI(i int) *int         { return &i }

func TestDecodeGeminiRequest(t *testing.T) {
	callSeed := func(ci int, content string) string { return string(rune('0'+ci)) + ":" + content }
	modelTurn := `{"role":"model","parts":[{"text":"Let me check both."},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},{"functionCall":{"name":"get_weather","args":{"city":"Rome"}}},{"functionCall":{"id":"fc-9","name":"get_time","args":{}}}]}`
	id0 := MakeToolCallID("call_", callSeed(1, modelTurn), 0)
	id1 := MakeToolCallID("call_", callSeed(1, modelTurn), 1)

	tests := []struct {
		name  string
		model string
		body  string
		want  Request
	}{{
		name:  "basic",
		model: "models/gemini-2.5-flash",
		body: `{"contents":[{"parts":[{"text":"Hi"}]},{"role":"model","parts":[{"text":"Hello!"}]},
			{"role":"user","parts":[{"text":"What is in these?"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},
			{"fileData":{"mimeType":"image/jpeg","fileUri":"https://example.com/cat.jpg"}},{"fileData":{"fileUri":"https://example.com/dog.webp?s=1"}}]}],
			"systemInstruction":{"parts":[{"text":"Be brief."},{"text":"Use metric."}]},
			"safetySettings":[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_NONE"}],
			"generationConfig":{"maxOutputTokens":256,"temperature":0.2,"topP":0.9,"topK":40,"stopSequences":["END","STOP"],"candidateCount":1,"seed":3}}`,
		want: Request{
			Model:  "gemini-2.5-flash",
			System: "Be brief.\n\nUse metric.",
			Messages: []Message{
				{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "Hi"}}},
				{Role: RoleAssistant, Parts: []Part{{Type: PartText, Text: "Hello!"}}},
				{Role: RoleUser, Parts: []Part{
					{Type: PartText, Text: "What is in these?"},
					{Type: PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="},
					{Type: PartImage, MediaType: "image/jpeg", URL: "https://example.com/cat.jpg"},
					{Type: PartImage, MediaType: "image/webp", URL: "https://example.com/dog.webp?s=1"},
				}},
			},
			MaxTokens: 256, Temperature: gemPtrF(0.2), TopP: gemPtrF(0.9), TopK: gemPtrI(40), Stop: []string{"END", "STOP"},
		},
	}, {
		name:  "snake_case spelling from the REST docs",
		model: "gemini-2.5-pro",
		body: `{"system_instruction":{"parts":[{"text":"You are a cat."}]},
			"contents":[{"role":"user","parts":[{"inline_data":{"mime_type":"image/jpeg","data":"/9j/4AAQ"}},{"text":"Describe"}]}],
			"generation_config":{"max_output_tokens":100,"top_k":3.0,"stop_sequences":["x"],"response_mime_type":"application/json",
			"thinking_config":{"thinking_budget":2048,"include_thoughts":true}}}`,
		want: Request{
			Model:  "gemini-2.5-pro",
			System: "You are a cat.",
			Messages: []Message{{Role: RoleUser, Parts: []Part{
				{Type: PartImage, MediaType: "image/jpeg", Data: "/9j/4AAQ"},
				{Type: PartText, Text: "Describe"},
			}}},
			MaxTokens: 100, TopK: gemPtrI(3), Stop: []string{"x"},
			ResponseFormat: &ResponseFormat{Type: "json_object"},
			Reasoning:      &Reasoning{Effort: "low", Budget: 2048},
		},
	}, {
		name:  "function calling: made-up ids, matching by name and by id, result texts",
		model: "gemini-2.5-flash",
		body: `{"contents":[{"role":"user","parts":[{"text":"Weather in Paris and Rome, and the time?"}]},` + modelTurn + `,
			{"role":"user","parts":[
				{"functionResponse":{"name":"get_weather","response":{"result":"21C sunny"}}},
				{"functionResponse":{"id":"fc-9","name":"get_time","response":{"hour":10,"tz":"CET"}}},
				{"functionResponse":{"name":"get_weather","response":{"output":"18C rain"}}}]},
			{"role":"model","parts":[{"functionCall":{"name":"get_time","args":{"tz":"UTC"}}}]},
			{"role":"function","parts":[{"functionResponse":{"name":"get_time","response":{"error":"clock offline"}}},{"text":"Sorry, also this:"}]}],
			"tools":[{"functionDeclarations":[
				{"name":"get_weather","description":"Weather for a city","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING","nullable":true},"days":{"type":"INTEGER","minimum":1}},"required":["city"],"propertyOrdering":["city","days"]}},
				{"name":"get_time","parametersJsonSchema":{"type":"object","properties":{"tz":{"type":"string"}},"additionalProperties":false}}]}],
			"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}}}`,
		want: Request{
			Model: "gemini-2.5-flash",
			Messages: []Message{
				{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "Weather in Paris and Rome, and the time?"}}},
				{Role: RoleAssistant, Parts: []Part{
					{Type: PartText, Text: "Let me check both."},
					{Type: PartToolCall, ToolCallID: id0, ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
					{Type: PartToolCall, ToolCallID: id1, ToolName: "get_weather", Arguments: `{"city":"Rome"}`},
					{Type: PartToolCall, ToolCallID: "fc-9", ToolName: "get_time", Arguments: `{}`},
				}},
				{Role: RoleTool, Parts: []Part{
					{Type: PartToolResult, ToolCallID: id0, ToolName: "get_weather", Content: []Part{{Type: PartText, Text: "21C sunny"}}},
					{Type: PartToolResult, ToolCallID: "fc-9", ToolName: "get_time", Content: []Part{{Type: PartText, Text: `{"hour":10,"tz":"CET"}`}}},
					{Type: PartToolResult, ToolCallID: id1, ToolName: "get_weather", Content: []Part{{Type: PartText, Text: "18C rain"}}},
				}},
				{Role: RoleAssistant, Parts: []Part{
					{Type: PartToolCall, ToolCallID: MakeToolCallID("call_", callSeed(3, `{"role":"model","parts":[{"functionCall":{"name":"get_time","args":{"tz":"UTC"}}}]}`), 0), ToolName: "get_time", Arguments: `{"tz":"UTC"}`},
				}},
				{Role: RoleTool, Parts: []Part{
					{Type: PartToolResult, ToolCallID: MakeToolCallID("call_", callSeed(3, `{"role":"model","parts":[{"functionCall":{"name":"get_time","args":{"tz":"UTC"}}}]}`), 0), ToolName: "get_time", IsError: true, Content: []Part{{Type: PartText, Text: "clock offline"}}},
				}},
				{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "Sorry, also this:"}}},
			},
			Tools: []Tool{
				{Name: "get_weather", Description: "Weather for a city", Parameters: json.RawMessage(`{"properties":{"city":{"type":["string","null"]},"days":{"minimum":1,"type":"integer"}},"required":["city"],"type":"object"}`)},
				{Name: "get_time", Parameters: json.RawMessage(`{"type":"object","properties":{"tz":{"type":"string"}},"additionalProperties":false}`)},
			},
			ToolChoice: &ToolChoice{Mode: "tool", Name: "get_weather"},
		},
	}, {
		name:  "thoughts and signatures",
		model: "gemini-3-pro-preview",
		body: `{"contents":[{"role":"user","parts":[{"text":"q"}]},
			{"role":"model","parts":[{"text":"planning...","thought":true},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"` + gemSigA + `"},{"functionCall":{"name":"f","args":{"a":2}}}]},
			{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"result":"one"}}},{"functionResponse":{"name":"f","response":{"result":"two"}}}]},
			{"role":"model","parts":[{"text":"Done.","thoughtSignature":"` + gemSigB + `"},{"text":"","thoughtSignature":"` + gemSigA + `"}]},
			{"role":"model","parts":[{"functionCall":{"id":"x","name":"f","args":{}},"thoughtSignature":"skip_thought_signature_validator"}]},
			{"role":"user","parts":[{"functionResponse":{"id":"x","name":"f","response":{"result":"ok"}}}]}],
			"generationConfig":{"thinkingConfig":{"thinkingLevel":"HIGH","includeThoughts":true}}}`,
		want: Request{
			Model: "gemini-3-pro-preview",
			Messages: []Message{
				{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "q"}}},
				{Role: RoleAssistant, Parts: []Part{
					{Type: PartThinking, Text: "planning...", Signature: gemSigA},
					{Type: PartToolCall, ToolCallID: MakeToolCallID("call_", callSeed(1, `{"role":"model","parts":[{"text":"planning...","thought":true},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"`+gemSigA+`"},{"functionCall":{"name":"f","args":{"a":2}}}]}`), 0), ToolName: "f", Arguments: `{"a":1}`},
					{Type: PartToolCall, ToolCallID: MakeToolCallID("call_", callSeed(1, `{"role":"model","parts":[{"text":"planning...","thought":true},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"`+gemSigA+`"},{"functionCall":{"name":"f","args":{"a":2}}}]}`), 1), ToolName: "f", Arguments: `{"a":2}`},
				}},
				{Role: RoleTool, Parts: []Part{
					{Type: PartToolResult, ToolCallID: MakeToolCallID("call_", callSeed(1, `{"role":"model","parts":[{"text":"planning...","thought":true},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"`+gemSigA+`"},{"functionCall":{"name":"f","args":{"a":2}}}]}`), 0), ToolName: "f", Content: []Part{{Type: PartText, Text: "one"}}},
					{Type: PartToolResult, ToolCallID: MakeToolCallID("call_", callSeed(1, `{"role":"model","parts":[{"text":"planning...","thought":true},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"`+gemSigA+`"},{"functionCall":{"name":"f","args":{"a":2}}}]}`), 1), ToolName: "f", Content: []Part{{Type: PartText, Text: "two"}}},
				}},
				{Role: RoleAssistant, Parts: []Part{
					{Type: PartThinking, Signature: gemSigB},
					{Type: PartText, Text: "Done."},
					{Type: PartThinking, Signature: gemSigA},
					{Type: PartToolCall, ToolCallID: "x", ToolName: "f", Arguments: `{}`},
				}},
				{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "x", ToolName: "f", Content: []Part{{Type: PartText, Text: "ok"}}}}},
			},
			Reasoning: &Reasoning{Effort: "high"},
		},
	}, {
		name:  "structured output with a Gemini schema",
		model: "gemini-2.5-flash",
		body: `{"contents":[{"parts":[{"text":"list"}]}],"generationConfig":{"responseMimeType":"application/json",
			"responseSchema":{"type":"ARRAY","items":{"type":"OBJECT","properties":{"n":{"type":"STRING","enum":["A","B"]}},"maxItems":"3"}}}}`,
		want: Request{
			Model:          "gemini-2.5-flash",
			Messages:       []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "list"}}}},
			ResponseFormat: &ResponseFormat{Type: "json_schema", Name: "response", Schema: json.RawMessage(`{"items":{"maxItems":3,"properties":{"n":{"enum":["A","B"],"type":"string"}},"type":"object"},"type":"array"}`)},
		},
	}, {
		name:  "structured output with a JSON schema, tool choice none",
		model: "gemini-2.5-flash",
		body: `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]},{}],"toolConfig":{"functionCallingConfig":{"mode":"NONE"}},
			"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":{"type":"object","properties":{"a":{"type":"string"}}}}}`,
		want: Request{
			Model:          "gemini-2.5-flash",
			Messages:       []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "x"}}}},
			Tools:          []Tool{{Name: "f"}},
			ToolChoice:     &ToolChoice{Mode: "none"},
			ResponseFormat: &ResponseFormat{Type: "json_schema", Name: "response", Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`)},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeGeminiRequest([]byte(tc.body), tc.model)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := gemJSON(t, got), gemJSON(t, &tc.want); g != w {
				t.Fatalf("got  %s\nwant %s", g, w)
			}
		})
	}
}

func TestDecodeGeminiRequestThinkingConfig(t *testing.T) {
	tests := []struct {
		cfg  string
		want *Reasoning
	}{
		{`{"thinkingBudget":0}`, &Reasoning{Off: true}},
		{`{"thinkingBudget":-1,"includeThoughts":true}`, &Reasoning{Effort: "medium"}},
		{`{"thinkingBudget":4096}`, &Reasoning{Effort: "low", Budget: 4096}},
		{`{"thinkingBudget":10000}`, &Reasoning{Effort: "medium", Budget: 10000}},
		{`{"thinkingBudget":32768}`, &Reasoning{Effort: "high", Budget: 32768}},
		{`{"thinkingLevel":"low"}`, &Reasoning{Effort: "low"}},
		{`{"thinkingLevel":"MINIMAL"}`, &Reasoning{Effort: "low"}},
		{`{"thinkingLevel":"medium"}`, &Reasoning{Effort: "medium"}},
		{`{"thinkingLevel":"high"}`, &Reasoning{Effort: "high"}},
		{`{"includeThoughts":true}`, &Reasoning{Effort: "medium"}},
		{`{"includeThoughts":false}`, nil},
		{`{}`, nil},
	}
	for _, tc := range tests {
		body := `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":` + tc.cfg + `}}`
		r, err := DecodeGeminiRequest([]byte(body), "m")
		if err != nil {
			t.Fatalf("%s: %v", tc.cfg, err)
		}
		if !reflect.DeepEqual(r.Reasoning, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.cfg, r.Reasoning, tc.want)
		}
	}
}

func TestDecodeGeminiRequestToolConfig(t *testing.T) {
	tests := []struct {
		cfg  string
		want *ToolChoice
	}{
		{`{"mode":"AUTO"}`, &ToolChoice{Mode: "auto"}},
		{`{"mode":"VALIDATED"}`, &ToolChoice{Mode: "auto"}},
		{`{"mode":"NONE"}`, &ToolChoice{Mode: "none"}},
		{`{"mode":"ANY"}`, &ToolChoice{Mode: "required"}},
		{`{"mode":"ANY","allowedFunctionNames":["a","b"]}`, &ToolChoice{Mode: "required"}},
		{`{"mode":"ANY","allowed_function_names":["b"]}`, &ToolChoice{Mode: "tool", Name: "b"}},
		{`{"mode":"MODE_UNSPECIFIED"}`, nil},
	}
	for _, tc := range tests {
		body := `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"a"},{"name":"b"}]}],"tool_config":{"function_calling_config":` + tc.cfg + `}}`
		r, err := DecodeGeminiRequest([]byte(body), "m")
		if err != nil {
			t.Fatalf("%s: %v", tc.cfg, err)
		}
		if !reflect.DeepEqual(r.ToolChoice, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.cfg, r.ToolChoice, tc.want)
		}
	}
}

func TestDecodeGeminiRequestErrors(t *testing.T) {
	tests := []struct{ name, body, msg string }{
		{"not JSON", `{"contents":`, "not valid JSON"},
		{"not an object", `[1,2]`, "must be a JSON object"},
		{"no contents", `{"generationConfig":{}}`, "contents is required"},
		{"empty contents", `{"contents":[]}`, "at least one"},
		{"contents not array", `{"contents":{"parts":[]}}`, "must be an array"},
		{"content not object", `{"contents":["hi"]}`, "must be an object"},
		{"parts missing", `{"contents":[{"role":"user"}]}`, "parts must be an array"},
		{"bad role", `{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`, `"user" or "model"`},
		{"google search tool", `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"googleSearch":{}}]}`, "googleSearch tool is not supported"},
		{"code execution tool", `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"code_execution":{}}]}`, "code_execution tool is not supported"},
		{"pdf file", `{"contents":[{"parts":[{"fileData":{"mimeType":"application/pdf","fileUri":"https://x/y.pdf"}}]}]}`, "images only"},
		{"audio inline", `{"contents":[{"parts":[{"inlineData":{"mimeType":"audio/wav","data":"UklGR"}}]}]}`, "images only"},
		{"unknown file type", `{"contents":[{"parts":[{"fileData":{"fileUri":"https://generativelanguage.googleapis.com/v1beta/files/abc"}}]}]}`, "images only"},
		{"orphan functionResponse", `{"contents":[{"parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`, "answers no functionCall"},
		{"functionResponse answered twice", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"parts":[{"functionResponse":{"name":"f","response":{}}},{"functionResponse":{"name":"f","response":{}}}]}]}`, "answers no functionCall"},
		{"functionCall in user turn", `{"contents":[{"parts":[{"functionCall":{"name":"f"}}]}]}`, "belongs in a model content"},
		{"functionResponse in model turn", `{"contents":[{"role":"model","parts":[{"functionResponse":{"name":"f"}}]}]}`, "belongs in a user content"},
		{"args not object", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":[1]}}]}]}`, "args must be an object"},
		{"call without name", `{"contents":[{"role":"model","parts":[{"functionCall":{"args":{}}}]}]}`, "name is required"},
		{"executable code", `{"contents":[{"role":"model","parts":[{"executableCode":{"language":"PYTHON","code":"1"}}]}]}`, "not supported"},
		{"cached content", `{"contents":[{"parts":[{"text":"x"}]}],"cachedContent":"cachedContents/abc"}`, "cachedContent"},
		{"two candidates", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"candidateCount":2}}`, "candidateCount"},
		{"max tokens not a number", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"maxOutputTokens":"lots"}}`, "must be a number"},
		{"temperature object", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"temperature":{}}}`, "must be a number"},
		{"bad thinking level", `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"extreme"}}}`, "thinkingLevel"},
		{"bad mode", `{"contents":[{"parts":[{"text":"x"}]}],"toolConfig":{"functionCallingConfig":{"mode":"SOMETIMES"}}}`, "mode"},
		{"declaration without name", `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"description":"d"}]}]}`, "no name"},
		{"only empty content", `{"contents":[{"parts":[{"text":""}]}]}`, "at least one"},
		{"system with image", `{"contents":[{"parts":[{"text":"x"}]}],"systemInstruction":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA"}}]}}`, "only hold text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeGeminiRequest([]byte(tc.body), "m")
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("want a *RequestError, got %v", err)
			}
			if !strings.Contains(re.Message, tc.msg) {
				t.Fatalf("message %q does not mention %q", re.Message, tc.msg)
			}
		})
	}
}

func TestEncodeGeminiRequest(t *testing.T) {
	weatherSchema := json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}`)
	r := &Request{
		Model:  "gemini-2.5-flash",
		System: "Be brief.",
		Messages: []Message{
			{Role: RoleUser, Parts: []Part{
				{Type: PartText, Text: "Weather in Paris and Rome? \"quoted\" <b>"},
				{Type: PartImage, URL: "https://example.com/a/map.PNG?x=1"},
				{Type: PartImage, URL: "https://example.com/photo"},
				{Type: PartImage, URL: "data:image/gif;base64,R0lGODlh"},
				{Type: PartImage, MediaType: "image/webp", Data: "UklGRg=="},
			}},
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "Second user message."}}},
			{Role: RoleAssistant, Parts: []Part{
				{Type: PartThinking, Text: "I need the weather.", Signature: gemSigA},
				{Type: PartText, Text: "Checking."},
				{Type: PartToolCall, ToolCallID: "call_1", ToolName: "get_weather", Arguments: "{\n  \"city\": \"Paris\"\n}"},
				{Type: PartToolCall, ToolCallID: "call_2", ToolName: "get_weather", Arguments: `{"city":"Rome"}`},
			}},
			{Role: RoleTool, Parts: []Part{
				{Type: PartToolResult, ToolCallID: "call_1", Content: []Part{{Type: PartText, Text: `{"temp": 21}`}}},
				{Type: PartToolResult, ToolCallID: "call_2", Content: []Part{{Type: PartText, Text: "sunny"}, {Type: PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="}}},
			}},
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "Thanks. And tomorrow?"}}},
			{Role: RoleAssistant, Parts: []Part{
				{Type: PartThinking, Redacted: true, Data: "opaque"},
				{Type: PartThinking, Signature: gemSigB},
				{Type: PartToolCall, ToolCallID: "call_3", ToolName: "get_weather", Arguments: ``},
				{Type: PartThinking, Signature: gemSigA}, // nothing follows: dropped
			}},
			{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "call_3", IsError: true, Content: []Part{{Type: PartText, Text: "service down"}}}}},
		},
		Tools: []Tool{
			{Name: "get_weather", Description: "Weather for a city", Parameters: weatherSchema},
			{Name: "noop"},
		},
		ToolChoice:     &ToolChoice{Mode: "tool", Name: "get_weather"},
		MaxTokens:      1000,
		Temperature:    gemPtrF(0.5),
		TopP:           gemPtrF(0.9),
		TopK:           gemPtrI(20),
		Stop:           []string{"STOP"},
		ResponseFormat: &ResponseFormat{Type: "json_schema", Name: "out", Schema: json.RawMessage(`{"type":"object"}`)},
		Reasoning:      &Reasoning{Effort: "high"},
		User:           "u-1",
	}
	got, err := EncodeGeminiRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"contents":[
		{"role":"user","parts":[
			{"text":"Weather in Paris and Rome? \"quoted\" <b>"},
			{"fileData":{"mimeType":"image/png","fileUri":"https://example.com/a/map.PNG?x=1"}},
			{"fileData":{"mimeType":"image/jpeg","fileUri":"https://example.com/photo"}},
			{"inlineData":{"mimeType":"image/gif","data":"R0lGODlh"}},
			{"inlineData":{"mimeType":"image/webp","data":"UklGRg=="}},
			{"text":"Second user message."}]},
		{"role":"model","parts":[
			{"text":"Checking.","thoughtSignature":"` + gemSigA + `"},
			{"functionCall":{"id":"call_1","name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"skip_thought_signature_validator"},
			{"functionCall":{"id":"call_2","name":"get_weather","args":{"city":"Rome"}}}]},
		{"role":"user","parts":[
			{"functionResponse":{"id":"call_1","name":"get_weather","response":{"temp":21}}},
			{"functionResponse":{"id":"call_2","name":"get_weather","response":{"result":"sunny"}}},
			{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},
			{"text":"Thanks. And tomorrow?"}]},
		{"role":"model","parts":[
			{"functionCall":{"id":"call_3","name":"get_weather","args":{}},"thoughtSignature":"` + gemSigB + `"}]},
		{"role":"user","parts":[
			{"functionResponse":{"id":"call_3","name":"get_weather","response":{"error":"service down"}}}]}],
		"systemInstruction":{"parts":[{"text":"Be brief."}]},
		"tools":[{"functionDeclarations":[
			{"name":"get_weather","description":"Weather for a city","parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}},
			{"name":"noop"}]}],
		"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}},
		"generationConfig":{"maxOutputTokens":1000,"temperature":0.5,"topP":0.9,"topK":20,"stopSequences":["STOP"],
			"responseMimeType":"application/json","responseJsonSchema":{"type":"object"},
			"thinkingConfig":{"thinkingBudget":24576,"includeThoughts":true}}}`
	gemSameJSON(t, got, []byte(want))
	if bytes.Contains(got, []byte(`"model"`+":")) {
		t.Errorf("the body must not carry the model: %s", got)
	}
	if bytes.Contains(got, []byte("I need the weather")) {
		t.Errorf("thought text must not be sent back: %s", got)
	}
}

func TestEncodeGeminiRequestOptions(t *testing.T) {
	base := func() *Request {
		return &Request{Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "x"}}}}, Tools: []Tool{{Name: "f"}}}
	}
	tests := []struct {
		name string
		set  func(r *Request)
		path string
		want string
	}{
		{"auto", func(r *Request) { r.ToolChoice = &ToolChoice{Mode: "auto"} }, "toolConfig", `{"functionCallingConfig":{"mode":"AUTO"}}`},
		{"none", func(r *Request) { r.ToolChoice = &ToolChoice{Mode: "none"} }, "toolConfig", `{"functionCallingConfig":{"mode":"NONE"}}`},
		{"required", func(r *Request) { r.ToolChoice = &ToolChoice{Mode: "required"} }, "toolConfig", `{"functionCallingConfig":{"mode":"ANY"}}`},
		{"json object", func(r *Request) { r.ResponseFormat = &ResponseFormat{Type: "json_object"} }, "generationConfig", `{"responseMimeType":"application/json"}`},
		{"text format", func(r *Request) { r.ResponseFormat = &ResponseFormat{Type: "text"} }, "generationConfig", ``},
		{"reasoning off", func(r *Request) { r.Reasoning = &Reasoning{Off: true} }, "generationConfig", `{"thinkingConfig":{"thinkingBudget":0}}`},
		{"reasoning budget", func(r *Request) { r.Reasoning = &Reasoning{Budget: 5000} }, "generationConfig", `{"thinkingConfig":{"thinkingBudget":5000,"includeThoughts":true}}`},
		{"reasoning low", func(r *Request) { r.Reasoning = &Reasoning{Effort: "low"} }, "generationConfig", `{"thinkingConfig":{"thinkingBudget":4096,"includeThoughts":true}}`},
		{"nothing", func(r *Request) {}, "generationConfig", ``},
		{"no tools, no tool config", func(r *Request) { r.Tools = nil; r.ToolChoice = &ToolChoice{Mode: "required"} }, "toolConfig", ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.set(r)
			b, err := EncodeGeminiRequest(r)
			if err != nil {
				t.Fatal(err)
			}
			v := gjson.GetBytes(b, tc.path)
			if tc.want == "" {
				if v.Exists() {
					t.Fatalf("%s should be absent: %s", tc.path, b)
				}
				return
			}
			gemSameJSON(t, []byte(v.Raw), []byte(tc.want))
		})
	}
}

func TestEncodeGeminiRequestErrors(t *testing.T) {
	tests := []struct {
		name string
		msgs []Message
	}{
		{"args not JSON", []Message{{Role: RoleAssistant, Parts: []Part{{Type: PartToolCall, ToolCallID: "c", ToolName: "f", Arguments: `{"a":`}}}}},
		{"args not an object", []Message{{Role: RoleAssistant, Parts: []Part{{Type: PartToolCall, ToolCallID: "c", ToolName: "f", Arguments: `[1]`}}}}},
		{"result answers nothing", []Message{{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "nope", Content: []Part{{Type: PartText, Text: "x"}}}}}}},
		{"ftp image", []Message{{Role: RoleUser, Parts: []Part{{Type: PartImage, URL: "ftp://x/y.png"}}}}},
		{"non-base64 data URL", []Message{{Role: RoleUser, Parts: []Part{{Type: PartImage, URL: "data:image/png,rawbytes"}}}}},
		{"nothing to send", []Message{{Role: RoleAssistant, Parts: []Part{{Type: PartThinking, Text: "hmm"}}}}},
		{"no messages", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := EncodeGeminiRequest(&Request{Messages: tc.msgs})
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("want a *RequestError, got %v", err)
			}
		})
	}
}

// The encoded body must fit the request types of Google's own SDK.
func TestEncodeGeminiRequestFitsSDKTypes(t *testing.T) {
	r := &Request{
		System: "sys",
		Messages: []Message{
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hi"}, {Type: PartImage, URL: "https://x/y.jpg"}, {Type: PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="}}},
			{Role: RoleAssistant, Parts: []Part{{Type: PartThinking, Signature: gemSigA}, {Type: PartToolCall, ToolCallID: "c1", ToolName: "f", Arguments: `{"a":[1,2]}`}}},
			{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: "c1", Content: []Part{{Type: PartText, Text: "ok"}}}}},
		},
		Tools:          []Tool{{Name: "f", Description: "d", Parameters: json.RawMessage(`{"type":"object","properties":{"a":{"type":"array"}}}`)}},
		ToolChoice:     &ToolChoice{Mode: "tool", Name: "f"},
		MaxTokens:      10,
		Temperature:    gemPtrF(1),
		TopP:           gemPtrF(0.5),
		TopK:           gemPtrI(4),
		Stop:           []string{"x"},
		ResponseFormat: &ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{"type":"string"}`)},
		Reasoning:      &Reasoning{Budget: 1024},
	}
	b, err := EncodeGeminiRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		Contents          []*genai.Content        `json:"contents"`
		SystemInstruction *genai.Content          `json:"systemInstruction"`
		Tools             []*genai.Tool           `json:"tools"`
		ToolConfig        *genai.ToolConfig       `json:"toolConfig"`
		GenerationConfig  *genai.GenerationConfig `json:"generationConfig"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if got := req.Contents[1].Parts[0]; got.FunctionCall == nil || got.FunctionCall.Args["a"] == nil || string(got.ThoughtSignature) != "signature-A: opaque bytes \x00\x01\x02 from gemini" {
		t.Errorf("function call part: %+v", got)
	}
	if got := req.Contents[2].Parts[0].FunctionResponse; got == nil || got.Name != "f" || got.ID != "c1" || got.Response["result"] != "ok" {
		t.Errorf("function response: %+v", got)
	}
	if g := req.GenerationConfig; g.MaxOutputTokens != 10 || *g.ThinkingConfig.ThinkingBudget != 1024 || !g.ThinkingConfig.IncludeThoughts || g.ResponseMIMEType != "application/json" {
		t.Errorf("generation config: %+v", g)
	}
	if req.ToolConfig.FunctionCallingConfig.Mode != genai.FunctionCallingConfigModeAny {
		t.Errorf("tool config: %+v", req.ToolConfig.FunctionCallingConfig)
	}
}

// A canonical request survives Gemini encoding and decoding, apart from
// what Gemini cannot carry (thought text, tool-call ids are kept).
func TestGeminiRequestRoundTrip(t *testing.T) {
	r := &Request{
		Model:  "gemini-2.5-flash",
		System: "sys",
		Messages: []Message{
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hi"}, {Type: PartImage, MediaType: "image/png", URL: "https://x/y.png"}}},
			{Role: RoleAssistant, Parts: []Part{{Type: PartThinking, Signature: gemSigA}, {Type: PartText, Text: "calling"}, {Type: PartToolCall, ToolCallID: "c1", ToolName: "f", Arguments: `{"a":1}`}, {Type: PartToolCall, ToolCallID: "c2", ToolName: "g", Arguments: `{}`}}},
			{Role: RoleTool, Parts: []Part{
				{Type: PartToolResult, ToolCallID: "c1", ToolName: "f", Content: []Part{{Type: PartText, Text: "one"}}},
				{Type: PartToolResult, ToolCallID: "c2", ToolName: "g", IsError: true, Content: []Part{{Type: PartText, Text: "bad"}}},
			}},
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "thanks"}}},
		},
		Tools:          []Tool{{Name: "f", Description: "F", Parameters: json.RawMessage(`{"type":"object"}`)}, {Name: "g"}},
		ToolChoice:     &ToolChoice{Mode: "required"},
		MaxTokens:      100,
		Temperature:    gemPtrF(0.7),
		TopK:           gemPtrI(5),
		Stop:           []string{"a", "b"},
		ResponseFormat: &ResponseFormat{Type: "json_schema", Name: "response", Schema: json.RawMessage(`{"type":"object"}`)},
		Reasoning:      &Reasoning{Effort: "medium", Budget: BudgetMedium},
	}
	b, err := EncodeGeminiRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeGeminiRequest(b, "gemini-2.5-flash")
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	// The user turn after the tool results merges into the same Gemini
	// content, and comes back as its own message after them.
	if g, w := gemJSON(t, back), gemJSON(t, r); g != w {
		t.Fatalf("round trip changed the request\n got %s\nwant %s\nvia %s", g, w, b)
	}
}

func TestDecodeGeminiResponse(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Response
	}{{
		name: "text with thoughts",
		body: `{"candidates":[{"content":{"parts":[{"text":"Thinking about it.","thought":true},{"text":"Hello there!","thoughtSignature":"` + gemSigA + `"}],"role":"model"},"finishReason":"STOP","index":0}],
			"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":8,"totalTokenCount":47,"cachedContentTokenCount":4,"thoughtsTokenCount":29},
			"modelVersion":"gemini-2.5-flash","responseId":"BmcPafuSOIej2roP08fp6AI"}`,
		want: Response{ID: "BmcPafuSOIej2roP08fp6AI", Model: "gemini-2.5-flash", StopReason: StopEnd,
			Parts: []Part{{Type: PartThinking, Text: "Thinking about it.", Signature: gemSigA}, {Type: PartText, Text: "Hello there!"}},
			Usage: Usage{Input: 10, Output: 37, Cached: 4, Reasoning: 29}},
	}, {
		name: "function calls",
		body: `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"city":"shanghai"}},"thoughtSignature":"` + gemSigB + `"},{"functionCall":{"id":"given","name":"get_time"}}],"role":"model"},"finishReason":"STOP","index":0,"finishMessage":"Model generated function call(s)."}],
			"usageMetadata":{"promptTokenCount":50,"candidatesTokenCount":17,"totalTokenCount":119,"thoughtsTokenCount":52},"modelVersion":"gemini-2.5-flash","responseId":"J3YPafGkDK3H1e8Pv57FgAQ"}`,
		want: Response{ID: "J3YPafGkDK3H1e8Pv57FgAQ", Model: "gemini-2.5-flash", StopReason: StopToolUse,
			Parts: []Part{
				{Type: PartThinking, Signature: gemSigB},
				{Type: PartToolCall, ToolCallID: MakeToolCallID("call_", "J3YPafGkDK3H1e8Pv57FgAQ", 0), ToolName: "get_weather", Arguments: `{"city":"shanghai"}`},
				{Type: PartToolCall, ToolCallID: "given", ToolName: "get_time", Arguments: `{}`},
			},
			Usage: Usage{Input: 50, Output: 69, Reasoning: 52}},
	}, {
		name: "max tokens, thoughts only",
		body: `{"candidates":[{"content":{"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":5,"totalTokenCount":105,"thoughtsTokenCount":100},"modelVersion":"gemini-2.5-pro","responseId":"r1"}`,
		want: Response{ID: "r1", Model: "gemini-2.5-pro", StopReason: StopMaxTokens, Parts: []Part{}, Usage: Usage{Input: 5, Output: 100, Reasoning: 100}},
	}, {
		name: "safety",
		body: `{"candidates":[{"content":{"parts":[{"text":"partial"}],"role":"model"},"finishReason":"SAFETY","index":0,"safetyRatings":[{"category":"HARM_CATEGORY_HARASSMENT","probability":"HIGH","blocked":true}]}],"responseId":"r2"}`,
		want: Response{ID: "r2", StopReason: StopContentFilter, Parts: []Part{{Type: PartText, Text: "partial"}}},
	}, {
		name: "prompt blocked",
		body: `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7},"modelVersion":"gemini-2.5-flash","responseId":"r3"}`,
		want: Response{ID: "r3", Model: "gemini-2.5-flash", StopReason: StopContentFilter, Parts: []Part{}, Usage: Usage{Input: 7}},
	}, {
		name: "malformed function call",
		body: `{"candidates":[{"content":{},"finishReason":"MALFORMED_FUNCTION_CALL","index":0}],"responseId":"r4"}`,
		want: Response{ID: "r4", StopReason: StopEnd, Parts: []Part{}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeGeminiResponse([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := gemJSON(t, got), gemJSON(t, &tc.want); g != w {
				t.Fatalf("got  %s\nwant %s", g, w)
			}
		})
	}
	for _, fr := range []string{"RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"} {
		r, err := DecodeGeminiResponse([]byte(`{"candidates":[{"finishReason":"` + fr + `"}]}`))
		if err != nil || r.StopReason != StopContentFilter {
			t.Errorf("%s: %v %v", fr, r, err)
		}
	}
	if r, err := DecodeGeminiResponse([]byte(`{"candidates":[{"finishReason":"OTHER"}]}`)); err != nil || r.StopReason != StopEnd {
		t.Errorf("OTHER: %v %v", r, err)
	}
	for _, bad := range []string{`nope`, `[]`, `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`} {
		if _, err := DecodeGeminiResponse([]byte(bad)); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

// genaiServer serves body to Google's Go SDK and records what it sent.
func genaiServer(t *testing.T, handler http.HandlerFunc) *genai.Client {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      "test-key",
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Google's SDK parses EncodeGeminiResponse, and what it sends decodes.
func TestEncodeGeminiResponseGenai(t *testing.T) {
	resp := &Response{
		ID:    "resp-1",
		Model: "gemini-2.5-flash",
		Parts: []Part{
			{Type: PartThinking, Text: "Let me think.", Signature: gemSigA},
			{Type: PartText, Text: "Paris is sunny."},
			{Type: PartThinking, Redacted: true, Data: "xx"},
			{Type: PartThinking, Signature: base64.RawURLEncoding.EncodeToString([]byte("url-safe sig??>>"))},
			{Type: PartToolCall, ToolCallID: "call_1", ToolName: "get_weather", Arguments: `{"city": "Rome"}`},
			{Type: PartToolCall, ToolCallID: "call_2", ToolName: "broken", Arguments: `{"city": `},
		},
		StopReason: StopToolUse,
		Usage:      Usage{Input: 100, Output: 60, Cached: 20, Reasoning: 40},
	}
	var sent []byte
	var path string
	c := genaiServer(t, func(w http.ResponseWriter, r *http.Request) {
		sent, _ = io.ReadAll(r.Body)
		path = r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		w.Write(EncodeGeminiResponse(resp))
	})
	budget := int32(2048)
	out, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-flash",
		[]*genai.Content{
			genai.NewContentFromText("What's the weather?", genai.RoleUser),
			{Role: genai.RoleModel, Parts: []*genai.Part{{FunctionCall: &genai.FunctionCall{Name: "get_weather", Args: map[string]any{"city": "Paris"}}, ThoughtSignature: []byte("sig")}}},
			{Role: genai.RoleUser, Parts: []*genai.Part{{FunctionResponse: &genai.FunctionResponse{Name: "get_weather", Response: map[string]any{"output": "sunny"}}}}},
		},
		&genai.GenerateContentConfig{
			SystemInstruction: genai.NewContentFromText("Be brief.", genai.RoleUser),
			MaxOutputTokens:   500,
			Temperature:       genai.Ptr[float32](0.25),
			StopSequences:     []string{"END"},
			ThinkingConfig:    &genai.ThinkingConfig{ThinkingBudget: &budget, IncludeThoughts: true},
			Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{
				Name: "get_weather", Description: "Weather",
				Parameters: &genai.Schema{Type: genai.TypeObject, Properties: map[string]*genai.Schema{"city": {Type: genai.TypeString}}, Required: []string{"city"}},
			}}}},
			ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeAuto}},
		})
	if err != nil {
		t.Fatal(err)
	}
	// The response, as the SDK sees it.
	parts := out.Candidates[0].Content.Parts
	if len(parts) != 4 {
		t.Fatalf("parts: %s", gemJSON(t, parts))
	}
	if !parts[0].Thought || parts[0].Text != "Let me think." || parts[0].ThoughtSignature != nil {
		t.Errorf("thought part: %+v", parts[0])
	}
	if parts[1].Text != "Paris is sunny." || string(parts[1].ThoughtSignature) != "signature-A: opaque bytes \x00\x01\x02 from gemini" {
		t.Errorf("text part: %+v", parts[1])
	}
	if fc := parts[2].FunctionCall; fc == nil || fc.ID != "call_1" || fc.Name != "get_weather" || fc.Args["city"] != "Rome" || string(parts[2].ThoughtSignature) != "url-safe sig??>>" {
		t.Errorf("call part: %+v %+v", parts[2], fc)
	}
	if fc := parts[3].FunctionCall; fc == nil || fc.Name != "broken" || len(fc.Args) != 0 {
		t.Errorf("broken call part: %+v", fc)
	}
	if out.Text() != "Paris is sunny." || len(out.FunctionCalls()) != 2 {
		t.Errorf("Text() %q, FunctionCalls %d", out.Text(), len(out.FunctionCalls()))
	}
	if out.Candidates[0].FinishReason != genai.FinishReasonStop || out.ResponseID != "resp-1" || out.ModelVersion != "gemini-2.5-flash" {
		t.Errorf("finish %q id %q model %q", out.Candidates[0].FinishReason, out.ResponseID, out.ModelVersion)
	}
	u := out.UsageMetadata
	if u.PromptTokenCount != 100 || u.CandidatesTokenCount != 20 || u.ThoughtsTokenCount != 40 || u.TotalTokenCount != 160 || u.CachedContentTokenCount != 20 {
		t.Errorf("usage: %+v", u)
	}
	back, err := DecodeGeminiResponse(EncodeGeminiResponse(resp))
	if err != nil || back.Usage != resp.Usage || back.StopReason != StopToolUse {
		t.Errorf("decode of the encoding: %+v %v", back, err)
	}

	// What the SDK sent decodes into the canonical request.
	if !strings.HasSuffix(path, "/models/gemini-2.5-flash:generateContent") {
		t.Errorf("path %q", path)
	}
	req, err := DecodeGeminiRequest(sent, "gemini-2.5-flash")
	if err != nil {
		t.Fatalf("%v\n%s", err, sent)
	}
	if req.System != "Be brief." || req.MaxTokens != 500 || *req.Temperature != 0.25 || req.Stop[0] != "END" ||
		req.Reasoning == nil || req.Reasoning.Budget != 2048 || req.ToolChoice.Mode != "auto" {
		t.Errorf("request: %s", gemJSON(t, req))
	}
	if len(req.Tools) != 1 || string(req.Tools[0].Parameters) != `{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}` {
		t.Errorf("tools: %s", gemJSON(t, req.Tools))
	}
	if len(req.Messages) != 3 || req.Messages[1].Parts[0].Signature != base64.StdEncoding.EncodeToString([]byte("sig")) ||
		req.Messages[2].Role != RoleTool || req.Messages[2].Parts[0].ToolCallID != req.Messages[1].Parts[1].ToolCallID ||
		req.Messages[2].Parts[0].Content[0].Text != "sunny" {
		t.Errorf("messages: %s", gemJSON(t, req.Messages))
	}
}

func TestEncodeGeminiResponseShapes(t *testing.T) {
	// An empty answer has a content without parts, as Gemini sends it.
	b := EncodeGeminiResponse(&Response{StopReason: StopContentFilter})
	gemSameJSON(t, b, []byte(`{"candidates":[{"content":{"role":"model"},"finishReason":"SAFETY","index":0}],"usageMetadata":{"promptTokenCount":0,"candidatesTokenCount":0,"totalTokenCount":0}}`))
	// A signature with nothing after it rides on an empty text part.
	b = EncodeGeminiResponse(&Response{StopReason: StopMaxTokens, Parts: []Part{{Type: PartThinking, Text: "hmm", Signature: gemSigA}}, Usage: Usage{Input: 1, Output: 5, Reasoning: 5}})
	gemSameJSON(t, b, []byte(`{"candidates":[{"content":{"parts":[{"text":"hmm","thought":true},{"text":"","thoughtSignature":"`+gemSigA+`"}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":0,"totalTokenCount":6,"thoughtsTokenCount":5}}`))
	// A signature that is not base64 is dropped rather than break the SDK.
	b = EncodeGeminiResponse(&Response{Parts: []Part{{Type: PartThinking, Signature: "not base64!"}, {Type: PartText, Text: "x"}}})
	if bytes.Contains(b, []byte("thoughtSignature")) {
		t.Errorf("invalid signature kept: %s", b)
	}
}

// gemReadStream runs a recorded stream through the decoder.
func gemReadStream(t *testing.T, raw []byte) ([]StreamEvent, StreamDecoder) {
	t.Helper()
	rd := NewSSEReader(bytes.NewReader(raw))
	dec := NewGeminiStreamDecoder()
	var evs []StreamEvent
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		evs, err = dec.Decode(evs, ev)
		if err != nil {
			t.Fatal(err)
		}
	}
	return evs, dec
}

func gemRecorded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "streams", "gemini", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGeminiStreamDecoderRecorded(t *testing.T) {
	toolID := MakeToolCallID("call_", "4xAqaZL1Dqe41e8Pw8ebgQk", 0)
	sigTool := gjson.GetBytes(bytes.TrimPrefix(bytes.SplitN(gemRecorded(t, "tool.sse"), []byte("\r\n"), 2)[0], []byte("data: ")), "candidates.0.content.parts.0.thoughtSignature").String()
	sigReason := ""
	for _, line := range bytes.Split(gemRecorded(t, "reasoning.sse"), []byte("\r\n")) {
		if s := gjson.GetBytes(bytes.TrimPrefix(line, []byte("data: ")), "candidates.0.content.parts.0.thoughtSignature").String(); s != "" {
			sigReason = s
		}
	}
	if sigTool == "" || sigReason == "" {
		t.Fatal("recordings lost their signatures")
	}
	tests := map[string][]StreamEvent{
		"text.sse": {
			{Type: EvStart, ID: "zQkqacWcLp6m1e8PyJnX0AQ", Model: "gemini-2.5-flash"},
			{Type: EvText, Text: "The"},
			{Type: EvText, Text: " capital of France is **Paris**. It sits on the Seine in the north of the country"},
			{Type: EvText, Text: " and has been the nation's political and cultural centre for centuries, home to landmarks such as"},
			{Type: EvText, Text: " the Eiffel Tower, the Louvre and Notre-Dame.\n"},
			{Type: EvUsage, Usage: Usage{Input: 9, Output: 462, Reasoning: 412}},
			{Type: EvFinish, StopReason: StopEnd},
		},
		"tool.sse": {
			{Type: EvStart, ID: "4xAqaZL1Dqe41e8Pw8ebgQk", Model: "gemini-2.5-flash"},
			{Type: EvSignature, Text: sigTool},
			{Type: EvText, Text: "I'll look up the current weather in Paris for you."},
			{Type: EvToolStart, Index: 0, ToolCallID: toolID, ToolName: "get_weather"},
			{Type: EvToolArgs, Index: 0, Args: `{"city": "Paris","unit": "celsius"}`},
			{Type: EvUsage, Usage: Usage{Input: 74, Output: 127, Reasoning: 96}},
			{Type: EvFinish, StopReason: StopToolUse},
		},
		"reasoning.sse": {
			{Type: EvStart, ID: "Ty0qaYTtC5_Yz7IPv7KzsQ4", Model: "gemini-2.5-flash"},
			{Type: EvThinking, Text: "**Calculating the product**\n\nI'm multiplying 17 by 23. Breaking it down: 17 times 20 is 340 and 17 times 3 is 51.\n\n\n"},
			{Type: EvThinking, Text: "**Confirming the sum**\n\nAdding 340 and 51 gives 391. A quick check with 23 times 17 agrees, so the answer is 391.\n\n\n"},
			{Type: EvSignature, Text: sigReason},
			{Type: EvText, Text: "17 × 23 = **391**."},
			{Type: EvText, Text: "\n\n(17 × 20 = 340, 17 × 3 = 51, and 340 + 51 = 391.)"},
			{Type: EvUsage, Usage: Usage{Input: 21, Output: 285, Reasoning: 247}},
			{Type: EvFinish, StopReason: StopEnd},
		},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			raw := gemRecorded(t, name)
			if !bytes.Contains(raw, []byte("}\r\n\r\ndata: {")) || !bytes.HasSuffix(raw, []byte("}\r\n\r\n")) {
				t.Fatal("recording is not framed like Gemini (CRLF)")
			}
			got, dec := gemReadStream(t, raw)
			if !dec.Finished() {
				t.Error("not finished")
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %s\nwant %s", gemJSON(t, got), gemJSON(t, want))
			}
		})
	}
}

func TestGeminiStreamDecoderEdges(t *testing.T) {
	decode := func(chunks ...string) ([]StreamEvent, StreamDecoder) {
		var raw bytes.Buffer
		for _, c := range chunks {
			raw.WriteString("data: " + c + "\r\n\r\n")
		}
		return gemReadStream(t, raw.Bytes())
	}
	// An error chunk ends the stream.
	evs, dec := decode(`{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}],"responseId":"a"}`,
		`{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
		`{"candidates":[{"content":{"parts":[{"text":"ignored"}],"role":"model"},"index":0}]}`)
	want := []StreamEvent{{Type: EvStart, ID: "a"}, {Type: EvText, Text: "Hi"}, {Type: EvError, Text: "The model is overloaded. Please try again later.", Status: 503}}
	if !reflect.DeepEqual(evs, want) || !dec.Finished() {
		t.Errorf("error: %s", gemJSON(t, evs))
	}
	// A blocked prompt: no candidates.
	evs, dec = decode(`{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"modelVersion":"gemini-2.5-flash","responseId":"b"}`)
	want = []StreamEvent{{Type: EvStart, ID: "b", Model: "gemini-2.5-flash"}, {Type: EvUsage, Usage: Usage{Input: 8}}, {Type: EvFinish, StopReason: StopContentFilter}}
	if !reflect.DeepEqual(evs, want) || !dec.Finished() {
		t.Errorf("blocked: %s", gemJSON(t, evs))
	}
	// A cut stream is not finished; parallel calls are numbered.
	evs, dec = decode(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"a","args":{"x":1}}},{"functionCall":{"id":"id-b","name":"b"}}],"role":"model"},"index":0}],"responseId":"c"}`)
	if dec.Finished() || len(evs) != 5 || evs[3].Index != 1 || evs[3].ToolCallID != "id-b" || evs[4].Args != "{}" || evs[1].ToolCallID != MakeToolCallID("call_", "c", 0) {
		t.Errorf("parallel: finished=%v %s", dec.Finished(), gemJSON(t, evs))
	}
	// MAX_TOKENS after a call stays MAX_TOKENS; a thought part's own signature follows its text.
	evs, _ = decode(`{"candidates":[{"content":{"parts":[{"text":"t","thought":true,"thoughtSignature":"` + gemSigA + `"},{"functionCall":{"name":"a"}}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}]}`)
	if len(evs) != 6 || evs[1].Type != EvThinking || evs[2].Type != EvSignature || evs[5].StopReason != StopMaxTokens {
		t.Errorf("max tokens: %s", gemJSON(t, evs))
	}
	// Garbage is an error, not a panic.
	if _, err := NewGeminiStreamDecoder().Decode(nil, Event{Data: []byte("{oops")}); err == nil {
		t.Error("want an error for invalid JSON")
	}
}

func TestGeminiStreamEncoderFraming(t *testing.T) {
	enc := NewGeminiStreamEncoder(StreamOptions{Model: "gemini-pro-alias"})
	var out []byte
	for _, ev := range []StreamEvent{
		{Type: EvStart, ID: "r1", Model: "upstream-model"},
		{Type: EvThinking, Text: "hmm"},
		{Type: EvSignature, Text: gemSigA},
		{Type: EvText, Text: "Hi\nthere"},
		{Type: EvToolStart, Index: 0, ToolCallID: "call_1", ToolName: "f"},
		{Type: EvToolArgs, Index: 0, Args: "{\"a\":\n"},
		{Type: EvToolArgs, Index: 0, Args: " 1}"},
		{Type: EvToolStart, Index: 1, ToolCallID: "call_2", ToolName: "g"},
		{Type: EvUsage, Usage: Usage{Input: 3, Output: 9, Reasoning: 2}},
		{Type: EvFinish, StopReason: StopToolUse},
		{Type: EvText, Text: "after the end"},
	} {
		out = enc.Encode(out, &ev)
	}
	want := "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hmm\",\"thought\":true}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"gemini-pro-alias\",\"responseId\":\"r1\"}\r\n\r\n" +
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\\nthere\",\"thoughtSignature\":\"" + gemSigA + "\"}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"gemini-pro-alias\",\"responseId\":\"r1\"}\r\n\r\n" +
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"id\":\"call_1\",\"name\":\"f\",\"args\":{\"a\":1}}},{\"functionCall\":{\"id\":\"call_2\",\"name\":\"g\",\"args\":{}}}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":7,\"totalTokenCount\":12,\"thoughtsTokenCount\":2},\"modelVersion\":\"gemini-pro-alias\",\"responseId\":\"r1\"}\r\n\r\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}

	// No EvStart, an error mid-stream: the error chunk is last.
	enc = NewGeminiStreamEncoder(StreamOptions{})
	out = enc.Encode(nil, &StreamEvent{Type: EvText, Text: "partial"})
	out = enc.Encode(out, &StreamEvent{Type: EvToolStart, Index: 0, ToolCallID: "c", ToolName: "f"})
	out = enc.Encode(out, &StreamEvent{Type: EvError, Text: "upstream \"died\"", Status: 502})
	out = enc.Encode(out, &StreamEvent{Type: EvFinish, StopReason: StopEnd})
	want = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"partial\"}],\"role\":\"model\"},\"index\":0}]}\r\n\r\n" +
		"data: {\"error\":{\"code\":502,\"message\":\"upstream \\\"died\\\"\",\"status\":\"INTERNAL\"}}\r\n\r\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}

	// A bare finish still carries a content part and usage.
	enc = NewGeminiStreamEncoder(StreamOptions{})
	out = enc.Encode(nil, &StreamEvent{Type: EvFinish, StopReason: StopMaxTokens})
	want = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":\"MAX_TOKENS\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":0,\"candidatesTokenCount\":0,\"totalTokenCount\":0}}\r\n\r\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

// Every recorded stream survives decoding, Gemini encoding and decoding.
func TestGeminiStreamRoundTrip(t *testing.T) {
	for _, name := range []string{"text.sse", "tool.sse", "reasoning.sse"} {
		t.Run(name, func(t *testing.T) {
			evs, _ := gemReadStream(t, gemRecorded(t, name))
			enc := NewGeminiStreamEncoder(StreamOptions{})
			var out []byte
			for i := range evs {
				out = enc.Encode(out, &evs[i])
			}
			back, dec := gemReadStream(t, out)
			// The encoder compacts arguments (a newline would break SSE).
			for i := range evs {
				if evs[i].Type == EvToolArgs {
					var buf bytes.Buffer
					json.Compact(&buf, []byte(evs[i].Args))
					evs[i].Args = buf.String()
				}
			}
			if !dec.Finished() || !reflect.DeepEqual(back, evs) {
				t.Fatalf("got  %s\nwant %s\nvia %s", gemJSON(t, back), gemJSON(t, evs), out)
			}
		})
	}
}

// Google's SDK reads the encoded stream, including the final error chunk.
func TestGeminiStreamEncoderGenai(t *testing.T) {
	serve := func(evs []StreamEvent) *genai.Client {
		return genaiServer(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("alt") != "sse" || !strings.HasSuffix(r.URL.Path, ":streamGenerateContent") {
				t.Errorf("unexpected request %s", r.URL)
			}
			w.Header().Set("Content-Type", "text/event-stream")
			enc := NewGeminiStreamEncoder(StreamOptions{Model: "gemini-2.5-flash"})
			var out []byte
			for i := range evs {
				out = enc.Encode(out, &evs[i])
			}
			w.Write(out)
		})
	}
	for _, name := range []string{"text.sse", "tool.sse", "reasoning.sse"} {
		t.Run(name, func(t *testing.T) {
			evs, _ := gemReadStream(t, gemRecorded(t, name))
			c := serve(evs)
			var text, thoughts strings.Builder
			var calls []*genai.FunctionCall
			var last *genai.GenerateContentResponse
			sigs := 0
			for resp, err := range c.Models.GenerateContentStream(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil) {
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range resp.Candidates[0].Content.Parts {
					if p.Thought {
						thoughts.WriteString(p.Text)
					} else {
						text.WriteString(p.Text)
					}
					if p.ThoughtSignature != nil {
						sigs++
					}
				}
				calls = append(calls, resp.FunctionCalls()...)
				last = resp
			}
			var wantText, wantThoughts strings.Builder
			wantSigs, wantCalls := 0, 0
			var usage Usage
			for _, ev := range evs {
				switch ev.Type {
				case EvText:
					wantText.WriteString(ev.Text)
				case EvThinking:
					wantThoughts.WriteString(ev.Text)
				case EvSignature:
					wantSigs++
				case EvToolStart:
					wantCalls++
				case EvUsage:
					usage = ev.Usage
				}
			}
			if text.String() != wantText.String() || thoughts.String() != wantThoughts.String() || sigs != wantSigs || len(calls) != wantCalls {
				t.Errorf("text %q thoughts %q sigs %d calls %d", text.String(), thoughts.String(), sigs, len(calls))
			}
			if last.Candidates[0].FinishReason != genai.FinishReasonStop || last.ModelVersion != "gemini-2.5-flash" {
				t.Errorf("last chunk: %s", gemJSON(t, last))
			}
			u := last.UsageMetadata
			if int64(u.PromptTokenCount) != usage.Input || int64(u.CandidatesTokenCount+u.ThoughtsTokenCount) != usage.Output {
				t.Errorf("usage %+v, want %+v", u, usage)
			}
			if name == "tool.sse" && (calls[0].Name != "get_weather" || calls[0].Args["city"] != "Paris" || calls[0].ID == "") {
				t.Errorf("call: %+v", calls[0])
			}
		})
	}
	t.Run("error", func(t *testing.T) {
		c := serve([]StreamEvent{{Type: EvStart, ID: "x"}, {Type: EvText, Text: "par"}, {Type: EvError, Text: "rate limited", Status: 429}})
		var got []string
		var apiErr genai.APIError
		for resp, err := range c.Models.GenerateContentStream(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil) {
			if err != nil {
				if !errors.As(err, &apiErr) {
					t.Fatalf("not an APIError: %v", err)
				}
				break
			}
			got = append(got, resp.Text())
		}
		if len(got) != 1 || got[0] != "par" || apiErr.Code != 429 || apiErr.Status != "RESOURCE_EXHAUSTED" || apiErr.Message != "rate limited" {
			t.Errorf("got %q, error %+v", got, apiErr)
		}
	})
}

func TestPatchGeminiRequest(t *testing.T) {
	tests := []struct {
		name string
		body string
		o    Overrides
		want string
	}{
		{"nothing to do", `{"contents":[]}`, Overrides{Reasoning: "auto"}, `{"contents":[]}`},
		{"new system instruction", `{"contents":[{"parts":[{"text":"x"}]}]}`, Overrides{SystemPrompt: "Be \"nice\"."},
			`{"contents":[{"parts":[{"text":"x"}]}],"systemInstruction":{"parts":[{"text":"Be \"nice\"."}]}}`},
		{"prepended part", `{"systemInstruction":{"role":"user","parts":[{"text":"client"},{"text":"more"}]},"contents":[]}`, Overrides{SystemPrompt: "proxy"},
			`{"systemInstruction":{"role":"user","parts":[{"text":"proxy"},{"text":"client"},{"text":"more"}]},"contents":[]}`},
		{"snake case system", `{"system_instruction":{"parts":[ ]},"contents":[]}`, Overrides{SystemPrompt: "proxy"},
			`{"system_instruction":{"parts":[{"text":"proxy"}]},"contents":[]}`},
		{"system without parts", `{"systemInstruction":{},"contents":[]}`, Overrides{SystemPrompt: "proxy"},
			`{"systemInstruction":{"parts":[{"text":"proxy"}]},"contents":[]}`},
		{"reasoning off", `{"contents":[],"generationConfig":{"temperature":0.1,"thinkingConfig":{"thinkingLevel":"high","includeThoughts":true}}}`, Overrides{Reasoning: "off"},
			`{"contents":[],"generationConfig":{"temperature":0.1,"thinkingConfig":{"thinkingBudget":0}}}`},
		{"reasoning high keeps includeThoughts", `{"contents":[],"generationConfig":{"thinkingConfig":{"includeThoughts":true,"thinkingBudget":-1}}}`, Overrides{Reasoning: "high"},
			`{"contents":[],"generationConfig":{"thinkingConfig":{"thinkingBudget":24576,"includeThoughts":true}}}`},
		{"reasoning budget, no generation config", `{"contents":[]}`, Overrides{Reasoning: "3000"},
			`{"contents":[],"generationConfig":{"thinkingConfig":{"thinkingBudget":3000}}}`},
		{"snake case generation config", `{"contents":[],"generation_config":{"max_output_tokens":5,"thinking_config":{"thinking_budget":100,"include_thoughts":false}}}`, Overrides{Reasoning: "low", SystemPrompt: "s"},
			`{"contents":[],"generation_config":{"max_output_tokens":5,"thinkingConfig":{"thinkingBudget":4096,"includeThoughts":false}},"systemInstruction":{"parts":[{"text":"s"}]}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PatchGeminiRequest([]byte(tc.body), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			gemSameJSON(t, got, []byte(tc.want))
		})
	}
	// Untouched bytes stay byte for byte.
	body := `{"contents": [ {"parts": [{"text": "keep   spacing"}]} ],"generationConfig": {"temperature": 0.30}}`
	got, err := PatchGeminiRequest([]byte(body), Overrides{Reasoning: "medium"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte(`{"contents": [ {"parts": [{"text": "keep   spacing"}]} ],"generationConfig": {"temperature": 0.30,`)) {
		t.Errorf("patch rewrote other fields: %s", got)
	}
	for _, bad := range []string{`nope`, `{"systemInstruction":5,"contents":[]}`} {
		if _, err := PatchGeminiRequest([]byte(bad), Overrides{SystemPrompt: "x"}); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestGeminiCountTokens(t *testing.T) {
	r := &Request{
		Model:  "gemini-2.5-flash",
		System: "sys",
		Messages: []Message{
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: "hello"}}},
		},
		Tools:       []Tool{{Name: "f", Parameters: json.RawMessage(`{"type":"object"}`)}},
		ToolChoice:  &ToolChoice{Mode: "auto"},
		MaxTokens:   10,
		Temperature: gemPtrF(1),
	}
	b, err := EncodeGeminiCountTokens(r)
	if err != nil {
		t.Fatal(err)
	}
	gemSameJSON(t, b, []byte(`{"generateContentRequest":{"model":"models/gemini-2.5-flash",
		"contents":[{"role":"user","parts":[{"text":"hello"}]}],
		"systemInstruction":{"parts":[{"text":"sys"}]},
		"tools":[{"functionDeclarations":[{"name":"f","parametersJsonSchema":{"type":"object"}}]}]}}`))
	back, err := DecodeGeminiCountTokens(b, "models/gemini-2.5-flash")
	if err != nil {
		t.Fatal(err)
	}
	if back.Model != "gemini-2.5-flash" || back.System != "sys" || len(back.Tools) != 1 || back.Messages[0].Parts[0].Text != "hello" {
		t.Errorf("decoded: %s", gemJSON(t, back))
	}
	plain, err := DecodeGeminiCountTokens([]byte(`{"contents":[{"parts":[{"text":"count me"}]}]}`), "gemini-2.5-pro")
	if err != nil || plain.Model != "gemini-2.5-pro" || plain.Messages[0].Parts[0].Text != "count me" {
		t.Errorf("plain form: %+v %v", plain, err)
	}
	snake, err := DecodeGeminiCountTokens([]byte(`{"generate_content_request":{"model":"models/x","contents":[{"parts":[{"text":"y"}]}],"system_instruction":{"parts":[{"text":"s"}]}}}`), "x")
	if err != nil || snake.System != "s" {
		t.Errorf("snake form: %+v %v", snake, err)
	}
	for _, bad := range []string{`{"generateContentRequest":5}`, `{}`, `{"contents":[]}`} {
		var re *RequestError
		if _, err := DecodeGeminiCountTokens([]byte(bad), "x"); !errors.As(err, &re) {
			t.Errorf("%s: want a *RequestError, got %v", bad, err)
		}
	}
}

func FuzzDecodeGeminiRequest(f *testing.F) {
	f.Add([]byte(`{"contents":[{"parts":[{"text":"Hi"}]}]}`))
	f.Add([]byte(`{"contents":[{"role":"user","parts":[{"text":"q"},{"inlineData":{"mimeType":"image/png","data":"AA=="}},{"fileData":{"fileUri":"https://x/y.jpg"}}]},
		{"role":"model","parts":[{"text":"t","thought":true},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"` + gemSigA + `"}]},
		{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"result":"ok"}}},{"text":"more"}]}],
		"systemInstruction":{"parts":[{"text":"s"}]},"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"a":{"type":"INTEGER","nullable":true}}}}]}],
		"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f"]}},
		"generationConfig":{"maxOutputTokens":5,"temperature":0.5,"topK":"3","stopSequences":["x"],"responseMimeType":"application/json","responseSchema":{"type":"ARRAY","items":{"type":"STRING"}},"thinkingConfig":{"thinkingBudget":-1,"includeThoughts":true}}}`))
	f.Add([]byte(`{"system_instruction":"plain","contents":[{"role":"function","parts":[{"function_response":{"id":"x","name":"g","response":{"error":{"code":1}}}}]}]}`))
	f.Add([]byte(`{"contents":[{"role":"model","parts":[{"thoughtSignature":"AAAA"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"low"}}}`))
	f.Add([]byte(`{"contents":[1,null,{"parts":null}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeGeminiRequest(body, "m")
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("non-RequestError %T: %v", err, err)
			}
			return
		}
		// Whatever decodes must encode (or be refused as a RequestError).
		if _, err := EncodeGeminiRequest(r); err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("encode: non-RequestError %T: %v", err, err)
			}
		}
		if _, err := DecodeGeminiCountTokens(body, "m"); err != nil {
			t.Fatalf("count tokens refused what generate accepted: %v", err)
		}
		if out, err := PatchGeminiRequest(body, Overrides{SystemPrompt: "p", Reasoning: "high"}); err == nil && !gjson.ValidBytes(out) {
			t.Fatalf("patch made invalid JSON: %s", out)
		}
	})
}

func FuzzDecodeGeminiResponse(f *testing.F) {
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"text":"a","thought":true},{"text":"b","thoughtSignature":"AAAA"},{"functionCall":{"name":"f","args":{"x":1}}}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2,"totalTokenCount":3,"thoughtsTokenCount":4},"modelVersion":"m","responseId":"r"}`))
	f.Add([]byte(`{"promptFeedback":{"blockReason":"SAFETY"}}`))
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":[1]}},{"text":5}]},"finishReason":"MAX_TOKENS"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeGeminiResponse(body)
		if err != nil {
			return
		}
		out := EncodeGeminiResponse(r)
		if !gjson.ValidBytes(out) {
			t.Fatalf("encode made invalid JSON: %s", out)
		}
		var g genai.GenerateContentResponse
		if err := json.Unmarshal(out, &g); err != nil {
			t.Fatalf("the SDK cannot read %s: %v", out, err)
		}
	})
}

func FuzzGeminiStreamDecoder(f *testing.F) {
	for _, name := range []string{"text.sse", "tool.sse", "reasoning.sse"} {
		b, err := os.ReadFile(filepath.Join("testdata", "streams", "gemini", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("data: {\"error\":{\"code\":500,\"message\":\"x\"}}\r\n\r\n"))
	f.Add([]byte("data: {\"promptFeedback\":{\"blockReason\":\"OTHER\"}}\n\ndata: [DONE]\n\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		rd := NewSSEReader(bytes.NewReader(raw))
		dec := NewGeminiStreamDecoder()
		enc := NewGeminiStreamEncoder(StreamOptions{Model: "m"})
		var evs []StreamEvent
		var out []byte
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			n := len(evs)
			evs, err = dec.Decode(evs, ev)
			if err != nil {
				continue
			}
			for i := n; i < len(evs); i++ {
				out = enc.Encode(out, &evs[i])
			}
		}
		// Order contract: EvStart first, at most one terminal event, last.
		for i, ev := range evs {
			if ev.Type == EvStart && i != 0 {
				t.Fatalf("EvStart at %d", i)
			}
			if (ev.Type == EvFinish || ev.Type == EvError) && i != len(evs)-1 {
				t.Fatalf("terminal event at %d of %d", i, len(evs))
			}
		}
		// The encoder's output is whole SSE events of valid JSON.
		for _, chunk := range bytes.Split(out, []byte("\r\n\r\n")) {
			if len(chunk) == 0 {
				continue
			}
			data, ok := bytes.CutPrefix(chunk, []byte("data: "))
			if !ok || bytes.ContainsAny(data, "\r\n") || !gjson.ValidBytes(data) {
				t.Fatalf("bad chunk %q", chunk)
			}
		}
	})
}

// A tool call followed by more content is written out before it, with a
// pending signature on the call; errors carry Google's status names.
func TestGeminiStreamEncoderToolThenText(t *testing.T) {
	enc := NewGeminiStreamEncoder(StreamOptions{})
	var out []byte
	for _, ev := range []StreamEvent{
		{Type: EvSignature, Text: gemSigA},
		{Type: EvToolStart, Index: 0, ToolCallID: "c1", ToolName: "f"},
		{Type: EvToolArgs, Index: 0, Args: `{"x":1}`},
		{Type: EvSignature, Text: "!!not base64!!"},
		{Type: EvText, Text: "done"},
		{Type: EvFinish, StopReason: StopEnd},
	} {
		out = enc.Encode(out, &ev)
	}
	want := "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"id\":\"c1\",\"name\":\"f\",\"args\":{\"x\":1}},\"thoughtSignature\":\"" + gemSigA + "\"}],\"role\":\"model\"},\"index\":0}]}\r\n\r\n" +
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"done\"}],\"role\":\"model\"},\"index\":0}]}\r\n\r\n" +
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":0,\"candidatesTokenCount\":0,\"totalTokenCount\":0}}\r\n\r\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	for code, status := range map[int]string{0: "INTERNAL", 400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"} {
		b := NewGeminiStreamEncoder(StreamOptions{}).Encode(nil, &StreamEvent{Type: EvError, Status: code})
		if gjson.GetBytes(bytes.TrimPrefix(b, []byte("data: ")), "error.status").String() != status {
			t.Errorf("%d: %s", code, b)
		}
	}
}
