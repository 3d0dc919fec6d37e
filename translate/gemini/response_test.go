package gemini

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		name string
		body string
		want translate.Response
	}{{
		name: "text with thoughts",
		body: `{"candidates":[{"content":{"parts":[{"text":"Thinking about it.","thought":true},{"text":"Hello there!","thoughtSignature":"` + sigA + `"}],"role":"model"},"finishReason":"STOP","index":0}],
			"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":8,"totalTokenCount":47,"cachedContentTokenCount":4,"thoughtsTokenCount":29},
			"modelVersion":"gemini-2.5-flash","responseId":"BmcPafuSOIej2roP08fp6AI"}`,
		want: translate.Response{ID: "BmcPafuSOIej2roP08fp6AI", Model: "gemini-2.5-flash", StopReason: translate.StopEnd,
			Parts: []translate.Part{{Type: translate.PartThinking, Text: "Thinking about it.", Signature: sigA, SignatureFormat: Name}, {Type: translate.PartText, Text: "Hello there!"}},
			Usage: translate.Usage{Input: 10, Output: 37, Cached: 4, Reasoning: 29}},
	}, {
		name: "function calls",
		body: `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"city":"shanghai"}},"thoughtSignature":"` + sigB + `"},{"functionCall":{"id":"given","name":"get_time"}}],"role":"model"},"finishReason":"STOP","index":0,"finishMessage":"Model generated function call(s)."}],
			"usageMetadata":{"promptTokenCount":50,"candidatesTokenCount":17,"totalTokenCount":119,"thoughtsTokenCount":52},"modelVersion":"gemini-2.5-flash","responseId":"J3YPafGkDK3H1e8Pv57FgAQ"}`,
		want: translate.Response{ID: "J3YPafGkDK3H1e8Pv57FgAQ", Model: "gemini-2.5-flash", StopReason: translate.StopToolUse,
			Parts: []translate.Part{
				{Type: translate.PartThinking, Signature: sigB, SignatureFormat: Name},
				{Type: translate.PartToolCall, ToolCallID: translate.MakeToolCallID("call_", "J3YPafGkDK3H1e8Pv57FgAQ", 0), ToolName: "get_weather", Arguments: `{"city":"shanghai"}`},
				{Type: translate.PartToolCall, ToolCallID: "given", ToolName: "get_time", Arguments: `{}`},
			},
			Usage: translate.Usage{Input: 50, Output: 69, Reasoning: 52}},
	}, {
		name: "max tokens, thoughts only",
		body: `{"candidates":[{"content":{"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":5,"totalTokenCount":105,"thoughtsTokenCount":100},"modelVersion":"gemini-2.5-pro","responseId":"r1"}`,
		want: translate.Response{ID: "r1", Model: "gemini-2.5-pro", StopReason: translate.StopMaxTokens, Parts: []translate.Part{}, Usage: translate.Usage{Input: 5, Output: 100, Reasoning: 100}},
	}, {
		name: "safety",
		body: `{"candidates":[{"content":{"parts":[{"text":"partial"}],"role":"model"},"finishReason":"SAFETY","index":0,"safetyRatings":[{"category":"HARM_CATEGORY_HARASSMENT","probability":"HIGH","blocked":true}]}],"responseId":"r2"}`,
		want: translate.Response{ID: "r2", StopReason: translate.StopContentFilter, Parts: []translate.Part{{Type: translate.PartText, Text: "partial"}}},
	}, {
		name: "prompt blocked",
		body: `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7},"modelVersion":"gemini-2.5-flash","responseId":"r3"}`,
		want: translate.Response{ID: "r3", Model: "gemini-2.5-flash", StopReason: translate.StopContentFilter, Parts: []translate.Part{}, Usage: translate.Usage{Input: 7}},
	}, {
		name: "malformed function call",
		body: `{"candidates":[{"content":{},"finishReason":"MALFORMED_FUNCTION_CALL","index":0}],"responseId":"r4"}`,
		want: translate.Response{ID: "r4", StopReason: translate.StopEnd, Parts: []translate.Part{}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeResponse([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := jsonOf(t, got), jsonOf(t, &tc.want); g != w {
				t.Fatalf("got  %s\nwant %s", g, w)
			}
		})
	}
	for _, fr := range []string{"RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"} {
		r, err := DecodeResponse([]byte(`{"candidates":[{"finishReason":"` + fr + `"}]}`))
		if err != nil || r.StopReason != translate.StopContentFilter {
			t.Errorf("%s: %v %v", fr, r, err)
		}
	}
	if r, err := DecodeResponse([]byte(`{"candidates":[{"finishReason":"OTHER"}]}`)); err != nil || r.StopReason != translate.StopEnd {
		t.Errorf("OTHER: %v %v", r, err)
	}
	for _, bad := range []string{`nope`, `[]`, `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`} {
		if _, err := DecodeResponse([]byte(bad)); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

// Google's SDK parses EncodeResponse, and what it sends decodes.
func TestEncodeResponseGenai(t *testing.T) {
	resp := &translate.Response{
		ID:    "resp-1",
		Model: "gemini-2.5-flash",
		Parts: []translate.Part{
			{Type: translate.PartThinking, Text: "Let me think.", Signature: sigA},
			{Type: translate.PartText, Text: "Paris is sunny."},
			{Type: translate.PartThinking, Redacted: true, Data: "xx"},
			{Type: translate.PartThinking, Signature: base64.RawURLEncoding.EncodeToString([]byte("url-safe sig??>>"))},
			{Type: translate.PartToolCall, ToolCallID: "call_1", ToolName: "get_weather", Arguments: `{"city": "Rome"}`},
			{Type: translate.PartToolCall, ToolCallID: "call_2", ToolName: "broken", Arguments: `{"city": `},
		},
		StopReason: translate.StopToolUse,
		Usage:      translate.Usage{Input: 100, Output: 60, Cached: 20, Reasoning: 40},
	}
	var sent []byte
	var path string
	c := genaiServer(t, func(w http.ResponseWriter, r *http.Request) {
		sent, _ = io.ReadAll(r.Body)
		path = r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		w.Write(EncodeResponse(resp))
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
		t.Fatalf("parts: %s", jsonOf(t, parts))
	}
	if !parts[0].Thought || parts[0].Text != "Let me think." || parts[0].ThoughtSignature != nil {
		t.Errorf("thought part: %+v", parts[0])
	}
	// Another provider's signatures, wrapped with their thinking text.
	if parts[1].Text != "Paris is sunny." || !wrapped(parts[1].ThoughtSignature, "", sigA, "Let me think.") {
		t.Errorf("text part: %+v", parts[1])
	}
	if fc := parts[2].FunctionCall; fc == nil || fc.ID != "call_1" || fc.Name != "get_weather" || fc.Args["city"] != "Rome" ||
		!wrapped(parts[2].ThoughtSignature, "", base64.RawURLEncoding.EncodeToString([]byte("url-safe sig??>>")), "") {
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
	back, err := DecodeResponse(EncodeResponse(resp))
	if err != nil || back.Usage != resp.Usage || back.StopReason != translate.StopToolUse {
		t.Errorf("decode of the encoding: %+v %v", back, err)
	}

	// What the SDK sent decodes into the canonical request.
	if !strings.HasSuffix(path, "/models/gemini-2.5-flash:generateContent") {
		t.Errorf("path %q", path)
	}
	req, err := DecodeRequest(sent, "gemini-2.5-flash")
	if err != nil {
		t.Fatalf("%v\n%s", err, sent)
	}
	if req.System != "Be brief." || req.MaxTokens != 500 || *req.Temperature != 0.25 || req.Stop[0] != "END" ||
		req.Reasoning == nil || req.Reasoning.Budget != 2048 || req.ToolChoice.Mode != "auto" {
		t.Errorf("request: %s", jsonOf(t, req))
	}
	if len(req.Tools) != 1 || string(req.Tools[0].Parameters) != `{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}` {
		t.Errorf("tools: %s", jsonOf(t, req.Tools))
	}
	if len(req.Messages) != 3 || req.Messages[1].Parts[0].Signature != base64.StdEncoding.EncodeToString([]byte("sig")) || req.Messages[1].Parts[0].SignatureFormat != Name ||
		req.Messages[2].Role != translate.RoleTool || req.Messages[2].Parts[0].ToolCallID != req.Messages[1].Parts[1].ToolCallID ||
		req.Messages[2].Parts[0].Content[0].Text != "sunny" {
		t.Errorf("messages: %s", jsonOf(t, req.Messages))
	}
}

func TestEncodeResponseShapes(t *testing.T) {
	// An empty answer has a content without parts, as Gemini sends it.
	b := EncodeResponse(&translate.Response{StopReason: translate.StopContentFilter})
	sameJSON(t, b, []byte(`{"candidates":[{"content":{"role":"model"},"finishReason":"SAFETY","index":0}],"usageMetadata":{"promptTokenCount":0,"candidatesTokenCount":0,"totalTokenCount":0}}`))
	// A signature with nothing after it rides on an empty text part.
	b = EncodeResponse(&translate.Response{StopReason: translate.StopMaxTokens, Parts: []translate.Part{{Type: translate.PartThinking, Text: "hmm", Signature: sigA, SignatureFormat: "anthropic"}}, Usage: translate.Usage{Input: 1, Output: 5, Reasoning: 5}})
	sameJSON(t, b, []byte(`{"candidates":[{"content":{"parts":[{"text":"hmm","thought":true},{"text":"","thoughtSignature":"`+wrapSignature("anthropic", sigA, "hmm")+`"}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":0,"totalTokenCount":6,"thoughtsTokenCount":5}}`))
	// A signature that is not base64 is wrapped (base64) like any other,
	// which the SDK takes.
	b = EncodeResponse(&translate.Response{Parts: []translate.Part{{Type: translate.PartThinking, Signature: "not base64!"}, {Type: translate.PartText, Text: "x"}}})
	if s := gjson.GetBytes(b, "candidates.0.content.parts.0.thoughtSignature").Str; !sigValid(s) || thoughtPart(s).Signature != "not base64!" {
		t.Errorf("signature %q: %s", s, b)
	}
}
