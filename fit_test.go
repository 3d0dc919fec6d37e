package llmproxy

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
)

// TestTranslatedRequestsFitTheModel: Claude Code's request (max_tokens
// 128000, thinking on, a 150-byte user id) translated for gpt-4o, which
// refuses reasoning_effort and more than 16384 output tokens, is made to fit
// instead of refused; max_output_tokens caps it further.
func TestTranslatedRequestsFitTheModel(t *testing.T) {
	up := fakeupstream.NewOpenAI(t, "sk-fit-0001")
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key sk-fit-0001
			models gpt-4o*
		}
		upstream capped {
			provider openai
			base_url %s
			key sk-fit-0001
			models gpt-5*
			max_output_tokens 1000
			reasoning minimal
		}
	}`, instanceName(t), up.URL, up.URL))
	user := strings.Repeat("u", 150)
	send := func(model string) rawResult {
		req, _ := http.NewRequest(http.MethodPost, proxyBase+"/v1/messages", strings.NewReader(fmt.Sprintf(
			`{"model":%q,"max_tokens":128000,"thinking":{"type":"enabled","budget_tokens":31999},"metadata":{"user_id":%q},
			"messages":[{"role":"user","content":"hello there"}]}`, model, user)))
		req.Header.Set("anthropic-version", "2023-06-01")
		return do(t, req)
	}

	res := send("gpt-4o")
	if res.status != http.StatusOK || !strings.Contains(res.body, "echo: hello there") {
		t.Fatalf("gpt-4o: %d %s", res.status, res.body)
	}
	got := up.LastRequest().Body
	if gjson.GetBytes(got, "reasoning_effort").Exists() {
		t.Errorf("reasoning_effort reached gpt-4o: %s", got)
	}
	if n := gjson.GetBytes(got, "max_tokens").Int(); n != 16384 {
		t.Errorf("max_tokens = %d, want gpt-4o's 16384", n)
	}
	if u := gjson.GetBytes(got, "user").String(); len(u) > 64 || u == "" {
		t.Errorf("user = %q (%d bytes), want a stable id of at most 64", u, len(u))
	}

	res = send("capped/gpt-5")
	if res.status != http.StatusOK {
		t.Fatalf("capped/gpt-5: %d %s", res.status, res.body)
	}
	got = up.LastRequest().Body
	if n := gjson.GetBytes(got, "max_completion_tokens").Int(); n != 1000 {
		t.Errorf("max_output_tokens 1000: max_completion_tokens = %d", n)
	}
	if e := gjson.GetBytes(got, "reasoning_effort").String(); e != "minimal" {
		t.Errorf("reasoning minimal: reasoning_effort = %q", e)
	}
}
