package fakeupstream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"google.golang.org/genai"
)

const gemKey = "AIzaSyFake-test-key-0001"

func newGemClient(t *testing.T, s *Server, apiKey string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      apiKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: s.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var gemLookup = []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{
	Name:        "lookup",
	Description: "Look something up.",
	Parameters: &genai.Schema{
		Type:       genai.TypeObject,
		Properties: map[string]*genai.Schema{"q": {Type: genai.TypeString}},
		Required:   []string{"q"},
	},
}}}}

func asGemError(t *testing.T, err error, code int) genai.APIError {
	t.Helper()
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not a genai.APIError", err, err)
	}
	if apiErr.Code != code {
		t.Fatalf("code %d, want %d: %+v", apiErr.Code, code, apiErr)
	}
	return apiErr
}

func TestGeminiGenerate(t *testing.T) {
	s := NewGemini(t, gemKey)
	c := newGemClient(t, s, gemKey)
	got, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hello world"), &genai.GenerateContentConfig{
		SystemInstruction: genai.NewContentFromText("be brief", genai.RoleUser),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Text() != "echo: hello world" || got.Candidates[0].FinishReason != genai.FinishReasonStop || got.Candidates[0].Content.Role != "model" {
		t.Errorf("reply: %+v", got.Candidates[0])
	}
	if got.ModelVersion != "gemini-2.5-flash" || got.ResponseID == "" {
		t.Errorf("envelope: %q %q", got.ModelVersion, got.ResponseID)
	}
	// prompt: len("be brief")+len("hello world") = 19 bytes -> 19/4+1; candidates: 3 words.
	if u := got.UsageMetadata; u.PromptTokenCount != 5 || u.CandidatesTokenCount != 3 || u.TotalTokenCount != 8 || u.ThoughtsTokenCount != 0 {
		t.Errorf("usage: %+v", u)
	}
	if s.Requests(gemKey) != 1 || s.TotalRequests() != 1 || s.MaxConcurrent(gemKey) != 1 {
		t.Errorf("counters: %d %d %d", s.Requests(gemKey), s.TotalRequests(), s.MaxConcurrent(gemKey))
	}
	last := s.LastRequest()
	if last.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || last.Key != gemKey || last.Header.Get("X-Goog-Api-Key") != gemKey ||
		gjson.GetBytes(last.Body, "systemInstruction.parts.0.text").Str != "be brief" {
		t.Errorf("last request: %+v %s", last, last.Body)
	}

	// ?key= works too, as do snake_case names and a lone Content for the
	// repeated contents.
	res, err := http.Post(s.URL+"/v1beta/models/gemini-2.5-pro:generateContent?key="+gemKey, "application/json",
		strings.NewReader(`{"contents":{"parts":[{"text":"hi"}]},"generation_config":{"max_output_tokens":100}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || gjson.GetBytes(b, "candidates.0.content.parts.0.text").Str != "echo: hi" || s.LastRequest().Key != gemKey {
		t.Errorf("?key=: %d %s", res.StatusCode, b)
	}

	// Candidate count, stop sequences and max output tokens.
	got, err = c.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("one two three four"), &genai.GenerateContentConfig{
		CandidateCount: 2, StopSequences: []string{"three"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Candidates) != 2 || got.Candidates[1].Content.Parts[0].Text != "echo: one two " || got.Candidates[1].Index != 1 ||
		got.UsageMetadata.CandidatesTokenCount != 6 {
		t.Errorf("candidates: %+v %+v", got.Candidates, got.UsageMetadata)
	}
	got, err = c.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("one two three four"), &genai.GenerateContentConfig{
		MaxOutputTokens: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Text() != "echo: one" || got.Candidates[0].FinishReason != genai.FinishReasonMaxTokens {
		t.Errorf("max tokens: %q %s", got.Text(), got.Candidates[0].FinishReason)
	}
}

func TestGeminiStream(t *testing.T) {
	s := NewGemini(t, gemKey)
	c := newGemClient(t, s, gemKey)
	var text strings.Builder
	var chunks []*genai.GenerateContentResponse
	for chunk, err := range c.Models.GenerateContentStream(context.Background(), "gemini-2.5-flash", genai.Text("one two three"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, chunk)
		text.WriteString(chunk.Text())
	}
	if text.String() != "echo: one two three" || len(chunks) != 4 {
		t.Fatalf("%d chunks: %q", len(chunks), text.String())
	}
	for i, ch := range chunks[:3] {
		if ch.Candidates[0].FinishReason != "" || ch.UsageMetadata.PromptTokenCount != 4 || ch.UsageMetadata.CandidatesTokenCount != 0 {
			t.Errorf("chunk %d: %+v %+v", i, ch.Candidates[0], ch.UsageMetadata)
		}
	}
	lastChunk := chunks[3]
	if lastChunk.Candidates[0].FinishReason != genai.FinishReasonStop || lastChunk.UsageMetadata.CandidatesTokenCount != 4 ||
		lastChunk.UsageMetadata.TotalTokenCount != 8 || lastChunk.ResponseID != chunks[0].ResponseID {
		t.Errorf("last chunk: %+v %+v", lastChunk.Candidates[0], lastChunk.UsageMetadata)
	}
	if q := s.LastRequest().Query; q != "alt=sse" {
		t.Errorf("query %q", q)
	}

	// The raw wire: SSE data lines separated by CRLF CRLF.
	body := `{"contents":[{"role":"user","parts":[{"text":"hi there"}]}]}`
	req, _ := http.NewRequest("POST", s.URL+"/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", strings.NewReader(body))
	req.Header.Set("X-Goog-Api-Key", gemKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("content type %q", ct)
	}
	events := strings.Split(strings.TrimSuffix(string(raw), "\r\n\r\n"), "\r\n\r\n")
	if len(events) != 3 {
		t.Fatalf("events: %q", raw)
	}
	for _, e := range events {
		d, ok := strings.CutPrefix(e, "data: ")
		if !ok || !gjson.Valid(d) || strings.Contains(d, "\n") {
			t.Errorf("event %q", e)
		}
	}

	// Without alt=sse: a streamed JSON array of the same chunks.
	req, _ = http.NewRequest("POST", s.URL+"/v1beta/models/gemini-2.5-flash:streamGenerateContent", strings.NewReader(body))
	req.Header.Set("X-Goog-Api-Key", gemKey)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil || len(arr) != 3 || gjson.GetBytes(arr[2], "candidates.0.finishReason").Str != "STOP" {
		t.Errorf("json array (%v): %s", err, raw)
	}
}

func TestGeminiFunctionCall(t *testing.T) {
	s := NewGemini(t, gemKey)
	c := newGemClient(t, s, gemKey)
	ctx := context.Background()
	cfg := &genai.GenerateContentConfig{Tools: gemLookup}
	history := genai.Text("capital of France")
	first, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", history, cfg)
	if err != nil {
		t.Fatal(err)
	}
	calls := first.FunctionCalls()
	if len(calls) != 1 || calls[0].Name != "lookup" || calls[0].Args["q"] != "capital of France" || calls[0].ID != "" ||
		first.Candidates[0].FinishReason != genai.FinishReasonStop {
		t.Fatalf("first reply: %+v", first.Candidates[0].Content.Parts)
	}
	if sig := first.Candidates[0].Content.Parts[0].ThoughtSignature; sig != nil {
		t.Errorf("gemini-2.5 without thoughts got a signature")
	}
	history = append(history, first.Candidates[0].Content,
		genai.NewContentFromFunctionResponse("lookup", map[string]any{"result": "Paris"}, genai.RoleUser))
	second, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", history, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if second.Text() != "result: Paris" {
		t.Errorf("second reply: %+v", second.Candidates[0].Content.Parts)
	}

	// Streamed, the call comes whole in one chunk with the finish reason.
	var parts []*genai.Part
	n := 0
	for chunk, err := range c.Models.GenerateContentStream(ctx, "gemini-2.5-flash", genai.Text("weather in Paris"), cfg) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		parts = append(parts, chunk.Candidates[0].Content.Parts...)
		if chunk.Candidates[0].FinishReason != genai.FinishReasonStop {
			t.Errorf("finish %q", chunk.Candidates[0].FinishReason)
		}
	}
	if n != 1 || len(parts) != 1 || parts[0].FunctionCall == nil || parts[0].FunctionCall.Args["q"] != "weather in Paris" {
		t.Errorf("streamed call: %d %+v", n, parts)
	}

	// Mode NONE: text; mode ANY with allowed names: the named function.
	none := &genai.GenerateContentConfig{Tools: gemLookup, ToolConfig: &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeNone}}}
	if got, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("x"), none); err != nil || got.Text() != "echo: x" {
		t.Errorf("mode NONE: %v %v", got, err)
	}

	// A response with no call before it; counts that do not match.
	_, err = c.Models.GenerateContent(ctx, "gemini-2.5-flash", []*genai.Content{
		genai.NewContentFromText("x", genai.RoleUser),
		genai.NewContentFromText("ok", genai.RoleModel),
		genai.NewContentFromFunctionResponse("lookup", map[string]any{"result": "y"}, genai.RoleUser),
	}, cfg)
	if e := asGemError(t, err, 400); e.Message != "Please ensure that function response turn comes immediately after a function call turn." || e.Status != "INVALID_ARGUMENT" {
		t.Errorf("orphan response: %+v", e)
	}
	_, err = c.Models.GenerateContent(ctx, "gemini-2.5-flash", []*genai.Content{
		history[0], history[1],
		genai.NewContentFromParts([]*genai.Part{
			genai.NewPartFromFunctionResponse("lookup", map[string]any{"result": "a"}),
			genai.NewPartFromFunctionResponse("lookup", map[string]any{"result": "b"}),
		}, genai.RoleUser),
	}, cfg)
	if e := asGemError(t, err, 400); !strings.Contains(e.Message, "number of function response parts is equal to the number of function call parts") {
		t.Errorf("count mismatch: %+v", e)
	}
	_, err = c.Models.GenerateContent(ctx, "gemini-2.5-flash", []*genai.Content{history[1], history[2]}, cfg)
	if e := asGemError(t, err, 400); e.Message != "Please ensure that function call turn comes immediately after a user turn or after a function response turn." {
		t.Errorf("call first: %+v", e)
	}
}

func TestGeminiThinking(t *testing.T) {
	s := NewGemini(t, gemKey)
	c := newGemClient(t, s, gemKey)
	ctx := context.Background()
	cfg := &genai.GenerateContentConfig{Tools: gemLookup, ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true, ThinkingBudget: genai.Ptr[int32](1024)}}
	got, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("capital of France"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	parts := got.Candidates[0].Content.Parts
	if len(parts) != 2 || !parts[0].Thought || parts[0].Text != "thinking about: capital of France" || parts[1].FunctionCall == nil ||
		len(parts[1].ThoughtSignature) == 0 {
		t.Fatalf("parts: %+v", parts)
	}
	if u := got.UsageMetadata; u.ThoughtsTokenCount != 5 || u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount+5 {
		t.Errorf("usage: %+v", u)
	}

	// Gemini 3 signs function calls even without thoughts, and insists on
	// getting the signature back in the current turn.
	cfg3 := &genai.GenerateContentConfig{Tools: gemLookup}
	history := genai.Text("capital of France")
	first, err := c.Models.GenerateContent(ctx, "gemini-3-pro-preview", history, cfg3)
	if err != nil {
		t.Fatal(err)
	}
	call := first.Candidates[0].Content.Parts[0]
	if call.FunctionCall == nil || len(call.ThoughtSignature) == 0 {
		t.Fatalf("gemini-3 call: %+v", call)
	}
	history = append(history, first.Candidates[0].Content,
		genai.NewContentFromFunctionResponse("lookup", map[string]any{"result": "Paris"}, genai.RoleUser))
	if got, err := c.Models.GenerateContent(ctx, "gemini-3-pro-preview", history, cfg3); err != nil || got.Text() != "result: Paris" {
		t.Fatalf("round trip: %v %v", got, err)
	}
	stripped := []*genai.Content{history[0], genai.NewContentFromFunctionCall("lookup", call.FunctionCall.Args, genai.RoleModel), history[2]}
	_, err = c.Models.GenerateContent(ctx, "gemini-3-pro-preview", stripped, cfg3)
	if e := asGemError(t, err, 400); !strings.HasPrefix(e.Message, "Function call is missing a thought_signature in functionCall parts.") ||
		!strings.Contains(e.Message, "`default_api:lookup` , position 2.") {
		t.Errorf("stripped: %+v", e)
	}
	// The same history is fine for Gemini 2.5, and for Gemini 3 once a new
	// user turn has begun.
	if _, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", stripped, cfg3); err != nil {
		t.Errorf("2.5 without signature: %v", err)
	}
	later := append(append([]*genai.Content{}, stripped...), genai.NewContentFromText("and Spain?", genai.RoleUser))
	if _, err := c.Models.GenerateContent(ctx, "gemini-3-pro-preview", later, cfg3); err != nil {
		t.Errorf("earlier turn without signature: %v", err)
	}
	tampered := []*genai.Content{history[0], {Role: genai.RoleModel, Parts: []*genai.Part{{
		FunctionCall: &genai.FunctionCall{Name: "lookup", Args: map[string]any{"q": "capital of Spain"}}, ThoughtSignature: call.ThoughtSignature,
	}}}, history[2]}
	_, err = c.Models.GenerateContent(ctx, "gemini-3-pro-preview", tampered, cfg3)
	if e := asGemError(t, err, 400); e.Message != "Corrupted thought signature." {
		t.Errorf("tampered: %+v", e)
	}
	// The documented dummy signature (sent raw: the SDK would base64-encode
	// it) skips validation.
	body := `{"contents":[{"role":"user","parts":[{"text":"capital of France"}]},{"role":"model","parts":[{"functionCall":{"name":"lookup","args":{"q":"x"}},` +
		`"thoughtSignature":"skip_thought_signature_validator"}]},{"role":"user","parts":[{"functionResponse":{"name":"lookup","response":{"result":"r"}}}]}]}`
	res := gemRaw(t, s, "gemini-3-pro-preview:generateContent", body)
	if b, _ := io.ReadAll(res.Body); res.StatusCode != 200 {
		t.Errorf("dummy signature: %d %s", res.StatusCode, b)
	}
	res.Body.Close()

	// Streamed thoughts: one chunk per word, flagged thought.
	var thoughts, text strings.Builder
	for chunk, err := range c.Models.GenerateContentStream(ctx, "gemini-2.5-flash", genai.Text("hi"),
		&genai.GenerateContentConfig{ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true}}) {
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range chunk.Candidates[0].Content.Parts {
			if p.Thought {
				thoughts.WriteString(p.Text)
			} else {
				text.WriteString(p.Text)
			}
		}
	}
	if thoughts.String() != "thinking about: hi" || text.String() != "echo: hi" {
		t.Errorf("streamed thoughts %q text %q", thoughts.String(), text.String())
	}
}

func TestGeminiCountTokens(t *testing.T) {
	s := NewGemini(t, gemKey)
	c := newGemClient(t, s, gemKey)
	ctx := context.Background()
	contents := []*genai.Content{
		genai.NewContentFromText("hello there", genai.RoleUser),
		genai.NewContentFromText("echo: hello there", genai.RoleModel),
		genai.NewContentFromText("and again", genai.RoleUser),
	}
	count, err := c.Models.CountTokens(ctx, "gemini-2.5-flash", contents, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", contents, nil)
	if err != nil {
		t.Fatal(err)
	}
	if count.TotalTokens != got.UsageMetadata.PromptTokenCount || count.TotalTokens != (11+17+9)/4+1 {
		t.Errorf("count %d, prompt %d", count.TotalTokens, got.UsageMetadata.PromptTokenCount)
	}
	if s.LastRequest().Path != "/v1beta/models/gemini-2.5-flash:generateContent" {
		t.Errorf("path %q", s.LastRequest().Path)
	}
	// The generateContentRequest form, with tools counted.
	res := gemRaw(t, s, "gemini-2.5-flash:countTokens", `{"generateContentRequest":{"model":"models/gemini-2.5-flash",`+
		`"contents":[{"role":"user","parts":[{"text":"hello there"}]}],"tools":[{"functionDeclarations":[{"name":"f","description":"does f"}]}]}}`)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || gjson.GetBytes(b, "totalTokens").Int() != (11+1+6)/4+1 {
		t.Errorf("generateContentRequest: %d %s", res.StatusCode, b)
	}
}

func TestGeminiErrors(t *testing.T) {
	s := NewGemini(t, gemKey)
	ctx := context.Background()
	_, err := newGemClient(t, s, "AIzaSy-wrong").Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("hi"), nil)
	e := asGemError(t, err, 400)
	if e.Status != "INVALID_ARGUMENT" || e.Message != "API key not valid. Please pass a valid API key." || len(e.Details) == 0 ||
		e.Details[0]["reason"] != "API_KEY_INVALID" {
		t.Errorf("bad key: %+v", e)
	}
	c := newGemClient(t, s, gemKey)
	s.SetKeyValid(gemKey, false)
	_, err = c.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("hi"), nil)
	if e := asGemError(t, err, 400); e.Details[0]["reason"] != "API_KEY_INVALID" {
		t.Errorf("invalidated key: %+v", e)
	}
	if s.Requests(gemKey) != 0 {
		t.Error("rejected request counted")
	}
	s.SetKeyValid(gemKey, true)

	res, err := http.Post(s.URL+"/v1beta/models/gemini-2.5-flash:generateContent", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 403 || gjson.GetBytes(b, "error.status").Str != "PERMISSION_DENIED" {
		t.Errorf("no key: %d %s", res.StatusCode, b)
	}

	for _, tc := range []struct {
		b      Behavior
		code   int
		status string
		check  func(genai.APIError) bool
	}{
		{Behavior{Status: 429, RetryAfter: "7", Times: 1}, 429, "RESOURCE_EXHAUSTED", func(e genai.APIError) bool {
			return strings.Contains(e.Message, "Please retry in 7s.") && strings.Contains(string(mustJSON(e.Details)), "PerMinute") &&
				strings.Contains(string(mustJSON(e.Details)), `"retryDelay":"7s"`)
		}},
		{Behavior{Status: 429, ErrorCode: "insufficient_quota", Times: 1}, 429, "RESOURCE_EXHAUSTED", func(e genai.APIError) bool {
			return strings.Contains(string(mustJSON(e.Details)), "GenerateRequestsPerDayPerProjectPerModel-FreeTier")
		}},
		{Behavior{Status: 500, Times: 1}, 500, "INTERNAL", nil},
		{Behavior{Status: 503, Times: 1}, 503, "UNAVAILABLE", nil},
		{Behavior{Status: 403, Times: 1}, 403, "PERMISSION_DENIED", nil},
	} {
		s.SetBehavior(gemKey, tc.b)
		_, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("hi"), nil)
		e := asGemError(t, err, tc.code)
		if e.Status != tc.status || (tc.check != nil && !tc.check(e)) {
			t.Errorf("%+v: %+v", tc.b, e)
		}
	}
	_, err = c.Models.GenerateContent(ctx, "unknown-model", genai.Text("hi"), nil)
	if e := asGemError(t, err, 404); e.Status != "NOT_FOUND" || !strings.HasPrefix(e.Message, "models/unknown-model is not found") {
		t.Errorf("unknown model: %+v", e)
	}
	if s.Requests(gemKey) != 6 {
		t.Errorf("requests %d, want 6", s.Requests(gemKey))
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func gemRaw(t *testing.T, s *Server, modelMethod, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/v1beta/models/"+modelMethod, strings.NewReader(body))
	req.Header.Set("X-Goog-Api-Key", gemKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestGeminiValidation drives the validator with bodies the SDK would not
// produce.
func TestGeminiValidation(t *testing.T) {
	s := NewGemini(t, gemKey)
	const user = `{"role":"user","parts":[{"text":"hi"}]}`
	contents := func(cs ...string) string { return `"contents":[` + strings.Join(cs, ",") + `]` }
	body := func(extra string, cs ...string) string {
		b := "{" + contents(cs...)
		if extra != "" {
			b += "," + extra
		}
		return b + "}"
	}
	fn := func(decl string) string { return `"tools":[{"functionDeclarations":[` + decl + `]}]` }
	for _, tc := range []struct {
		name, body, want string
	}{
		{"not json", `{"contents":`, "Invalid JSON payload received."},
		{"unknown top-level", body(`"messages":[]`, user), `Invalid JSON payload received. Unknown name "messages": Cannot find field.`},
		{"unknown nested", body(`"generationConfig":{"max_tokens":5}`, user), `Invalid JSON payload received. Unknown name "max_tokens" at 'generation_config': Cannot find field.`},
		{"type", body(`"generationConfig":{"maxOutputTokens":"lots"}`, user), `Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), "lots"`},
		{"thinking budget", body(`"generationConfig":{"thinkingConfig":{"thinkingBudget":1.5}}`, user), `Invalid value at 'generation_config.thinking_config.thinking_budget' (TYPE_INT32), 1.5`},
		{"content string", `{"contents":["hi"]}`, `Invalid value at 'contents[0]' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content), "hi"`},
		{"oneof", body("", `{"role":"user","parts":[{"text":"a","inlineData":{"mimeType":"image/png","data":"AAAA"}}]}`),
			"Invalid JSON payload received. Oneof field 'data' is already set. Cannot set 'inlineData'"},
		{"bad base64", body("", user, `{"role":"model","parts":[{"text":"a","thoughtSignature":"not base64!"}]}`, user),
			`Invalid value at 'contents[1].parts[0].thought_signature' (TYPE_BYTES), Base64 decoding failed for "not base64!"`},
		{"enum", body(`"toolConfig":{"functionCallingConfig":{"mode":"REQUIRED"}}`, user),
			`Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "REQUIRED"`},
		{"additionalProperties", body(fn(`{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}}`), user),
			`Unknown name "additionalProperties" at 'tools[0].function_declarations[0].parameters': Cannot find field.`},
		{"no contents", `{}`, "* GenerateContentRequest.contents: contents is not specified\n"},
		{"role", body("", `{"role":"assistant","parts":[{"text":"hi"}]}`), "Please use a valid role: user, model."},
		{"no role multi-turn", body("", `{"parts":[{"text":"hi"}]}`, `{"parts":[{"text":"hi"}]}`), "Please use a valid role: user, model."},
		{"empty parts", body("", `{"role":"user","parts":[]}`), "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n"},
		{"empty part", body("", `{"role":"user","parts":[{}]}`), "* GenerateContentRequest.contents[0].parts[0].data: required oneof field 'data' must have one initialized field\n"},
		{"thought only", body("", `{"role":"user","parts":[{"thought":true}]}`), "required oneof field 'data' must have one initialized field"},
		{"function name", body(fn(`{"name":"look up"}`), user), "* GenerateContentRequest.tools[0].function_declarations[0].name: Invalid function name."},
		{"empty object params", body(fn(`{"name":"f","parameters":{"type":"OBJECT","properties":{}}}`), user),
			"* GenerateContentRequest.tools[0].function_declarations[0].parameters.properties: should be non-empty for OBJECT type\n"},
		{"required undefined", body(fn(`{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}},"required":["b"]}}`), user),
			"* GenerateContentRequest.tools[0].function_declarations[0].parameters.required[0]: property is not defined\n"},
		{"array items", body(fn(`{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"array"}}}}`), user),
			"* GenerateContentRequest.tools[0].function_declarations[0].parameters.properties[a].items: missing field.\n"},
		{"both schemas", body(fn(`{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}}},"parametersJsonSchema":{"type":"object"}}`), user),
			"parameters and parameters_json_schema cannot both be set"},
		{"max output tokens", body(`"generationConfig":{"maxOutputTokens":0}`, user), "* GenerateContentRequest.generation_config.max_output_tokens: max_output_tokens must be positive.\n"},
		{"mime type", body(`"generationConfig":{"responseMimeType":"text/html"}`, user), "* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are"},
		{"unsupported mime", body("", `{"role":"user","parts":[{"inlineData":{"mimeType":"application/zip","data":"AAAA"}}]}`), "Unsupported MIME type: application/zip"},
		{"not an image", body("", `{"role":"user","parts":[{"inlineData":{"mimeType":"image/png","data":"aGVsbG8="}}]}`), gemImageError},
		{"budget 0 on pro", body(`"generationConfig":{"thinkingConfig":{"thinkingBudget":0}}`, user), "Budget 0 is invalid. This model only works in thinking mode."},
		{"function call name", body("", user, `{"role":"model","parts":[{"functionCall":{"args":{}}}]}`, user),
			"* GenerateContentRequest.contents[1].parts[0].function_call.name: Name cannot be empty.\n"},
		{"response name mismatch", body("", user, `{"role":"model","parts":[{"functionCall":{"name":"f"}}]}`,
			`{"role":"user","parts":[{"functionResponse":{"name":"g","response":{}}}]}`), `function response "g" has no function call of that name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := gemRaw(t, s, "gemini-2.5-pro:generateContent", tc.body)
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			g := gjson.ParseBytes(b)
			if res.StatusCode != 400 || g.Get("error.code").Int() != 400 || g.Get("error.status").Str != "INVALID_ARGUMENT" {
				t.Fatalf("%d %s", res.StatusCode, b)
			}
			if msg := g.Get("error.message").Str; !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want %q", msg, tc.want)
			}
		})
	}
	// JSON-level errors carry a BadRequest detail naming the field.
	res := gemRaw(t, s, "gemini-2.5-flash:generateContent", body(`"generationConfig":{"foo":1}`, user))
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if gjson.GetBytes(b, "error.details.0.@type").Str != "type.googleapis.com/google.rpc.BadRequest" ||
		gjson.GetBytes(b, "error.details.0.fieldViolations.0.field").Str != "generation_config" {
		t.Errorf("details: %s", b)
	}
	// Accepted: parametersJsonSchema with JSON Schema keywords, snake_case.
	for _, ok := range []string{
		body(fn(`{"name":"f","parametersJsonSchema":{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}}`), user),
		body(`"generation_config":{"thinking_config":{"include_thoughts":true},"response_mime_type":"application/json"}`, user),
		body(`"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]`, user),
	} {
		res := gemRaw(t, s, "gemini-2.5-flash:generateContent", ok)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%d %s for %s", res.StatusCode, b, ok)
		}
	}
	// Unknown paths: JSON under /v1beta, Google's HTML 404 elsewhere.
	res = gemRaw(t, s, "gemini-2.5-flash:embedText", "{}")
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 404 || gjson.GetBytes(b, "error.status").Str != "NOT_FOUND" {
		t.Errorf("unknown method: %d %s", res.StatusCode, b)
	}
	hres, err := http.Get(s.URL + "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	hres.Body.Close()
	if hres.StatusCode != 404 || !strings.HasPrefix(hres.Header.Get("Content-Type"), "text/html") {
		t.Errorf("outside the API: %d %s", hres.StatusCode, hres.Header.Get("Content-Type"))
	}
}

