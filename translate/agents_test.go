package translate_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/providers"
	"github.com/llmproxy/caddy-llm-proxy/translate"
	"github.com/llmproxy/caddy-llm-proxy/translate/internal/respcheck"
)

// The agent CLIs' own requests (Claude Code 2.1, Codex CLI 0.169, Gemini
// CLI 0.61, captured by internal/e2e and copied to testdata/agents), each
// translated for every other provider as the engine does (decode, Fit,
// encode), sent to the strict fake of that provider, and its answer (whole
// and streamed) translated back with the client's tool names and kinds.

type agentRequest struct {
	name   string
	client string // translate format
	body   []byte
	opts   translate.DecodeOptions
	// want is what the fake answers in the client's terms: a call of this
	// tool (the first offered), or text when "".
	wantTool string
}

func agentRequests(t *testing.T) []agentRequest {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "agents", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	gem := translate.DecodeOptions{Model: "gemini-2.5-flash", Stream: true}
	// Claude Code's follow-up with mid-conversation system messages, as it
	// sends them to Claude Opus 4.8 and later.
	withSystem := read("claude-followup.json")
	for _, m := range []string{
		`{"role":"system","content":[{"type":"text","text":"Plan mode is now off.","cache_control":{"type":"ephemeral"}}]}`,
		`{"role":"system","content":[],"output_config":{"effort":"medium"}}`,
	} {
		withSystem, _ = sjson.SetRawBytes(withSystem, "messages.-1", []byte(m))
	}
	return []agentRequest{
		{"codex-first", "openai-responses", read("codex-first.json"), translate.DecodeOptions{}, "exec"},
		{"codex-followup", "openai-responses", read("codex-followup.json"), translate.DecodeOptions{}, ""},
		{"codex-custom-model-first", "openai-responses", read("codex-custom-model-first.json"), translate.DecodeOptions{}, "exec_command"},
		{"codex-custom-model-followup", "openai-responses", read("codex-custom-model-followup.json"), translate.DecodeOptions{}, ""},
		{"claude-first", "anthropic", read("claude-first.json"), translate.DecodeOptions{}, "Agent"},
		{"claude-followup", "anthropic", read("claude-followup.json"), translate.DecodeOptions{}, ""},
		{"claude-followup-system", "anthropic", withSystem, translate.DecodeOptions{}, ""},
		{"gemini-cli-first", "gemini", read("gemini-cli-first.json"), gem, "update_topic"},
		{"gemini-cli-followup", "gemini", read("gemini-cli-followup.json"), gem, ""},
		// Sent back after an answer of Anthropic's through an earlier proxy,
		// which handed Gemini CLI the bare Anthropic signature.
		{"gemini-cli-followup-from-anthropic", "gemini", read("gemini-cli-followup-from-anthropic.json"), gem, ""},
	}
}

var agentTargets = []struct{ provider, model string }{
	{"openai", "gpt-4o"},
	{"openai", "gpt-4.1-mini"},
	{"openai", "o4-mini"},
	{"anthropic", "claude-sonnet-4-5-20250929"},
	{"anthropic", "claude-opus-4-8"},
	{"anthropic", "claude-3-5-haiku-20241022"},
	{"gemini", "gemini-2.5-flash"},
	{"gemini", "gemini-2.5-pro"},
	{"gemini", "gemini-2.0-flash"},
	{"gemini", "gemini-3-pro-preview"},
}

