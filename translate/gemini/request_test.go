package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestDecodeRequest(t *testing.T) {
	callSeed := func(ci int, content string) string { return string(rune('0'+ci)) + ":" + content }
	modelTurn := `{"role":"model","parts":[{"text":"Let me check both."},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},{"functionCall":{"name":"get_weather","args":{"city":"Rome"}}},{"functionCall":{"id":"fc-9","name":"get_time","args":{}}}]}`
	id0 := translate.MakeToolCallID("call_", callSeed(1, modelTurn), 0)
	id1 := translate.MakeToolCallID("call_", callSeed(1, modelTurn), 1)

	tests := []struct {
		name  string
		model string
		body  string
		want  translate.Request
	}{{
		name:  "basic",
		model: "models/gemini-2.5-flash",
		body: `{"contents":[{"parts":[{"text":"Hi"}]},{"role":"model","parts":[{"text":"Hello!"}]},
			{"role":"user","parts":[{"text":"What is in these?"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},
			{"fileData":{"mimeType":"image/jpeg","fileUri":"https://example.com/cat.jpg"}},{"fileData":{"fileUri":"https://example.com/dog.webp?s=1"}}]}],
			"systemInstruction":{"parts":[{"text":"Be brief."},{"text":"Use metric."}]},
			"safetySettings":[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_NONE"}],
			"generationConfig":{"maxOutputTokens":256,"temperature":0.2,"topP":0.9,"topK":40,"stopSequences":["END","STOP"],"candidateCount":1,"seed":3}}`,
		want: translate.Request{
			Model:  "gemini-2.5-flash",
			System: "Be brief.\n\nUse metric.",
			Messages: []translate.Message{
				{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "Hi"}}},
				{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartText, Text: "Hello!"}}},
				{Role: translate.RoleUser, Parts: []translate.Part{
					{Type: translate.PartText, Text: "What is in these?"},
					{Type: translate.PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="},
					{Type: translate.PartImage, MediaType: "image/jpeg", URL: "https://example.com/cat.jpg"},
					{Type: translate.PartImage, MediaType: "image/webp", URL: "https://example.com/dog.webp?s=1"},
				}},
			},
			MaxTokens: 256, Temperature: ptrF(0.2), TopP: ptrF(0.9), TopK: ptrI(40), Stop: []string{"END", "STOP"},
		},
	}, {
		name:  "snake_case spelling from the REST docs",
		model: "gemini-2.5-pro",
		body: `{"system_instruction":{"parts":[{"text":"You are a cat."}]},
			"contents":[{"role":"user","parts":[{"inline_data":{"mime_type":"image/jpeg","data":"/9j/4AAQ"}},{"text":"Describe"}]}],
			"generation_config":{"max_output_tokens":100,"top_k":3.0,"stop_sequences":["x"],"response_mime_type":"application/json",
			"thinking_config":{"thinking_budget":2048,"include_thoughts":true}}}`,
		want: translate.Request{
			Model:  "gemini-2.5-pro",
			System: "You are a cat.",
			Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{
				{Type: translate.PartImage, MediaType: "image/jpeg", Data: "/9j/4AAQ"},
				{Type: translate.PartText, Text: "Describe"},
			}}},
			MaxTokens: 100, TopK: ptrI(3), Stop: []string{"x"},
			ResponseFormat: &translate.ResponseFormat{Type: "json_object"},
			Reasoning:      &translate.Reasoning{Effort: "low", Budget: 2048},
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
		want: translate.Request{
			Model: "gemini-2.5-flash",
			Messages: []translate.Message{
				{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "Weather in Paris and Rome, and the time?"}}},
				{Role: translate.RoleAssistant, Parts: []translate.Part{
					{Type: translate.PartText, Text: "Let me check both."},
					{Type: translate.PartToolCall, ToolCallID: id0, ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
					{Type: translate.PartToolCall, ToolCallID: id1, ToolName: "get_weather", Arguments: `{"city":"Rome"}`},
					{Type: translate.PartToolCall, ToolCallID: "fc-9", ToolName: "get_time", Arguments: `{}`},
				}},
				{Role: translate.RoleTool, Parts: []translate.Part{
					{Type: translate.PartToolResult, ToolCallID: id0, ToolName: "get_weather", Content: []translate.Part{{Type: translate.PartText, Text: "21C sunny"}}},
					{Type: translate.PartToolResult, ToolCallID: "fc-9", ToolName: "get_time", Content: []translate.Part{{Type: translate.PartText, Text: `{"hour":10,"tz":"CET"}`}}},
					{Type: translate.PartToolResult, ToolCallID: id1, ToolName: "get_weather", Content: []translate.Part{{Type: translate.PartText, Text: "18C rain"}}},
				}},
				{Role: translate.RoleAssistant, Parts: []translate.Part{
					{Type: translate.PartToolCall, ToolCallID: translate.MakeToolCallID("call_", callSeed(3, `{"role":"model","parts":[{"functionCall":{"name":"get_time","args":{"tz":"UTC"}}}]}`), 0), ToolName: "get_time", Arguments: `{"tz":"UTC"}`},
				}},
				{Role: translate.RoleTool, Parts: []translate.Part{
					{Type: translate.PartToolResult, ToolCallID: translate.MakeToolCallID("call_", callSeed(3, `{"role":"model","parts":[{"functionCall":{"name":"get_time","args":{"tz":"UTC"}}}]}`), 0), ToolName: "get_time", IsError: true, Content: []translate.Part{{Type: translate.PartText, Text: "clock offline"}}},
				}},
				{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "Sorry, also this:"}}},
			},
			Tools: []translate.Tool{
				{Name: "get_weather", Description: "Weather for a city", Parameters: json.RawMessage(`{"properties":{"city":{"type":["string","null"]},"days":{"minimum":1,"type":"integer"}},"required":["city"],"type":"object"}`)},
				{Name: "get_time", Parameters: json.RawMessage(`{"type":"object","properties":{"tz":{"type":"string"}},"additionalProperties":false}`)},
			},
			ToolChoice: &translate.ToolChoice{Mode: "tool", Name: "get_weather"},
		},
	}, {
		name:  "thoughts and signatures",
		model: "gemini-3-pro-preview",
		body: `{"contents":[{"role":"user","parts":[{"text":"q"}]},
			{"role":"model","parts":[{"text":"planning...","thought":true},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"` + sigA + `"},{"functionCall":{"name":"f","args":{"a":2}}}]},
			{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"result":"one"}}},{"functionResponse":{"name":"f","response":{"result":"two"}}}]},
			{"role":"model","parts":[{"text":"Done.","thoughtSignature":"` + sigB + `"},{"text":"","thoughtSignature":"` + sigA + `"}]},
			{"role":"model","parts":[{"functionCall":{"id":"x","name":"f","args":{}},"thoughtSignature":"skip_thought_signature_validator"}]},
			{"role":"user","parts":[{"functionResponse":{"id":"x","name":"f","response":{"result":"ok"}}}]}],
			"generationConfig":{"thinkingConfig":{"thinkingLevel":"HIGH","includeThoughts":true}}}`,
		want: translate.Request{
			Model: "gemini-3-pro-preview",
			Messages: []translate.Message{
				{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "q"}}},
				{Role: translate.RoleAssistant, Parts: []translate.Part{
					{Type: translate.PartThinking, Text: "planning...", Signature: sigA, SignatureFormat: Name},
					{Type: translate.PartToolCall, ToolCallID: translate.MakeToolCallID("call_", callSeed(1, `{"role":"model","parts":[{"text":"planning...","thought":true},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"`+sigA+`"},{"functionCall":{"name":"f","args":{"a":2}}}]}`), 0), ToolName: "f", Arguments: `{"a":1}`},
					{Type: translate.PartToolCall, ToolCallID: translate.MakeToolCallID("call_", callSeed(1, `{"role":"model","parts":[{"text":"planning...","thought":true},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"`+sigA+`"},{"functionCall":{"name":"f","args":{"a":2}}}]}`), 1), ToolName: "f", Arguments: `{"a":2}`},
				}},
				{Role: translate.RoleTool, Parts: []translate.Part{
					{Type: translate.PartToolResult, ToolCallID: translate.MakeToolCallID("call_", callSeed(1, `{"role":"model","parts":[{"text":"planning...","thought":true},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"`+sigA+`"},{"functionCall":{"name":"f","args":{"a":2}}}]}`), 0), ToolName: "f", Content: []translate.Part{{Type: translate.PartText, Text: "one"}}},
					{Type: translate.PartToolResult, ToolCallID: translate.MakeToolCallID("call_", callSeed(1, `{"role":"model","parts":[{"text":"planning...","thought":true},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"`+sigA+`"},{"functionCall":{"name":"f","args":{"a":2}}}]}`), 1), ToolName: "f", Content: []translate.Part{{Type: translate.PartText, Text: "two"}}},
				}},
				{Role: translate.RoleAssistant, Parts: []translate.Part{
					{Type: translate.PartThinking, Signature: sigB, SignatureFormat: Name},
					{Type: translate.PartText, Text: "Done."},
					{Type: translate.PartThinking, Signature: sigA, SignatureFormat: Name},
					{Type: translate.PartToolCall, ToolCallID: "x", ToolName: "f", Arguments: `{}`},
				}},
				{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "x", ToolName: "f", Content: []translate.Part{{Type: translate.PartText, Text: "ok"}}}}},
			},
			Reasoning: &translate.Reasoning{Effort: "high"},
		},
	}, {
		name:  "structured output with a Gemini schema",
		model: "gemini-2.5-flash",
		body: `{"contents":[{"parts":[{"text":"list"}]}],"generationConfig":{"responseMimeType":"application/json",
			"responseSchema":{"type":"ARRAY","items":{"type":"OBJECT","properties":{"n":{"type":"STRING","enum":["A","B"]}},"maxItems":"3"}}}}`,
		want: translate.Request{
			Model:          "gemini-2.5-flash",
			Messages:       []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "list"}}}},
			ResponseFormat: &translate.ResponseFormat{Type: "json_schema", Name: "response", Schema: json.RawMessage(`{"items":{"maxItems":3,"properties":{"n":{"enum":["A","B"],"type":"string"}},"type":"object"},"type":"array"}`)},
		},
	}, {
		name:  "structured output with a JSON schema, tool choice none",
		model: "gemini-2.5-flash",
		body: `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]},{}],"toolConfig":{"functionCallingConfig":{"mode":"NONE"}},
			"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":{"type":"object","properties":{"a":{"type":"string"}}}}}`,
		want: translate.Request{
			Model:          "gemini-2.5-flash",
			Messages:       []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "x"}}}},
			Tools:          []translate.Tool{{Name: "f"}},
			ToolChoice:     &translate.ToolChoice{Mode: "none"},
			ResponseFormat: &translate.ResponseFormat{Type: "json_schema", Name: "response", Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`)},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tc.body), tc.model)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := jsonOf(t, got), jsonOf(t, &tc.want); g != w {
				t.Fatalf("got  %s\nwant %s", g, w)
			}
		})
	}
}

func TestDecodeRequestThinkingConfig(t *testing.T) {
	tests := []struct {
		cfg  string
		want *translate.Reasoning
	}{
		{`{"thinkingBudget":0}`, &translate.Reasoning{Off: true}},
		{`{"thinkingBudget":-1,"includeThoughts":true}`, &translate.Reasoning{Effort: "medium"}},
		{`{"thinkingBudget":4096}`, &translate.Reasoning{Effort: "low", Budget: 4096}},
		{`{"thinkingBudget":10000}`, &translate.Reasoning{Effort: "medium", Budget: 10000}},
		{`{"thinkingBudget":32768}`, &translate.Reasoning{Effort: "high", Budget: 32768}},
		{`{"thinkingLevel":"low"}`, &translate.Reasoning{Effort: "low"}},
		{`{"thinkingLevel":"MINIMAL"}`, &translate.Reasoning{Effort: "low"}},
		{`{"thinkingLevel":"medium"}`, &translate.Reasoning{Effort: "medium"}},
		{`{"thinkingLevel":"high"}`, &translate.Reasoning{Effort: "high"}},
		{`{"includeThoughts":true}`, &translate.Reasoning{Effort: "medium"}},
		{`{"includeThoughts":false}`, nil},
		{`{}`, nil},
	}
	for _, tc := range tests {
		body := `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":` + tc.cfg + `}}`
		r, err := DecodeRequest([]byte(body), "m")
		if err != nil {
			t.Fatalf("%s: %v", tc.cfg, err)
		}
		if !reflect.DeepEqual(r.Reasoning, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.cfg, r.Reasoning, tc.want)
		}
	}
}