func TestGeminiModels(t *testing.T) {
	s := NewGemini(t, gemKey)
	c := newGemClient(t, s, gemKey)
	ctx := context.Background()
	page, err := c.Models.List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != len(DefaultGeminiModels) || page.Items[0].Name != "models/gemini-2.5-flash" || page.Items[0].DisplayName != "Gemini 2.5 Flash" ||
		page.Items[0].InputTokenLimit == 0 {
		t.Errorf("models: %+v", page.Items)
	}
	res, err := http.Get(s.URL + "/v1beta/models?key=" + gemKey)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if gjson.GetBytes(b, "models.0.supportedGenerationMethods.0").Str != "generateContent" {
		t.Errorf("raw list: %s", b)
	}

	s.SetModels([]string{"m1", "m2", "m3"})
	page, err = c.Models.List(ctx, &genai.ListModelsConfig{PageSize: 2})
	if err != nil || len(page.Items) != 2 || page.NextPageToken == "" {
		t.Fatalf("page 1: %+v %v", page, err)
	}
	page, err = page.Next(ctx)
	if err != nil || len(page.Items) != 1 || page.Items[0].Name != "models/m3" {
		t.Errorf("page 2: %+v %v", page, err)
	}
	if m, err := c.Models.Get(ctx, "m2", nil); err != nil || m.Name != "models/m2" {
		t.Errorf("get: %+v %v", m, err)
	}
	_, err = c.Models.Get(ctx, "gemini-9", nil)
	asGemError(t, err, 404)
}

func TestGeminiCutAfter(t *testing.T) {
	s := NewGemini(t, gemKey)
	c := newGemClient(t, s, gemKey)
	s.SetBehavior(gemKey, Behavior{CutAfter: 2})
	n := 0
	var streamErr error
	for _, err := range c.Models.GenerateContentStream(context.Background(), "gemini-2.5-flash", genai.Text("a b c d e f"), nil) {
		if err != nil {
			streamErr = err
			break
		}
		n++
	}
	if streamErr == nil || n != 2 {
		t.Errorf("cut stream: %d chunks, err %v", n, streamErr)
	}
	_, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil)
	var apiErr genai.APIError
	if err == nil || errors.As(err, &apiErr) {
		t.Errorf("truncated body: %v", err)
	}

	// Raw: the connection drops after the chunks, no terminating chunk.
	s.SetBehavior(gemKey, Behavior{CutAfter: 50})
	req, _ := http.NewRequest("POST", s.URL+"/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", strings.NewReader(`{"contents":[{"parts":[{"text":"x"}]}]}`))
	req.Header.Set("X-Goog-Api-Key", gemKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "finishReason") {
			t.Error("cut stream sent its finishing chunk")
		}
	}
	res.Body.Close()
}