func TestAgentRequestsThroughEveryProvider(t *testing.T) {
	const key = "k-agents"
	fakes := map[string]*fakeupstream.Server{
		"openai":    fakeupstream.NewOpenAI(t, key),
		"anthropic": fakeupstream.NewAnthropic(t, key),
		"gemini":    fakeupstream.NewGemini(t, key),
	}
	for _, ar := range agentRequests(t) {
		client := translate.Client(ar.client)
		for _, tg := range agentTargets {
			prov := providers.Lookup(tg.provider)
			if prov.Format() == ar.client {
				continue // passed through untouched
			}
			for _, stream := range []bool{false, true} {
				name := ar.name + "/" + tg.model
				if stream {
					name += "/stream"
				}
				t.Run(name, func(t *testing.T) {
					canon, err := client.DecodeRequest(ar.body, ar.opts)
					if err != nil {
						t.Fatal(err)
					}
					tools := translate.NewClientTools(canon)
					req := *canon
					req.Model, req.Stream = tg.model, stream
					providers.Fit(&req, 0)
					codec := translate.Provider(prov.Format())
					body, err := codec.EncodeRequest(&req)
					if err != nil {
						t.Fatal(err)
					}
					fake := fakes[tg.provider]
					hr, _ := http.NewRequest("POST", prov.GenerateURL(fake.URL, tg.model, stream), bytes.NewReader(body))
					hr.Header.Set("Content-Type", "application/json")
					prov.Authorize(hr, key)
					resp, err := http.DefaultClient.Do(hr)
					if err != nil {
						t.Fatal(err)
					}
					answer, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Fatalf("%s refused the translated request: %d %s", tg.provider, resp.StatusCode, answer)
					}
					var out []byte
					if stream {
						out = translateStream(t, codec, tools.Wrap(client.NewStreamEncoder(translate.StreamOptions{Model: "client-model"})), answer)
					} else {
						canonResp, err := codec.DecodeResponse(answer)
						if err != nil {
							t.Fatal(err)
						}
						tools.RestoreResponse(canonResp)
						out = client.EncodeResponse(canonResp)
					}
					// The fake answers "result: ..." after a tool result, and
					// "echo: ..." when something else comes last, as a system
					// message does in Chat.
					wantText := "result: "
					if ar.name == "claude-followup-system" && tg.provider == "openai" {
						wantText = "echo: "
					}
					checkAgentAnswer(t, ar, stream, out, wantText)
				})
			}
		}
	}
}

// translateStream decodes a provider stream into canonical events and
// encodes them with enc.
func translateStream(t *testing.T, codec translate.ProviderCodec, enc translate.StreamEncoder, sse []byte) []byte {
	t.Helper()
	dec := codec.NewStreamDecoder()
	rd := translate.NewSSEReader(bytes.NewReader(sse))
	var out []byte
	var evs []translate.StreamEvent
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if evs, err = dec.Decode(evs[:0], ev); err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			out = enc.Encode(out, &evs[i])
		}
	}
	if !dec.Finished() {
		t.Fatalf("stream cut: %s", sse)
	}
	return out
}

