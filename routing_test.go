package llmproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	anthropicopt "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/admin"
	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// An alias in JSON is either the old plain model name or an object with
// settings, and an alias without settings is written back in the old form.
func TestAliasJSONForms(t *testing.T) {
	var u Upstream
	in := `{"name":"a","aliases":{"fast":"gpt-4o-mini","high":{"model":"gpt-5","reasoning":"high","system_prompt":"Be brief.","max_output_tokens":900}}}`
	if err := json.Unmarshal([]byte(in), &u); err != nil {
		t.Fatal(err)
	}
	want := Aliases{
		"fast": {Model: "gpt-4o-mini"},
		"high": {Model: "gpt-5", Reasoning: "high", SystemPrompt: "Be brief.", MaxOutputTokens: 900},
	}
	if !reflect.DeepEqual(u.Aliases, want) {
		t.Errorf("aliases = %+v", u.Aliases)
	}
	out, err := json.Marshal(u.Aliases)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != `{"fast":"gpt-4o-mini","high":{"model":"gpt-5","reasoning":"high","system_prompt":"Be brief.","max_output_tokens":900}}` {
		t.Errorf("marshalled: %s", got)
	}
	for in, want := range map[string]string{
		`{"aliases":{"x":3}}`:                                `alias "x": json: cannot unmarshal number`,
		`{"aliases":{"x":"a","y":"b","x":"c"}}`:              `alias "x" is declared twice`,
		`{"aliases":["x"]}`:                                  "aliases must be an object",
		`{"aliases":{"x":{"model":"a","reasonning":"low"}}}`: `alias "x": json: unknown field "reasonning"`,
		`{"aliases":null}`:                                   "",
	} {
		var u Upstream
		err := json.Unmarshal([]byte(in), &u)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}

// One alias, two providers: the Anthropic upstream serves `sonnet` first;
// when its only key answers 429, the same request is answered by the
// OpenAI upstream's `sonnet` (another model, translated), and while the
// Anthropic key cools down, requests go straight to OpenAI. The alias is
// one name in every model list.
func TestSharedAliasFailsOverAcrossProviders(t *testing.T) {
	ant := fakeupstream.NewAnthropic(t, "sk-ant-shared-0001")
	oai := fakeupstream.NewOpenAI(t, "sk-oai-shared-0001")
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream ant {
			provider anthropic
			base_url %s
			key sk-ant-shared-0001
			models claude-sonnet-4-5
			alias sonnet claude-sonnet-4-5
		}
		upstream oai {
			provider openai
			base_url %s
			key sk-oai-shared-0001
			models gpt-4o
			alias sonnet gpt-4o
			priority 1
		}
	}`, name, ant.URL, oai.URL))

	client := anthropic.NewClient(anthropicopt.WithBaseURL(proxyBase), anthropicopt.WithAPIKey("unused"),
		anthropicopt.WithMaxRetries(0), anthropicopt.WithRequestTimeout(20*time.Second))
	ask := func(text string) (*anthropic.Message, *http.Response) {
		t.Helper()
		var resp *http.Response
		msg, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
			Model: "sonnet", MaxTokens: 200,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))},
		}, anthropicopt.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		return msg, resp
	}

	// The lower tier serves while it can.
	msg, _ := ask("first")
	if msg.Content[0].Text != "echo: first" || ant.Requests("sk-ant-shared-0001") != 1 || oai.TotalRequests() != 0 {
		t.Fatalf("first: %q; anthropic %d, openai %d requests", msg.Content[0].Text, ant.Requests("sk-ant-shared-0001"), oai.TotalRequests())
	}
	if got := gjson.GetBytes(ant.LastRequest().Body, "model").String(); got != "claude-sonnet-4-5" {
		t.Errorf("anthropic got model %q", got)
	}

	// Its key is rate limited: the same request is answered by the other
	// provider, translated, with no fallback involved.
	ant.SetBehavior("sk-ant-shared-0001", fakeupstream.Behavior{Status: 429, RetryAfter: "30", Times: 1})
	msg, resp := ask("second")
	if msg.Content[0].Text != "echo: second" || ant.Requests("sk-ant-shared-0001") != 2 || oai.Requests("sk-oai-shared-0001") != 1 {
		t.Fatalf("second: %q; anthropic %d, openai %d requests", msg.Content[0].Text, ant.Requests("sk-ant-shared-0001"), oai.Requests("sk-oai-shared-0001"))
	}
	if got := gjson.GetBytes(oai.LastRequest().Body, "model").String(); got != "gpt-4o" {
		t.Errorf("openai got model %q", got)
	}
	if h := resp.Header.Get("X-LLM-Proxy-Fallback"); h != "" {
		t.Errorf("X-LLM-Proxy-Fallback = %q on an answer of the model asked for", h)
	}
	if st := keyStatus(t, name, "ant", "sk-ant-shared-0001"); st.State != pool.StateCooling {
		t.Errorf("anthropic key state %s, want cooling", st.State)
	}

	// While it cools, the next request goes straight to OpenAI.
	msg, _ = ask("third")
	if msg.Content[0].Text != "echo: third" || ant.Requests("sk-ant-shared-0001") != 2 || oai.Requests("sk-oai-shared-0001") != 2 {
		t.Errorf("third: %q; anthropic %d, openai %d requests", msg.Content[0].Text, ant.Requests("sk-ant-shared-0001"), oai.Requests("sk-oai-shared-0001"))
	}

	// One name in the model list; the admin API shows both targets.
	oc := openaiClient()
	page, err := oc.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if got := strings.Join(ids, ","); got != "sonnet,claude-sonnet-4-5,gpt-4o" {
		t.Errorf("/v1/models = %s, want sonnet,claude-sonnet-4-5,gpt-4o", got)
	}
	var models struct{ Models []admin.Model }
	adminOK(t, 200, "GET", "/llm_proxy/"+name+"/models", nil).decode(t, &models)
	var sonnet []admin.Model
	for _, m := range models.Models {
		if m.Model == "sonnet" {
			sonnet = append(sonnet, m)
		}
	}
	wantTargets := []admin.Target{{Upstream: "ant", Model: "claude-sonnet-4-5", Priority: 0}, {Upstream: "oai", Model: "gpt-4o", Priority: 1}}
	if len(sonnet) != 1 || sonnet[0].Kind != "alias" || !reflect.DeepEqual(sonnet[0].Targets, wantTargets) {
		t.Errorf("admin models for sonnet: %+v", sonnet)
	}
}

// An alias of one upstream that another upstream lists as a model is one
// shared name: both serve it, each with its own model name.
func TestAliasSharedWithALiteralModel(t *testing.T) {
	a := fakeupstream.NewOpenAI(t, "sk-lit-a-0001")
	b := fakeupstream.NewOpenAI(t, "sk-lit-b-0001")
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream a {
			provider openai
			base_url %s
			key sk-lit-a-0001 {
				rpm 1
			}
			models gpt-4o
		}
		upstream b {
			provider openai
			base_url %s
			key sk-lit-b-0001
			models o3
			alias gpt-4o gpt-4o-2024-08-06
			priority 1
		}
	}`, name, a.URL, b.URL))
	for i := range 2 {
		if res := postChat(t, chatBody("gpt-4o", "hi")); res.status != 200 {
			t.Fatalf("request %d: %d %s", i, res.status, res.body)
		}
	}
	if a.Requests("sk-lit-a-0001") != 1 || b.Requests("sk-lit-b-0001") != 1 {
		t.Errorf("a got %d, b %d requests; want 1 and 1", a.Requests("sk-lit-a-0001"), b.Requests("sk-lit-b-0001"))
	}
	if got := gjson.GetBytes(b.LastRequest().Body, "model").String(); got != "gpt-4o-2024-08-06" {
		t.Errorf("b got model %q", got)
	}
	oc := openaiClient()
	page, err := oc.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != "gpt-4o" || page.Data[1].ID != "o3" {
		t.Errorf("/v1/models: %+v", page.Data)
	}
}