func TestDecodeRequestToolConfig(t *testing.T) {
	tests := []struct {
		cfg  string
		want *translate.ToolChoice
	}{
		{`{"mode":"AUTO"}`, &translate.ToolChoice{Mode: "auto"}},
		{`{"mode":"VALIDATED"}`, &translate.ToolChoice{Mode: "auto"}},
		{`{"mode":"NONE"}`, &translate.ToolChoice{Mode: "none"}},
		{`{"mode":"ANY"}`, &translate.ToolChoice{Mode: "required"}},
		{`{"mode":"ANY","allowedFunctionNames":["a","b"]}`, &translate.ToolChoice{Mode: "required"}},
		{`{"mode":"ANY","allowed_function_names":["b"]}`, &translate.ToolChoice{Mode: "tool", Name: "b"}},
		{`{"mode":"MODE_UNSPECIFIED"}`, nil},
	}
	for _, tc := range tests {
		body := `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"a"},{"name":"b"}]}],"tool_config":{"function_calling_config":` + tc.cfg + `}}`
		r, err := DecodeRequest([]byte(body), "m")
		if err != nil {
			t.Fatalf("%s: %v", tc.cfg, err)
		}
		if !reflect.DeepEqual(r.ToolChoice, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.cfg, r.ToolChoice, tc.want)
		}
	}
}