// checkAgentAnswer checks the answer as the client reads it: a call of
// the tool the client declared, under its own name, namespace and kind,
// or text.
func checkAgentAnswer(t *testing.T, ar agentRequest, stream bool, out []byte, wantText string) {
	t.Helper()
	type call struct{ typ, name, ns, input string }
	var calls []call
	var text string
	switch ar.client {
	case "openai-responses":
		var final gjson.Result
		if stream {
			events := respcheck.Framing(t, out, true)
			final = events[len(events)-1].Get("response")
		} else {
			final = gjson.ParseBytes(out)
		}
		for _, it := range final.Get("output").Array() {
			switch it.Get("type").Str {
			case "function_call":
				calls = append(calls, call{"function_call", it.Get("name").Str, it.Get("namespace").Str, it.Get("arguments").Str})
			case "custom_tool_call":
				calls = append(calls, call{"custom_tool_call", it.Get("name").Str, it.Get("namespace").Str, it.Get("input").Str})
			case "message":
				text += it.Get("content.0.text").Str
			}
		}
	case "anthropic":
		if stream {
			for _, line := range strings.Split(string(out), "\n") {
				d := gjson.Parse(strings.TrimPrefix(line, "data: "))
				switch {
				case d.Get("content_block.type").Str == "tool_use":
					calls = append(calls, call{"tool_use", d.Get("content_block.name").Str, "", ""})
				case d.Get("delta.type").Str == "text_delta":
					text += d.Get("delta.text").Str
				}
			}
		} else {
			for _, c := range gjson.GetBytes(out, "content").Array() {
				switch c.Get("type").Str {
				case "tool_use":
					calls = append(calls, call{"tool_use", c.Get("name").Str, "", c.Get("input").Raw})
				case "text":
					text += c.Get("text").Str
				}
			}
		}
	case "gemini":
		body := out
		if stream {
			var parts []string
			for _, line := range strings.Split(string(out), "\n") {
				if d, ok := strings.CutPrefix(line, "data: "); ok {
					parts = append(parts, gjson.Get(d, "candidates.0.content.parts").Raw)
				}
			}
			body = []byte(`{"candidates":[{"content":{"parts":` + joinArrays(parts) + `}}]}`)
		}
		for _, p := range gjson.GetBytes(body, "candidates.0.content.parts").Array() {
			if fc := p.Get("functionCall"); fc.Exists() {
				calls = append(calls, call{"functionCall", fc.Get("name").Str, "", fc.Get("args").Raw})
			} else if !p.Get("thought").Bool() {
				text += p.Get("text").Str
			}
		}
	}
	if ar.wantTool == "" {
		if len(calls) != 0 || !strings.HasPrefix(text, wantText) {
			t.Fatalf("want the fake's text answer, got calls %+v text %q:\n%s", calls, text, out)
		}
		return
	}
	if len(calls) != 1 || calls[0].name != ar.wantTool {
		t.Fatalf("want a call of %s, got %+v text %q:\n%.2000s", ar.wantTool, calls, text, out)
	}
	if ar.name == "codex-first" {
		// exec is a custom tool of Codex's "functions" namespace: its call
		// comes back as one, its input the fake's only string argument.
		if c := calls[0]; c.typ != "custom_tool_call" || c.ns != "functions" || !strings.HasSuffix(c.input, "e2e tools turn: look around") {
			t.Fatalf("exec call %+v", c)
		}
	}
}

func joinArrays(raws []string) string {
	var items []string
	for _, r := range raws {
		for _, v := range gjson.Parse(r).Array() {
			items = append(items, v.Raw)
		}
	}
	return "[" + strings.Join(items, ",") + "]"
}

// Gemini CLI through Anthropic with thinking, over a tool round trip: the
// CLI keeps only the functionCall part and its thoughtSignature (it drops
// thought parts), so that signature must bring back the thinking text
// Anthropic signed (the e2e suite's gemini/anthropic/tools cell).
func TestGeminiCLIThinkingThroughAnthropic(t *testing.T) {
	const key = "k-sig"
	fake := fakeupstream.NewAnthropic(t, key)
	prov := providers.Lookup("anthropic")
	codec := translate.Provider("anthropic")
	client := translate.Client("gemini")
	first, err := os.ReadFile(filepath.Join("testdata", "agents", "gemini-cli-first.json"))
	if err != nil {
		t.Fatal(err)
	}
	send := func(body []byte, stream bool) []byte {
		t.Helper()
		canon, err := client.DecodeRequest(body, translate.DecodeOptions{Model: "gemini-2.5-flash", Stream: stream})
		if err != nil {
			t.Fatal(err)
		}
		req := *canon
		req.Model, req.Stream = "claude-sonnet-4-5-20250929", stream
		providers.Fit(&req, 0)
		up, err := codec.EncodeRequest(&req)
		if err != nil {
			t.Fatal(err)
		}
		if !gjson.GetBytes(up, "thinking").Exists() {
			t.Fatalf("thinking turned off: %.500s", up)
		}
		hr, _ := http.NewRequest("POST", prov.GenerateURL(fake.URL, req.Model, stream), bytes.NewReader(up))
		prov.Authorize(hr, key)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("Anthropic refused: %s", answer)
		}
		if stream {
			return translateStream(t, codec, client.NewStreamEncoder(translate.StreamOptions{}), answer)
		}
		r, err := codec.DecodeResponse(answer)
		if err != nil {
			t.Fatal(err)
		}
		return client.EncodeResponse(r)
	}
	for _, stream := range []bool{false, true} {
		out := send(first, stream)
		// The model turn as Gemini CLI keeps it: the functionCall part with
		// its signature, no thought parts.
		var call string
		for _, line := range strings.Split(string(out), "\n") {
			line = strings.TrimPrefix(line, "data: ")
			for _, p := range gjson.Get(line, "candidates.0.content.parts").Array() {
				if p.Get("functionCall").Exists() {
					call = p.Raw
				}
			}
		}
		if !gjson.Get(call, "thoughtSignature").Exists() {
			t.Fatalf("stream %v: no signed call in %s", stream, out)
		}
		follow, _ := sjson.SetRawBytes(first, "contents.-1", []byte(`{"role":"model","parts":[`+call+`]}`))
		follow, _ = sjson.SetRawBytes(follow, "contents.-1", []byte(`{"role":"user","parts":[{"functionResponse":{"id":`+
			gjson.Get(call, "functionCall.id").Raw+`,"name":"update_topic","response":{"output":"ok"}}}]}`))
		if out := send(follow, stream); !strings.Contains(string(out), "result: ") {
			t.Fatalf("stream %v: follow-up answer %s", stream, out)
		}
	}
}

