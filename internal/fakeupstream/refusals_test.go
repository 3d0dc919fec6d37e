package fakeupstream

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// rawPost posts body to url with one credential header and returns the
// status and the body.
func rawPost(t *testing.T, url, header, value, body string) (int, gjson.Result) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(header, value)
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, gjson.ParseBytes(b)
}

func TestChatFamilyRefusals(t *testing.T) {
	s := NewOpenAI(t, "sk-refusals")
	post := func(body string) (int, gjson.Result) {
		return rawPost(t, s.URL+"/chat/completions", "Authorization", "Bearer sk-refusals", body)
	}
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	cases := []struct {
		name, body     string
		status         int
		message, param string
		code           string
	}{
		{"reasoning_effort on gpt-4o", `{"model":"gpt-4o",` + msgs + `,"reasoning_effort":"low"}`,
			400, "Unrecognized request argument supplied: reasoning_effort", "", ""},
		{"reasoning_effort on gpt-4.1-mini", `{"model":"gpt-4.1-mini",` + msgs + `,"reasoning_effort":"high"}`,
			400, "Unrecognized request argument supplied: reasoning_effort", "", ""},
		{"reasoning_effort on o3-mini", `{"model":"o3-mini",` + msgs + `,"reasoning_effort":"low"}`, 200, "", "", ""},
		{"null reasoning_effort on gpt-4o", `{"model":"gpt-4o",` + msgs + `,"reasoning_effort":null}`, 200, "", "", ""},
		{"max_tokens above gpt-4o's limit", `{"model":"gpt-4o",` + msgs + `,"max_tokens":32000}`,
			400, "max_tokens is too large: 32000. This model supports at most 16384 completion tokens, whereas you provided 32000.", "max_tokens", "invalid_value"},
		{"max_completion_tokens above gpt-4o-mini's limit", `{"model":"gpt-4o-mini",` + msgs + `,"max_completion_tokens":16385}`,
			400, "max_completion_tokens is too large: 16385. This model supports at most 16384 completion tokens, whereas you provided 16385.", "max_completion_tokens", "invalid_value"},
		{"max_tokens at gpt-4o's limit", `{"model":"gpt-4o",` + msgs + `,"max_tokens":16384}`, 200, "", "", ""},
		{"max_completion_tokens above gpt-4.1's limit", `{"model":"gpt-4.1",` + msgs + `,"max_completion_tokens":40000}`,
			400, "max_completion_tokens is too large: 40000. This model supports at most 32768 completion tokens, whereas you provided 40000.", "max_completion_tokens", "invalid_value"},
		{"max_completion_tokens within gpt-4.1's limit", `{"model":"gpt-4.1",` + msgs + `,"max_completion_tokens":32768}`, 200, "", "", ""},
		{"large max_completion_tokens on o3-mini", `{"model":"o3-mini",` + msgs + `,"max_completion_tokens":100000}`, 200, "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body.Raw)
			}
			if tc.status == 200 {
				return
			}
			if got := body.Get("error.message").String(); got != tc.message {
				t.Errorf("message %q, want %q", got, tc.message)
			}
			if got := body.Get("error.type").String(); got != "invalid_request_error" {
				t.Errorf("type %q", got)
			}
			for field, want := range map[string]string{"param": tc.param, "code": tc.code} {
				v := body.Get("error." + field)
				if want == "" && v.Type != gjson.Null || want != "" && v.String() != want {
					t.Errorf("%s = %s, want %q", field, v.Raw, want)
				}
			}
		})
	}
}

