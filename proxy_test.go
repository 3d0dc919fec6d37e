package llmproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
)

func TestChatCompletionsThroughCaddy(t *testing.T) {
	up := fakeupstream.NewOpenAI(t, "sk-upstream-key-0001")
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key sk-upstream-key-0001
			alias fast gpt-4o-mini
		}
	}`, name, up.URL))
	client := openaiClient()
	ctx := context.Background()

	// Non-streamed: parsed by openai-go, usage counted on the key.
	resp, err := client.Chat.Completions.New(ctx, userMessage("gpt-4o", "hello there"))
	if err != nil {
		t.Fatalf("non-streamed completion: %v", err)
	}
	if got := resp.Choices[0].Message.Content; got != "echo: hello there" {
		t.Errorf("content = %q", got)
	}
	if resp.Usage.PromptTokens == 0 || resp.Usage.CompletionTokens == 0 {
		t.Fatalf("usage missing: %+v", resp.Usage)
	}
	wantTokens := resp.Usage.PromptTokens + resp.Usage.CompletionTokens
	st := keyStatus(t, name, "oai", "sk-upstream-key-0001")
	if st.Usage.Total != 1 || st.Usage.TokensTotal != wantTokens {
		t.Errorf("after one request: usage %+v, want total 1 and %d tokens", st.Usage, wantTokens)
	}

	// Streamed without include_usage: the proxy asks for usage, counts it,
	// and does not hand the client a chunk it did not ask for.
	stream := client.Chat.Completions.NewStreaming(ctx, userMessage("gpt-4o", "hello there"))
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		chunk := stream.Current()
		acc.AddChunk(chunk)
		chunks++
		if len(chunk.Choices) == 0 || chunk.JSON.Usage.Valid() && chunk.Usage.TotalTokens > 0 {
			t.Errorf("client got a usage chunk it did not ask for: %s", chunk.RawJSON())
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if got := acc.Choices[0].Message.Content; got != "echo: hello there" {
		t.Errorf("streamed content = %q (%d chunks)", got, chunks)
	}
	if !gjson.GetBytes(up.LastRequest().Body, "stream_options.include_usage").Bool() {
		t.Errorf("proxy did not ask the upstream for stream usage: %s", up.LastRequest().Body)
	}
	st = keyStatus(t, name, "oai", "sk-upstream-key-0001")
	if st.Usage.Total != 2 || st.Usage.TokensTotal != 2*wantTokens {
		t.Errorf("after a stream: usage %+v, want total 2 and %d tokens", st.Usage, 2*wantTokens)
	}

	// Streamed with include_usage: the client gets its usage chunk.
	params := userMessage("fast", "hello there")
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream = client.Chat.Completions.NewStreaming(ctx, params)
	acc = openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream with usage: %v", err)
	}
	if acc.Usage.TotalTokens != wantTokens {
		t.Errorf("client's usage = %+v, want %d tokens", acc.Usage, wantTokens)
	}
	if got := gjson.GetBytes(up.LastRequest().Body, "model").String(); got != "gpt-4o-mini" {
		t.Errorf("alias: upstream got model %q, want gpt-4o-mini", got)
	}

	// A tool round trip passes through untouched, tool-call ids included.
	tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
		Name:       "lookup",
		Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}},
	})}
	first, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-4o", Tools: tools,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather?")},
	})
	if err != nil {
		t.Fatalf("tool call: %v", err)
	}
	call := first.Choices[0].Message.ToolCalls
	if len(call) != 1 || call[0].Function.Name != "lookup" {
		t.Fatalf("tool calls = %+v", call)
	}
	second, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-4o", Tools: tools,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage("weather?"),
			first.Choices[0].Message.ToParam(),
			openai.ToolMessage("sunny", call[0].ID),
		},
	})
	if err != nil {
		t.Fatalf("tool result: %v", err)
	}
	if got := second.Choices[0].Message.Content; got != "result: sunny" {
		t.Errorf("after tool result: %q", got)
	}
}

func TestStreamCutMidwayEndsWithError(t *testing.T) {
	up := fakeupstream.NewOpenAI(t, "sk-cut-0001")
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key sk-cut-0001
		}
	}`, instanceName(t), up.URL))
	up.SetBehavior("sk-cut-0001", fakeupstream.Behavior{CutAfter: 2})

	res := postChat(t, `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"one two three four five"}]}`)
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	if strings.Contains(res.body, "[DONE]") {
		t.Errorf("a cut stream must not end with [DONE]:\n%s", res.body)
	}
	events := strings.Split(strings.TrimSpace(res.body), "\n\n")
	last := strings.TrimPrefix(events[len(events)-1], "data: ")
	if gjson.Get(last, "error.code").String() != "stream_interrupted" {
		t.Errorf("last event is not an error event: %q", last)
	}

	// And the official client reports it as an error, not a clean end.
	up.SetBehavior("sk-cut-0001", fakeupstream.Behavior{CutAfter: 2})
	client := openaiClient()
	stream := client.Chat.Completions.NewStreaming(context.Background(), userMessage("gpt-4o", "one two three four five"))
	for stream.Next() {
	}
	if stream.Err() == nil {
		t.Error("openai-go saw a clean end of a cut stream")
	}
}