func TestDecodeRequestErrors(t *testing.T) {
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
			_, err := DecodeRequest([]byte(tc.body), "m")
			var re *translate.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("want a *RequestError, got %v", err)
			}
			if !strings.Contains(re.Message, tc.msg) {
				t.Fatalf("message %q does not mention %q", re.Message, tc.msg)
			}
		})
	}
}

func TestEncodeRequest(t *testing.T) {
	weatherSchema := json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}`)
	r := &translate.Request{
		Model:  "gemini-2.5-flash",
		System: "Be brief.",
		Messages: []translate.Message{
			{Role: translate.RoleUser, Parts: []translate.Part{
				{Type: translate.PartText, Text: "Weather in Paris and Rome? \"quoted\" <b>"},
				{Type: translate.PartImage, URL: "https://example.com/a/map.PNG?x=1"},
				{Type: translate.PartImage, URL: "https://example.com/photo"},
				{Type: translate.PartImage, URL: "data:image/gif;base64,R0lGODlh"},
				{Type: translate.PartImage, MediaType: "image/webp", Data: "UklGRg=="},
			}},
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "Second user message."}}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{
				{Type: translate.PartThinking, Text: "I need the weather.", Signature: sigA},
				{Type: translate.PartText, Text: "Checking."},
				{Type: translate.PartToolCall, ToolCallID: "call_1", ToolName: "get_weather", Arguments: "{\n  \"city\": \"Paris\"\n}"},
				{Type: translate.PartToolCall, ToolCallID: "call_2", ToolName: "get_weather", Arguments: `{"city":"Rome"}`},
			}},
			{Role: translate.RoleTool, Parts: []translate.Part{
				{Type: translate.PartToolResult, ToolCallID: "call_1", Content: []translate.Part{{Type: translate.PartText, Text: `{"temp": 21}`}}},
				{Type: translate.PartToolResult, ToolCallID: "call_2", Content: []translate.Part{{Type: translate.PartText, Text: "sunny"}, {Type: translate.PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="}}},
			}},
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "Thanks. And tomorrow?"}}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{
				{Type: translate.PartThinking, Redacted: true, Data: "opaque"},
				{Type: translate.PartThinking, Signature: sigB},
				{Type: translate.PartToolCall, ToolCallID: "call_3", ToolName: "get_weather", Arguments: ``},
				{Type: translate.PartThinking, Signature: sigA}, // nothing follows: dropped
			}},
			{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "call_3", IsError: true, Content: []translate.Part{{Type: translate.PartText, Text: "service down"}}}}},
		},
		Tools: []translate.Tool{
			{Name: "get_weather", Description: "Weather for a city", Parameters: weatherSchema},
			{Name: "noop"},
		},
		ToolChoice:     &translate.ToolChoice{Mode: "tool", Name: "get_weather"},
		MaxTokens:      1000,
		Temperature:    ptrF(0.5),
		TopP:           ptrF(0.9),
		TopK:           ptrI(20),
		Stop:           []string{"STOP"},
		ResponseFormat: &translate.ResponseFormat{Type: "json_schema", Name: "out", Schema: json.RawMessage(`{"type":"object"}`)},
		Reasoning:      &translate.Reasoning{Effort: "high"},
		User:           "u-1",
	}
	got, err := EncodeRequest(r)
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
			{"text":"Checking.","thoughtSignature":"` + sigA + `"},
			{"functionCall":{"id":"call_1","name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"skip_thought_signature_validator"},
			{"functionCall":{"id":"call_2","name":"get_weather","args":{"city":"Rome"}}}]},
		{"role":"user","parts":[
			{"functionResponse":{"id":"call_1","name":"get_weather","response":{"temp":21}}},
			{"functionResponse":{"id":"call_2","name":"get_weather","response":{"result":"sunny"}}},
			{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},
			{"text":"Thanks. And tomorrow?"}]},
		{"role":"model","parts":[
			{"functionCall":{"id":"call_3","name":"get_weather","args":{}},"thoughtSignature":"` + sigB + `"}]},
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
	sameJSON(t, got, []byte(want))
	if bytes.Contains(got, []byte(`"model"`+":")) {
		t.Errorf("the body must not carry the model: %s", got)
	}
	if bytes.Contains(got, []byte("I need the weather")) {
		t.Errorf("thought text must not be sent back: %s", got)
	}
}

func TestEncodeRequestOptions(t *testing.T) {
	base := func() *translate.Request {
		return &translate.Request{Messages: []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "x"}}}}, Tools: []translate.Tool{{Name: "f"}}}
	}
	tests := []struct {
		name string
		set  func(r *translate.Request)
		path string
		want string
	}{
		{"auto", func(r *translate.Request) { r.ToolChoice = &translate.ToolChoice{Mode: "auto"} }, "toolConfig", `{"functionCallingConfig":{"mode":"AUTO"}}`},
		{"none", func(r *translate.Request) { r.ToolChoice = &translate.ToolChoice{Mode: "none"} }, "toolConfig", `{"functionCallingConfig":{"mode":"NONE"}}`},
		{"required", func(r *translate.Request) { r.ToolChoice = &translate.ToolChoice{Mode: "required"} }, "toolConfig", `{"functionCallingConfig":{"mode":"ANY"}}`},
		{"json object", func(r *translate.Request) { r.ResponseFormat = &translate.ResponseFormat{Type: "json_object"} }, "generationConfig", `{"responseMimeType":"application/json"}`},
		{"text format", func(r *translate.Request) { r.ResponseFormat = &translate.ResponseFormat{Type: "text"} }, "generationConfig", ``},
		{"reasoning off", func(r *translate.Request) { r.Reasoning = &translate.Reasoning{Off: true} }, "generationConfig", `{"thinkingConfig":{"thinkingBudget":0}}`},
		{"reasoning budget", func(r *translate.Request) { r.Reasoning = &translate.Reasoning{Budget: 5000} }, "generationConfig", `{"thinkingConfig":{"thinkingBudget":5000,"includeThoughts":true}}`},
		{"reasoning low", func(r *translate.Request) { r.Reasoning = &translate.Reasoning{Effort: "low"} }, "generationConfig", `{"thinkingConfig":{"thinkingBudget":4096,"includeThoughts":true}}`},
		{"nothing", func(r *translate.Request) {}, "generationConfig", ``},
		{"no tools, no tool config", func(r *translate.Request) { r.Tools = nil; r.ToolChoice = &translate.ToolChoice{Mode: "required"} }, "toolConfig", ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.set(r)
			b, err := EncodeRequest(r)
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
			sameJSON(t, []byte(v.Raw), []byte(tc.want))
		})
	}
}

func TestEncodeRequestErrors(t *testing.T) {
	tests := []struct {
		name string
		msgs []translate.Message
	}{
		{"args not JSON", []translate.Message{{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartToolCall, ToolCallID: "c", ToolName: "f", Arguments: `{"a":`}}}}},
		{"args not an object", []translate.Message{{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartToolCall, ToolCallID: "c", ToolName: "f", Arguments: `[1]`}}}}},
		{"result answers nothing", []translate.Message{{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "nope", Content: []translate.Part{{Type: translate.PartText, Text: "x"}}}}}}},
		{"ftp image", []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartImage, URL: "ftp://x/y.png"}}}}},
		{"non-base64 data URL", []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartImage, URL: "data:image/png,rawbytes"}}}}},
		{"nothing to send", []translate.Message{{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartThinking, Text: "hmm"}}}}},
		{"no messages", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := EncodeRequest(&translate.Request{Messages: tc.msgs})
			var re *translate.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("want a *RequestError, got %v", err)
			}
		})
	}
}

// The encoded body must fit the request types of Google's own SDK.
func TestEncodeRequestFitsSDKTypes(t *testing.T) {
	r := &translate.Request{
		System: "sys",
		Messages: []translate.Message{
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "hi"}, {Type: translate.PartImage, URL: "https://x/y.jpg"}, {Type: translate.PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="}}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartThinking, Signature: sigA}, {Type: translate.PartToolCall, ToolCallID: "c1", ToolName: "f", Arguments: `{"a":[1,2]}`}}},
			{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: "c1", Content: []translate.Part{{Type: translate.PartText, Text: "ok"}}}}},
		},
		Tools:          []translate.Tool{{Name: "f", Description: "d", Parameters: json.RawMessage(`{"type":"object","properties":{"a":{"type":"array"}}}`)}},
		ToolChoice:     &translate.ToolChoice{Mode: "tool", Name: "f"},
		MaxTokens:      10,
		Temperature:    ptrF(1),
		TopP:           ptrF(0.5),
		TopK:           ptrI(4),
		Stop:           []string{"x"},
		ResponseFormat: &translate.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{"type":"string"}`)},
		Reasoning:      &translate.Reasoning{Budget: 1024},
	}
	b, err := EncodeRequest(r)
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
func TestRequestRoundTrip(t *testing.T) {
	r := &translate.Request{
		Model:  "gemini-2.5-flash",
		System: "sys",
		Messages: []translate.Message{
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "hi"}, {Type: translate.PartImage, MediaType: "image/png", URL: "https://x/y.png"}}},
			{Role: translate.RoleAssistant, Parts: []translate.Part{{Type: translate.PartThinking, Signature: sigA, SignatureFormat: Name}, {Type: translate.PartText, Text: "calling"}, {Type: translate.PartToolCall, ToolCallID: "c1", ToolName: "f", Arguments: `{"a":1}`}, {Type: translate.PartToolCall, ToolCallID: "c2", ToolName: "g", Arguments: `{}`}}},
			{Role: translate.RoleTool, Parts: []translate.Part{
				{Type: translate.PartToolResult, ToolCallID: "c1", ToolName: "f", Content: []translate.Part{{Type: translate.PartText, Text: "one"}}},
				{Type: translate.PartToolResult, ToolCallID: "c2", ToolName: "g", IsError: true, Content: []translate.Part{{Type: translate.PartText, Text: "bad"}}},
			}},
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "thanks"}}},
		},
		Tools:          []translate.Tool{{Name: "f", Description: "F", Parameters: json.RawMessage(`{"type":"object"}`)}, {Name: "g"}},
		ToolChoice:     &translate.ToolChoice{Mode: "required"},
		MaxTokens:      100,
		Temperature:    ptrF(0.7),
		TopK:           ptrI(5),
		Stop:           []string{"a", "b"},
		ResponseFormat: &translate.ResponseFormat{Type: "json_schema", Name: "response", Schema: json.RawMessage(`{"type":"object"}`)},
		Reasoning:      &translate.Reasoning{Effort: "medium", Budget: translate.BudgetMedium},
	}
	b, err := EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeRequest(b, "gemini-2.5-flash")
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	// The user turn after the tool results merges into the same Gemini
	// content, and comes back as its own message after them.
	if g, w := jsonOf(t, back), jsonOf(t, r); g != w {
		t.Fatalf("round trip changed the request\n got %s\nwant %s\nvia %s", g, w, b)
	}
}