func TestGeminiOutputLimitRefusal(t *testing.T) {
	s := NewGemini(t, gemKey)
	post := func(model, body string) (int, gjson.Result) {
		return rawPost(t, s.URL+"/v1beta/models/"+model+":generateContent", "x-goog-api-key", gemKey, body)
	}
	const contents = `"contents":[{"role":"user","parts":[{"text":"hi"}]}]`
	status, body := post("gemini-2.5-flash", `{`+contents+`,"generationConfig":{"maxOutputTokens":65537}}`)
	if status != 400 || body.Get("error.status").String() != "INVALID_ARGUMENT" {
		t.Fatalf("status %d: %s", status, body.Raw)
	}
	want := "Unable to submit request because it has a maxOutputTokens value of 65537 but the supported range is from 1 (inclusive) to 65537 (exclusive). Update the value and try again."
	if got := body.Get("error.message").String(); got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	status, body = post("gemini-2.0-flash", `{`+contents+`,"generation_config":{"max_output_tokens":10000}}`)
	if status != 400 || !strings.Contains(body.Get("error.message").String(), "to 8193 (exclusive)") {
		t.Errorf("gemini-2.0-flash, snake_case: status %d: %s", status, body.Raw)
	}
	if status, body = post("gemini-2.5-pro", `{`+contents+`,"generationConfig":{"maxOutputTokens":65536}}`); status != 200 {
		t.Errorf("at the limit: status %d: %s", status, body.Raw)
	}
	// Streaming is refused the same way, before any event.
	status, body = rawPost(t, s.URL+"/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "x-goog-api-key", gemKey,
		`{`+contents+`,"generationConfig":{"maxOutputTokens":100000}}`)
	if status != 400 || !strings.Contains(body.Get("error.message").String(), "maxOutputTokens value of 100000") {
		t.Errorf("stream: status %d: %s", status, body.Raw)
	}
}

func TestSetTextOnly(t *testing.T) {
	oai := NewOpenAI(t, "sk-text")
	ant := NewAnthropic(t, "sk-ant-text")
	gem := NewGemini(t, gemKey)
	type probe struct {
		name                 string
		server               *Server
		post                 func() (int, gjson.Result)
		text                 func(gjson.Result) string
		calledTool           func(gjson.Result) bool
		wantText, wantCalled string
	}
	probes := []probe{
		{
			name: "openai", server: oai,
			post: func() (int, gjson.Result) {
				return rawPost(t, oai.URL+"/chat/completions", "Authorization", "Bearer sk-text",
					`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}]}`)
			},
			text:       func(r gjson.Result) string { return r.Get("choices.0.message.content").String() },
			calledTool: func(r gjson.Result) bool { return r.Get("choices.0.message.tool_calls").IsArray() },
		},
		{
			name: "anthropic", server: ant,
			post: func() (int, gjson.Result) {
				return rawPost(t, ant.URL+"/v1/messages", "x-api-key", "sk-ant-text",
					`{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"lookup","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto"}}`)
			},
			text:       func(r gjson.Result) string { return r.Get(`content.#(type=="text").text`).String() },
			calledTool: func(r gjson.Result) bool { return r.Get(`content.#(type=="tool_use")`).Exists() },
		},
		{
			name: "gemini", server: gem,
			post: func() (int, gjson.Result) {
				return rawPost(t, gem.URL+"/v1beta/models/gemini-2.5-flash:generateContent", "x-goog-api-key", gemKey,
					`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"lookup"}]}],"tool_config":{"function_calling_config":{"mode":"AUTO"}}}`)
			},
			text:       func(r gjson.Result) string { return r.Get("candidates.0.content.parts.0.text").String() },
			calledTool: func(r gjson.Result) bool { return r.Get("candidates.0.content.parts.0.functionCall").Exists() },
		},
	}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			if status, r := p.post(); status != 200 || !p.calledTool(r) {
				t.Fatalf("default: status %d, want a tool call: %s", status, r.Raw)
			}
			p.server.SetTextOnly(true)
			if status, r := p.post(); status != 200 || p.calledTool(r) || p.text(r) != "echo: hi" {
				t.Fatalf("text only: status %d, want the text echo: %s", status, r.Raw)
			}
			p.server.Reset()
			if status, r := p.post(); status != 200 || !p.calledTool(r) {
				t.Fatalf("after Reset: status %d, want a tool call: %s", status, r.Raw)
			}
		})
	}
}