func TestClientErrorsInOpenAIShape(t *testing.T) {
	up := fakeupstream.NewOpenAI(t, "sk-err-0001")
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		client_key client-secret-1 client-secret-2
		max_body 1KiB
		upstream oai {
			provider openai
			base_url %s
			key sk-err-0001
			models gpt-4o gpt-4o-*
		}
	}`, instanceName(t), up.URL))

	auth := []string{"Authorization", "Bearer client-secret-2"}
	cases := []struct {
		name    string
		method  string
		path    string
		body    string
		headers []string
		status  int
		shape   string // openai, anthropic, gemini
		allow   string
	}{
		{"no key", "POST", "/v1/chat/completions", chatBody("gpt-4o", "hi"), nil, 401, "openai", ""},
		{"wrong key", "POST", "/v1/chat/completions", chatBody("gpt-4o", "hi"), []string{"Authorization", "Bearer nope"}, 401, "openai", ""},
		{"invalid json", "POST", "/v1/chat/completions", `{"model":`, auth, 400, "openai", ""},
		{"missing model", "POST", "/v1/chat/completions", `{"messages":[]}`, auth, 400, "openai", ""},
		{"model not a string", "POST", "/v1/chat/completions", `{"model":5,"messages":[]}`, auth, 400, "openai", ""},
		{"missing messages", "POST", "/v1/chat/completions", `{"model":"gpt-4o"}`, auth, 400, "openai", ""},
		{"unknown model", "POST", "/v1/chat/completions", chatBody("claude-9", "hi"), auth, 404, "openai", ""},
		{"unknown upstream prefix", "POST", "/v1/chat/completions", chatBody("oai/o1", "hi"), auth, 404, "openai", ""},
		{"too large", "POST", "/v1/chat/completions", chatBody("gpt-4o", strings.Repeat("x", 2000)), auth, 413, "openai", ""},
		{"wrong method", "GET", "/v1/chat/completions", "", auth, 405, "openai", "POST"},
		{"unknown path", "POST", "/v1/nothing", "{}", auth, 404, "openai", ""},
		{"unknown path anthropic", "POST", "/v1/nothing", "{}", []string{"x-api-key", "client-secret-1", "anthropic-version", "2023-06-01"}, 404, "anthropic", ""},
		{"unknown path gemini", "POST", "/v1beta/nothing", "{}", []string{"x-goog-api-key", "client-secret-1"}, 404, "gemini", ""},
		{"key in query, wrong", "GET", "/v1beta/models?key=nope", "", nil, 401, "gemini", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, proxyBase+tc.path, strings.NewReader(tc.body))
			for i := 0; i+1 < len(tc.headers); i += 2 {
				req.Header.Set(tc.headers[i], tc.headers[i+1])
			}
			res := do(t, req)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
			}
			var ok bool
			switch tc.shape {
			case "openai":
				ok = gjson.Get(res.body, "error.message").String() != "" && gjson.Get(res.body, "error.type").Exists() && gjson.Get(res.body, "error.code").Exists()
			case "anthropic":
				ok = gjson.Get(res.body, "type").String() == "error" && gjson.Get(res.body, "error.type").String() != "" && gjson.Get(res.body, "error.message").String() != ""
			case "gemini":
				ok = gjson.Get(res.body, "error.code").Int() == int64(tc.status) && gjson.Get(res.body, "error.status").String() != ""
			}
			if !ok {
				t.Errorf("body is not in the %s error shape: %s", tc.shape, res.body)
			}
		})
	}
	if n := up.TotalRequests(); n != 0 {
		t.Errorf("%d bad requests reached the upstream", n)
	}

	// Every accepted way of presenting the client key works.
	for _, h := range [][]string{
		{"Authorization", "Bearer client-secret-1"},
		{"x-api-key", "client-secret-2"},
		{"x-goog-api-key", "client-secret-1"},
	} {
		if res := postChat(t, chatBody("gpt-4o-mini", "hi"), h...); res.status != 200 {
			t.Errorf("client key in %s: status %d %s", h[0], res.status, res.body)
		}
	}
	req, _ := http.NewRequest("POST", proxyBase+"/v1/chat/completions?key=client-secret-2", strings.NewReader(chatBody("gpt-4o", "hi")))
	if res := do(t, req); res.status != 200 {
		t.Errorf("client key in ?key=: status %d %s", res.status, res.body)
	}

	// The SDK sees a typed error with the status.
	client := openaiClient(option.WithAPIKey("client-secret-1"))
	_, err := client.Chat.Completions.New(context.Background(), userMessage("nope", "hi"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Errorf("openai-go error = %v", err)
	}
}

func TestRoutingAliasesExplicitUpstreamPriorityHeaderProxy(t *testing.T) {
	primary := fakeupstream.NewOpenAI(t, "sk-primary-0001")
	fallback := fakeupstream.NewOpenAI(t, "sk-fallback-0001")
	router := fakeupstream.NewOpenAI(t, "sk-router-0001")
	router.SetModels([]string{"openai/gpt-4o", "meta/llama-3", "mistral/large"})

	// An HTTP forward proxy that counts what goes through it.
	var proxied atomic.Int64
	egress := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		r.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			_, _ = w.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(egress.Close)

	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream primary {
			provider openai
			base_url %s
			key sk-primary-0001 {
				rpm 2
			}
			models gpt-4o
			alias smart gpt-4o
			header X-Team alpha
		}
		upstream fallback {
			provider openai
			base_url %s
			key sk-fallback-0001
			models gpt-4o
			priority 1
			proxy %s
		}
		upstream router {
			provider openai
			base_url %s
			key sk-router-0001
			models meta/* openai/*
		}
	}`, name, primary.URL, fallback.URL, egress.URL, router.URL))

	// Priority: the fallback tier serves only once the primary key is spent.
	for i := range 4 {
		if res := postChat(t, chatBody("gpt-4o", "hi")); res.status != 200 {
			t.Fatalf("request %d: %d %s", i, res.status, res.body)
		}
	}
	if primary.Requests("sk-primary-0001") != 2 || fallback.Requests("sk-fallback-0001") != 2 {
		t.Errorf("primary got %d, fallback %d; want 2 and 2", primary.Requests("sk-primary-0001"), fallback.Requests("sk-fallback-0001"))
	}
	if got := primary.LastRequest().Header.Get("X-Team"); got != "alpha" {
		t.Errorf("upstream header X-Team = %q", got)
	}
	if proxied.Load() != 2 {
		t.Errorf("egress proxy saw %d requests, want 2", proxied.Load())
	}

	// Explicit upstream: a model name with a slash goes to the glob upstream;
	// `<upstream>/<model>` picks the upstream and strips the prefix.
	if res := postChat(t, chatBody("meta/llama-3", "hi")); res.status != 200 || gjson.GetBytes(router.LastRequest().Body, "model").String() != "meta/llama-3" {
		t.Errorf("glob model: %d %s / upstream got %s", res.status, res.body, router.LastRequest().Body)
	}
	if res := postChat(t, chatBody("router/openai/gpt-4o", "hi")); res.status != 200 || gjson.GetBytes(router.LastRequest().Body, "model").String() != "openai/gpt-4o" {
		t.Errorf("explicit upstream: %d %s / upstream got %s", res.status, res.body, router.LastRequest().Body)
	}
	if res := postChat(t, chatBody("mistral/large", "hi")); res.status != 404 {
		t.Errorf("a model no pattern admits: %d %s", res.status, res.body)
	}

	// Model list: aliases, literal models, and globs expanded from the
	// upstream's own list, in both OpenAI and Anthropic shapes.
	client := openaiClient()
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if got, want := strings.Join(ids, ","), "smart,gpt-4o,openai/gpt-4o,meta/llama-3"; got != want {
		t.Errorf("models = %s, want %s", got, want)
	}
	req, _ := http.NewRequest("GET", proxyBase+"/v1/models", nil)
	req.Header.Set("anthropic-version", "2023-06-01")
	res := do(t, req)
	var anth struct {
		Data []struct{ Type, ID string }
	}
	if err := json.Unmarshal([]byte(res.body), &anth); err != nil || len(anth.Data) != 4 || anth.Data[0].Type != "model" {
		t.Errorf("anthropic model list: %s", res.body)
	}
	res = do(t, mustRequest("GET", proxyBase+"/v1beta/models"))
	if gjson.Get(res.body, "models.0.name").String() != "models/smart" {
		t.Errorf("gemini model list: %s", res.body)
	}
}

func mustRequest(method, target string) *http.Request {
	if _, err := url.Parse(target); err != nil {
		panic(err)
	}
	req, _ := http.NewRequest(method, target, nil)
	return req
}