// A Gemini client's OpenAPI schemas (upper-case types, nullable, int64
// bounds as strings) reach OpenAI as JSON Schema, in tools and in
// response_format; and a JSON Schema with "$schema" reaches Gemini without
// it.
func TestSchemasAcrossProviders(t *testing.T) {
	canon, err := translate.Client("gemini").DecodeRequest([]byte(`{"contents":[{"role":"user","parts":[{"text":"q"}]}],
		"tools":[{"functionDeclarations":[{"name":"find","parameters":{"type":"OBJECT","properties":{"q":{"type":"STRING"},"n":{"type":"INTEGER","nullable":true,"maxLength":"3"}},"required":["q"],"propertyOrdering":["q","n"]}}]}],
		"generationConfig":{"responseMimeType":"application/json","responseSchema":{"type":"ARRAY","items":{"type":"OBJECT","properties":{"a":{"type":"NUMBER"}}}}}}`),
		translate.DecodeOptions{Model: "gemini-2.5-flash"})
	if err != nil {
		t.Fatal(err)
	}
	req := *canon
	req.Model = "gpt-4o"
	providers.Fit(&req, 0)
	body, err := translate.Provider("openai-chat").EncodeRequest(&req)
	if err != nil {
		t.Fatal(err)
	}
	j := gjson.ParseBytes(body)
	p := j.Get("tools.0.function.parameters")
	if p.Get("type").Str != "object" || p.Get("properties.q.type").Str != "string" || p.Get("properties.n.type").Raw != `["integer","null"]` ||
		p.Get("properties.n.maxLength").Raw != "3" || p.Get("propertyOrdering").Exists() {
		t.Errorf("parameters %s", p.Raw)
	}
	if s := j.Get("response_format.json_schema.schema"); s.Get("type").Str != "array" || s.Get("items.type").Str != "object" || s.Get("items.properties.a.type").Str != "number" {
		t.Errorf("response format %s", j.Get("response_format").Raw)
	}
	fake := fakeupstream.NewOpenAI(t, "k")
	hr, _ := http.NewRequest("POST", fake.URL+"/chat/completions", bytes.NewReader(body))
	hr.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("OpenAI refused: %d", resp.StatusCode)
	}

	// Claude Code's tools declare JSON Schema draft 2020-12.
	claude, err := os.ReadFile(filepath.Join("testdata", "agents", "claude-first.json"))
	if err != nil {
		t.Fatal(err)
	}
	canon, err = translate.Client("anthropic").DecodeRequest(claude, translate.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req = *canon
	req.Model = "gemini-2.5-flash"
	providers.Fit(&req, 0)
	body, err = translate.Provider("gemini").EncodeRequest(&req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(claude), `"$schema"`) || strings.Contains(string(body), `"$schema"`) {
		t.Errorf("$schema reached Gemini")
	}
}