func TestCountTokens(t *testing.T) {
	r := &translate.Request{
		Model:  "gemini-2.5-flash",
		System: "sys",
		Messages: []translate.Message{
			{Role: translate.RoleUser, Parts: []translate.Part{{Type: translate.PartText, Text: "hello"}}},
		},
		Tools:       []translate.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":"object"}`)}},
		ToolChoice:  &translate.ToolChoice{Mode: "auto"},
		MaxTokens:   10,
		Temperature: ptrF(1),
	}
	b, err := EncodeCountTokens(r)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, b, []byte(`{"generateContentRequest":{"model":"models/gemini-2.5-flash",
		"contents":[{"role":"user","parts":[{"text":"hello"}]}],
		"systemInstruction":{"parts":[{"text":"sys"}]},
		"tools":[{"functionDeclarations":[{"name":"f","parametersJsonSchema":{"type":"object"}}]}]}}`))
	back, err := DecodeCountTokens(b, "models/gemini-2.5-flash")
	if err != nil {
		t.Fatal(err)
	}
	if back.Model != "gemini-2.5-flash" || back.System != "sys" || len(back.Tools) != 1 || back.Messages[0].Parts[0].Text != "hello" {
		t.Errorf("decoded: %s", jsonOf(t, back))
	}
	plain, err := DecodeCountTokens([]byte(`{"contents":[{"parts":[{"text":"count me"}]}]}`), "gemini-2.5-pro")
	if err != nil || plain.Model != "gemini-2.5-pro" || plain.Messages[0].Parts[0].Text != "count me" {
		t.Errorf("plain form: %+v %v", plain, err)
	}
	snake, err := DecodeCountTokens([]byte(`{"generate_content_request":{"model":"models/x","contents":[{"parts":[{"text":"y"}]}],"system_instruction":{"parts":[{"text":"s"}]}}}`), "x")
	if err != nil || snake.System != "s" {
		t.Errorf("snake form: %+v %v", snake, err)
	}
	for _, bad := range []string{`{"generateContentRequest":5}`, `{}`, `{"contents":[]}`} {
		var re *translate.RequestError
		if _, err := DecodeCountTokens([]byte(bad), "x"); !errors.As(err, &re) {
			t.Errorf("%s: want a *RequestError, got %v", bad, err)
		}
	}
}
