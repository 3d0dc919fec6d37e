package llmproxy

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/providers"
)

// acme is what adding an OpenAI-compatible vendor takes (see the README,
// "How to add a provider"): one type in one file of providers/, here in a
// test file so the build does not ship it. It signs every request with a
// header of its own, which a vendor can because Authorize sees the whole
// request.
type acme struct{ providers.OpenAI }

func (acme) Name() string           { return "acme" }
func (acme) DefaultBaseURL() string { return "https://api.acme.test/v1" }
func (a acme) Authorize(req *http.Request, secret string) {
	a.OpenAI.Authorize(req, secret)
	req.Header.Set("X-Acme-Signed", req.Method+" "+req.URL.Path)
}

func TestAVendorOfAnExistingFormatServesEveryClientAPI(t *testing.T) {
	providers.Register(acme{})
	t.Cleanup(func() { providers.Unregister("acme") })
	up := fakeupstream.NewOpenAI(t, "sk-acme-0001")
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream acme {
			provider acme
			base_url %s
			key sk-acme-0001
		}
	}`, instanceName(t), up.URL))

	client := openaiClient()
	resp, err := client.Chat.Completions.New(context.Background(), userMessage("acme-1", "hello there"))
	if err != nil {
		t.Fatalf("chat through a new vendor: %v", err)
	}
	if got := resp.Choices[0].Message.Content; got != "echo: hello there" {
		t.Errorf("content = %q", got)
	}
	if got := up.LastRequest().Header.Get("X-Acme-Signed"); got != "POST /v1/chat/completions" {
		t.Errorf("the vendor's own Authorize did not run: X-Acme-Signed = %q", got)
	}

	// An Anthropic client reaches it through the format it names.
	req, _ := http.NewRequest(http.MethodPost, proxyBase+"/v1/messages",
		strings.NewReader(`{"model":"acme-1","max_tokens":50,"messages":[{"role":"user","content":"hi acme"}]}`))
	req.Header.Set("anthropic-version", "2023-06-01")
	res := do(t, req)
	if res.status != http.StatusOK || !strings.Contains(res.body, "echo: hi acme") {
		t.Fatalf("anthropic client to the vendor: %d %s", res.status, res.body)
	}
}