// Claude Code through Gemini 3, over a tool round trip: Claude Code sends
// thinking blocks back as it got them, so the Gemini signature it got
// (marked with its issuer) must reach Gemini again, which verifies it, and
// never Anthropic.
func TestClaudeCodeThinkingThroughGemini3(t *testing.T) {
	const key = "k-g3"
	fake := fakeupstream.NewGemini(t, key)
	prov := providers.Lookup("gemini")
	codec := translate.Provider("gemini")
	client := translate.Client("anthropic")
	first, err := os.ReadFile(filepath.Join("testdata", "agents", "claude-first.json"))
	if err != nil {
		t.Fatal(err)
	}
	const model = "gemini-3-pro-preview"
	send := func(body []byte) (up, out []byte) {
		t.Helper()
		canon, err := client.DecodeRequest(body, translate.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		req := *canon
		req.Model, req.Stream = model, true
		providers.Fit(&req, 0)
		if up, err = codec.EncodeRequest(&req); err != nil {
			t.Fatal(err)
		}
		hr, _ := http.NewRequest("POST", prov.GenerateURL(fake.URL, model, true), bytes.NewReader(up))
		prov.Authorize(hr, key)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("Gemini refused: %s", answer)
		}
		return up, translateStream(t, codec, client.NewStreamEncoder(translate.StreamOptions{}), answer)
	}
	_, out := send(first)
	// The assistant turn as Claude Code keeps it, from the stream.
	var blocks []string
	var cur map[string]any
	for _, line := range strings.Split(string(out), "\n") {
		d := gjson.Parse(strings.TrimPrefix(line, "data: "))
		switch d.Get("type").Str {
		case "content_block_start":
			cur = d.Get("content_block").Value().(map[string]any)
			if cur["type"] == "tool_use" {
				cur["input"] = ""
			}
		case "content_block_delta":
			switch dl := d.Get("delta"); dl.Get("type").Str {
			case "thinking_delta":
				cur["thinking"] = cur["thinking"].(string) + dl.Get("thinking").Str
			case "signature_delta":
				cur["signature"] = dl.Get("signature").Str
			case "input_json_delta":
				cur["input"] = cur["input"].(string) + dl.Get("partial_json").Str
			}
		case "content_block_stop":
			if cur["type"] == "tool_use" {
				var in any
				_ = json.Unmarshal([]byte(cur["input"].(string)), &in)
				cur["input"] = in
			}
			b, _ := json.Marshal(cur)
			blocks = append(blocks, string(b))
		}
	}
	var sig, id string
	for _, b := range blocks {
		if s := gjson.Get(b, "signature").Str; s != "" {
			sig = s
		}
		if gjson.Get(b, "type").Str == "tool_use" {
			id = gjson.Get(b, "id").Str
		}
	}
	if !strings.HasPrefix(sig, "llmproxy:gemini:") || id == "" {
		t.Fatalf("signature %q, tool id %q in %s", sig, id, blocks)
	}
	follow, _ := sjson.SetRawBytes(first, "messages.-1", []byte(`{"role":"assistant","content":[`+strings.Join(blocks, ",")+`]}`))
	follow, _ = sjson.SetRawBytes(follow, "messages.-1", []byte(`{"role":"user","content":[{"type":"tool_result","tool_use_id":"`+id+`","content":"ok"}]}`))
	up, out := send(follow)
	if !strings.Contains(string(up), `"thoughtSignature":"`+strings.TrimPrefix(sig, "llmproxy:gemini:")+`"`) {
		t.Errorf("Gemini's own signature not sent back: %.3000s", up)
	}
	if !strings.Contains(string(out), "result: ") {
		t.Errorf("follow-up answer %s", out)
	}
	// To Anthropic, the same history carries no thinking Anthropic would refuse.
	canon, err := client.DecodeRequest(follow, translate.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req := *canon
	req.Model = "claude-sonnet-4-5-20250929"
	providers.Fit(&req, 0)
	b, _ := translate.Provider("anthropic").EncodeRequest(&req)
	if strings.Contains(string(b), "llmproxy") || strings.Contains(string(b), strings.TrimPrefix(sig, "llmproxy:gemini:")) {
		t.Errorf("Gemini's signature sent to Anthropic: %.2000s", b)
	}
}