// A fallback chain: the first model's only key is at its limit (no attempt
// spent), the second model's keys fail with 500 until its attempts are
// used, the third answers. The client learns which model served from
// X-LLM-Proxy-Fallback, plain and streamed; the request log and the
// metrics name the model that served. When every model fails, the client
// gets the most telling failure: a 429 with the soonest Retry-After.
func TestFallbackChainEndsOnTheThirdModel(t *testing.T) {
	first := fakeupstream.NewOpenAI(t, "sk-fb-first-0001")
	second := fakeupstream.NewAnthropic(t, "sk-fb-second-0001", "sk-fb-second-0002")
	third := fakeupstream.NewGemini(t, "fb-third-0001")
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		retries 1
		fallback gpt-4o claude
		fallback claude gemini-2.5-flash
		upstream first {
			provider openai
			base_url %s
			key sk-fb-first-0001 {
				rpm 1
			}
			models gpt-4o
		}
		upstream second {
			provider anthropic
			base_url %s
			key sk-fb-second-0001
			key sk-fb-second-0002
			models claude-sonnet-4-5
			alias claude claude-sonnet-4-5
		}
		upstream third {
			provider gemini
			base_url %s
			key fb-third-0001
			models gemini-*
		}
	}`, name, first.URL, second.URL, third.URL))

	// The first request spends the first model's minute.
	client := openaiClient()
	var resp *http.Response
	cc, err := client.Chat.Completions.New(context.Background(), userMessage("gpt-4o", "one"), option.WithResponseInto(&resp))
	if err != nil || cc.Choices[0].Message.Content != "echo: one" || resp.Header.Get("X-LLM-Proxy-Fallback") != "" {
		t.Fatalf("first request: %v %+v", err, resp.Header)
	}

	// Metrics outlive a config (and a test run with -count): deltas count.
	before, _ := scrape(t)
	counted := func(samples []sample, labels map[string]string) float64 {
		v, _ := value(samples, "caddy_llm_proxy_requests_total", labels)
		return v
	}
	second.SetBehavior("sk-fb-second-0001", fakeupstream.Behavior{Status: 500})
	second.SetBehavior("sk-fb-second-0002", fakeupstream.Behavior{Status: 500})
	cc, err = client.Chat.Completions.New(context.Background(), userMessage("gpt-4o", "two"), option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	if cc.Choices[0].Message.Content != "echo: two" || resp.Header.Get("X-LLM-Proxy-Fallback") != "gemini-2.5-flash" {
		t.Errorf("fallback answer %q, X-LLM-Proxy-Fallback %q", cc.Choices[0].Message.Content, resp.Header.Get("X-LLM-Proxy-Fallback"))
	}
	if first.TotalRequests() != 1 || second.TotalRequests() != 2 || third.Requests("fb-third-0001") != 1 {
		t.Errorf("requests: first %d, second %d, third %d; want 1, 2 (retries 1), 1",
			first.TotalRequests(), second.TotalRequests(), third.Requests("fb-third-0001"))
	}
	if !strings.Contains(third.LastRequest().Path, "gemini-2.5-flash:generateContent") {
		t.Errorf("third upstream path %s", third.LastRequest().Path)
	}
	var logs struct{ Logs []admin.LogEntry }
	adminOK(t, 200, "GET", "/llm_proxy/"+name+"/logs?limit=1", nil).decode(t, &logs)
	if e := logs.Logs[0]; e.Model != "gemini-2.5-flash" || e.Upstream != "third" || e.UpstreamModel != "gemini-2.5-flash" || e.Status != 200 {
		t.Errorf("log entry %+v", e)
	}
	after, _ := scrape(t)
	served := map[string]string{"instance": name, "upstream": "third", "model": "gemini-2.5-flash", "code": "200"}
	if d := counted(after, served) - counted(before, served); d != 1 {
		t.Errorf("requests_total of the served model grew by %v, want 1", d)
	}
	asked := map[string]string{"instance": name, "model": "gpt-4o", "code": "200"}
	if d := counted(after, asked) - counted(before, asked); d != 0 {
		t.Errorf("requests_total of gpt-4o grew by %v, want 0", d)
	}

	// Streamed: the header goes out with the stream's first bytes.
	req, _ := http.NewRequest(http.MethodPost, proxyBase+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"three"}]}`))
	req.Header.Set("Content-Type", "application/json")
	sresp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := new(strings.Builder)
	_, _ = fmt.Fprint(body, readAll(t, sresp))
	if sresp.StatusCode != 200 || sresp.Header.Get("X-LLM-Proxy-Fallback") != "gemini-2.5-flash" ||
		!strings.Contains(body.String(), `"model":"gemini-2.5-flash"`) || !strings.Contains(body.String(), "[DONE]") {
		t.Errorf("stream: %d %v\n%s", sresp.StatusCode, sresp.Header, body)
	}

	// Everything fails: the second model's keys answer 500 (or cool), the
	// third's only key is rate limited for 7 s, the first is at its limit
	// for up to a minute. The soonest is the answer.
	third.SetBehavior("fb-third-0001", fakeupstream.Behavior{Status: 429, RetryAfter: "7"})
	res := postChat(t, chatBody("gpt-4o", "four"))
	ra, _ := strconv.Atoi(res.retryAfter)
	if res.status != 429 || ra < 1 || ra > 7 || !strings.Contains(res.body, "gemini-2.5-flash") {
		t.Errorf("everything failing: %d Retry-After %q %s", res.status, res.retryAfter, res.body)
	}
	adminOK(t, 200, "GET", "/llm_proxy/"+name+"/logs?limit=1", nil).decode(t, &logs)
	if e := logs.Logs[0]; e.Model != "gpt-4o" || e.Status != 429 {
		t.Errorf("log entry of the failed chain %+v", e)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b := new(strings.Builder)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// Per-alias settings over the same keys: each alias's reasoning, system
// prompt and output cap reach the upstream in its own wire form, passed
// through or translated, while the upstream's own settings serve its other
// names; both aliases count on the one key.
func TestAliasSettingsReachEachProvider(t *testing.T) {
	oai := fakeupstream.NewOpenAI(t, "sk-set-oai-0001")
	resp := fakeupstream.NewOpenAI(t, "sk-set-resp-0001")
	ant := fakeupstream.NewAnthropic(t, "sk-set-ant-0001")
	gem := fakeupstream.NewGemini(t, "set-gem-0001")
	old := fakeupstream.NewOpenAI(t, "sk-set-old-0001")
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key sk-set-oai-0001 {
				rpm 4
			}
			models gpt-5
			reasoning low
			system_prompt "Upstream prompt."
			alias gpt-5-high gpt-5 {
				reasoning high
			}
			alias gpt-5-minimal gpt-5 {
				reasoning minimal
				system_prompt "Be terse."
			}
		}
		upstream resp {
			provider openai_responses
			base_url %s
			key sk-set-resp-0001
			models o3
			alias r-minimal gpt-5 {
				reasoning minimal
			}
		}
		upstream ant {
			provider anthropic
			base_url %s
			key sk-set-ant-0001
			models claude-*
			alias think claude-sonnet-4-5 {
				reasoning minimal
				max_output_tokens 8000
			}
		}
		upstream gem {
			provider gemini
			base_url %s
			key set-gem-0001
			models gemini-*
			alias g-high gemini-2.5-flash {
				reasoning high
			}
		}
		upstream old {
			provider openai
			base_url %s
			key sk-set-old-0001
			models o3 gpt-4o
			alias o3-minimal o3 {
				reasoning minimal
			}
			alias 4o-minimal gpt-4o {
				reasoning minimal
			}
		}
	}`, name, oai.URL, resp.URL, ant.URL, gem.URL, old.URL))

	chat := func(model string) {
		t.Helper()
		if res := postChat(t, chatBody(model, "hi")); res.status != 200 {
			t.Fatalf("%s: %d %s", model, res.status, res.body)
		}
	}

	// Same format (Chat to an openai upstream): the body is patched.
	chat("gpt-5-high")
	body := gjson.ParseBytes(oai.LastRequest().Body)
	if body.Get("model").Str != "gpt-5" || body.Get("reasoning_effort").Str != "high" || body.Get("messages.0.content").Str != "Upstream prompt." {
		t.Errorf("gpt-5-high reached the upstream as %s", body.Raw)
	}
	chat("gpt-5-minimal")
	body = gjson.ParseBytes(oai.LastRequest().Body)
	if body.Get("reasoning_effort").Str != "minimal" || body.Get("messages.0.content").Str != "Be terse." || body.Get("messages.#").Int() != 2 {
		t.Errorf("gpt-5-minimal reached the upstream as %s", body.Raw)
	}
	// The model's own name keeps the upstream's settings.
	chat("gpt-5")
	body = gjson.ParseBytes(oai.LastRequest().Body)
	if body.Get("reasoning_effort").Str != "low" || body.Get("messages.0.content").Str != "Upstream prompt." {
		t.Errorf("gpt-5 reached the upstream as %s", body.Raw)
	}
	// Same format too, the level in the form the model takes: o3 has no
	// "minimal" (it gets "low"), gpt-4o no reasoning at all.
	chat("o3-minimal")
	if body = gjson.ParseBytes(old.LastRequest().Body); body.Get("model").Str != "o3" || body.Get("reasoning_effort").Str != "low" {
		t.Errorf("o3-minimal reached the upstream as %s", body.Raw)
	}
	chat("4o-minimal")
	if body = gjson.ParseBytes(old.LastRequest().Body); body.Get("model").Str != "gpt-4o" || body.Get("reasoning_effort").Exists() {
		t.Errorf("4o-minimal reached the upstream as %s", body.Raw)
	}
	// `<upstream>/<alias>` is the alias, settings included.
	chat("oai/gpt-5-minimal")
	body = gjson.ParseBytes(oai.LastRequest().Body)
	if body.Get("model").Str != "gpt-5" || body.Get("reasoning_effort").Str != "minimal" || body.Get("messages.0.content").Str != "Be terse." {
		t.Errorf("oai/gpt-5-minimal reached the upstream as %s", body.Raw)
	}
	// One key, one set of counters, whatever the alias.
	if res := postChat(t, chatBody("gpt-5-high", "hi")); res.status != 429 {
		t.Errorf("5th request on a key with rpm 4: %d %s", res.status, res.body)
	}

	// Translated (Anthropic Messages in) to Responses: reasoning.effort.
	antClient := anthropic.NewClient(anthropicopt.WithBaseURL(proxyBase), anthropicopt.WithAPIKey("unused"), anthropicopt.WithMaxRetries(0))
	if _, err := antClient.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "r-minimal", MaxTokens: 1000,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	}); err != nil {
		t.Fatal(err)
	}
	body = gjson.ParseBytes(resp.LastRequest().Body)
	if resp.LastRequest().Path != "/v1/responses" || body.Get("model").Str != "gpt-5" || body.Get("reasoning.effort").Str != "minimal" {
		t.Errorf("r-minimal reached the Responses upstream at %s as %s", resp.LastRequest().Path, body.Raw)
	}

	// Chat in, Anthropic out: minimal is the smallest thinking budget, and
	// max_output_tokens caps what the client asked for.
	if res := postChat(t, `{"model":"think","max_completion_tokens":50000,"messages":[{"role":"user","content":"hi"}]}`); res.status != 200 {
		t.Fatalf("think: %d %s", res.status, res.body)
	}
	body = gjson.ParseBytes(ant.LastRequest().Body)
	if body.Get("model").Str != "claude-sonnet-4-5" || body.Get("thinking.type").Str != "enabled" ||
		body.Get("thinking.budget_tokens").Int() != 4096 || body.Get("max_tokens").Int() != 8000 {
		t.Errorf("think reached Anthropic as %s", body.Raw)
	}

	// Anthropic in, Anthropic out: the same-format body is patched too.
	if _, err := antClient.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "think", MaxTokens: 20000,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	}); err != nil {
		t.Fatal(err)
	}
	body = gjson.ParseBytes(ant.LastRequest().Body)
	if body.Get("thinking.type").Str != "enabled" || body.Get("thinking.budget_tokens").Int() != 4096 {
		t.Errorf("think (same format) reached Anthropic as %s", body.Raw)
	}

	// Chat in, Gemini out: a thinking budget.
	chat("g-high")
	body = gjson.ParseBytes(gem.LastRequest().Body)
	if !strings.Contains(gem.LastRequest().Path, "gemini-2.5-flash:generateContent") ||
		body.Get("generationConfig.thinkingConfig.thinkingBudget").Int() != 24576 {
		t.Errorf("g-high reached Gemini at %s as %s", gem.LastRequest().Path, body.Raw)
	}
}

// A fallback after keys that are all disabled, streamed and passed
// through (same format): the header goes out with the stream. A request
// the upstream refuses as the client's own fault (a 404 for its model) is
// answered as it is: fallbacks are for keys that cannot serve.
func TestFallbackFromDisabledKeysAndNotFromClientErrors(t *testing.T) {
	a := fakeupstream.NewOpenAI(t, "sk-dis-a-0001")
	b := fakeupstream.NewOpenAI(t, "sk-dis-b-0001")
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		fallback gpt-4o gpt-4o-mini
		fallback unknown-model gpt-4o-mini
		upstream a {
			provider openai
			base_url %s
			key sk-dis-a-0001 {
				disabled
			}
			models gpt-4o unknown-*
		}
		upstream b {
			provider openai
			base_url %s
			key sk-dis-b-0001
			models gpt-4o-mini
		}
	}`, name, a.URL, b.URL))

	req, _ := http.NewRequest(http.MethodPost, proxyBase+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"streamed"}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("X-LLM-Proxy-Fallback") != "gpt-4o-mini" ||
		!strings.Contains(body, `"model":"gpt-4o-mini"`) || !strings.Contains(body, "data: [DONE]") {
		t.Errorf("stream: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	if a.TotalRequests() != 0 || b.Requests("sk-dis-b-0001") != 1 {
		t.Errorf("requests: a %d, b %d", a.TotalRequests(), b.Requests("sk-dis-b-0001"))
	}
	var logs struct{ Logs []admin.LogEntry }
	adminOK(t, 200, "GET", "/llm_proxy/"+name+"/logs?limit=1", nil).decode(t, &logs)
	if e := logs.Logs[0]; e.Model != "gpt-4o-mini" || e.Upstream != "b" || e.Status != 200 || e.OutputTokens == 0 {
		t.Errorf("log entry %+v", e)
	}

	// The client's own fault is its answer, with no fallback.
	adminOK(t, 200, "PATCH", "/llm_proxy/"+name+"/keys/"+pool.KeyID("a", "sk-dis-a-0001"), map[string]any{"disabled": false})
	res := postChat(t, chatBody("unknown-model", "hi"))
	if res.status != 404 || a.Requests("sk-dis-a-0001") != 1 || b.Requests("sk-dis-b-0001") != 1 {
		t.Errorf("a model the upstream does not know: %d %s; a %d, b %d requests", res.status, res.body,
			a.Requests("sk-dis-a-0001"), b.Requests("sk-dis-b-0001"))
	}
}
