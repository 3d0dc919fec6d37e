package llmproxy

import (
	"fmt"
	"net/http"
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

	// Every client API reaches it through the format it names, and every
	// request is signed by the vendor's own Authorize.
	for _, api := range []string{"chat", "responses", "anthropic", "gemini"} {
		a := callAPI(t, api, "acme-1", false, "hello "+api)
		if a.status != http.StatusOK || answerText(api, a.body) != "echo: hello "+api {
			t.Errorf("%s client to the vendor: %d %s", api, a.status, a.body)
		}
		if got := up.LastRequest().Header.Get("X-Acme-Signed"); got != "POST /v1/chat/completions" {
			t.Errorf("%s: the vendor's own Authorize did not run: X-Acme-Signed = %q", api, got)
		}
	}
}
