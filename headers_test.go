package llmproxy

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
)

// What an upstream's answer says of the pooled key's account (its owner,
// its own rate limits, the provider's cookies) stays with the proxy; what
// it says of the answer (its request id, the processing time) reaches the
// client. Passed through and translated, JSON and streamed alike.
func TestAccountHeadersStayWithTheProxy(t *testing.T) {
	oai := fakeupstream.NewOpenAI(t, "sk-hdr-oai")
	ant := fakeupstream.NewAnthropic(t, "sk-ant-hdr")
	startCaddy(t, proxyBlock(instanceName(t),
		upstreamBlock("oai", "openai", oai.URL, "models gpt-*", "key sk-hdr-oai"),
		upstreamBlock("ant", "anthropic", ant.URL, "models claude-*", "key sk-ant-hdr")))

	chat := func(model string, stream bool) string {
		return fmt.Sprintf(`{"model":%q,"stream":%t,"max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`, model, stream)
	}
	for _, c := range []struct {
		name, path, body string
		kept             string // a header of the answer that the client gets
	}{
		{"Chat to OpenAI, JSON", "/v1/chat/completions", chat("gpt-4o", false), "X-Request-Id"},
		{"Chat to OpenAI, stream", "/v1/chat/completions", chat("gpt-4o", true), "X-Request-Id"},
		{"Anthropic to Anthropic, JSON", "/v1/messages", chat("claude-sonnet-4-5-20250929", false), "Request-Id"},
		{"Anthropic to Anthropic, stream", "/v1/messages", chat("claude-sonnet-4-5-20250929", true), "Request-Id"},
		{"Chat to Anthropic, stream", "/v1/chat/completions", chat("claude-sonnet-4-5-20250929", true), ""},
	} {
		req, _ := http.NewRequest(http.MethodPost, proxyBase+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("anthropic-version", "2023-06-01")
		resp, err := rawClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", c.name, resp.StatusCode)
		}
		for name := range resp.Header {
			if name == "Set-Cookie" || strings.Contains(name, "Organization") || strings.Contains(name, "Ratelimit") || strings.HasPrefix(name, "Openai-Project") {
				t.Errorf("%s: the client got %s: %q", c.name, name, resp.Header.Get(name))
			}
		}
		if c.kept != "" && resp.Header.Get(c.kept) == "" {
			t.Errorf("%s: the client lost the answer's %s (headers %v)", c.name, c.kept, resp.Header)
		}
	}
}
