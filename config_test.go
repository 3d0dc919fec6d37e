package llmproxy

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
)

// The JSON that `caddy adapt` produces loads and behaves like the Caddyfile,
// and {env.X} placeholders work in keys, client keys and URLs.
func TestAdaptedJSONAndEnvPlaceholders(t *testing.T) {
	up := fakeupstream.NewOpenAI(t, "sk-from-env-0001")
	t.Setenv("LLMPROXY_TEST_UPSTREAM_KEY", "sk-from-env-0001")
	t.Setenv("LLMPROXY_TEST_CLIENT_KEY", "client-from-env")
	t.Setenv("LLMPROXY_TEST_BASE_URL", up.URL)
	name := instanceName(t)
	cf := testCaddyfile("", fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		client_key {env.LLMPROXY_TEST_CLIENT_KEY}
		upstream oai {
			provider openai
			base_url {env.LLMPROXY_TEST_BASE_URL}
			key {env.LLMPROXY_TEST_UPSTREAM_KEY} {
				rpm 3
			}
			alias fast gpt-4o-mini
		}
	}`, name))
	adapted, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	for _, w := range warnings {
		if !strings.Contains(w.Message, "not formatted") {
			t.Errorf("adapt warning: %s", w)
		}
	}
	if strings.Contains(string(adapted), "sk-from-env") || strings.Contains(string(adapted), "client-from-env") {
		t.Fatalf("a secret was written into the adapted JSON: %s", adapted)
	}
	loadConfig(t, string(adapted), "json")

	client := openaiClient(optionKey("client-from-env"))
	resp, err := client.Chat.Completions.New(context.Background(), userMessage("fast", "via json"))
	if err != nil {
		t.Fatalf("request through the JSON config: %v", err)
	}
	if resp.Choices[0].Message.Content != "echo: via json" || up.LastRequest().Key != "sk-from-env-0001" {
		t.Errorf("content %q, upstream key %q", resp.Choices[0].Message.Content, up.LastRequest().Key)
	}
	// The limit from the JSON holds too.
	for range 2 {
		postChat(t, chatBody("fast", "x"), "Authorization", "Bearer client-from-env")
	}
	if res := postChat(t, chatBody("fast", "x"), "Authorization", "Bearer client-from-env"); res.status != 429 {
		t.Errorf("4th request under rpm 3: %d %s", res.status, res.body)
	}
}

// Neither client keys nor upstream keys appear in Caddy's logs (debug level,
// and the access log configured as the README says) or in any answer, on
// success and failure paths alike.
func TestSecretsNeverLeak(t *testing.T) {
	keys := []string{"sk-secret-good-1234567890", "sk-secret-bad-1234567890", "sk-secret-down-1234567890", "sk-secret-proxied-1234567890"}
	clientKey := "client-secret-abcdefghij"
	// The 4th key goes out through a proxy with a password, which is not
	// there: its failures must not show the password either.
	proxyPassword := "proxy-pass-zyxwvu"
	closed := freePort(t)
	up := fakeupstream.NewOpenAI(t, keys...)
	up.SetKeyValid(keys[1], false)
	up.SetBehavior(keys[2], fakeupstream.Behavior{Status: 500})
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	globals := fmt.Sprintf(`	log {
		output file %s
		level DEBUG
	}`, logFile)
	loadConfig(t, testCaddyfile(globals, fmt.Sprintf(`
	log {
		output file %s
		format filter {
			request>headers>X-Api-Key delete
			request>headers>X-Goog-Api-Key delete
			request>uri query {
				delete key
			}
		}
	}
	llm_proxy {
		name %s
		storage memory
		retries 0
		client_key %s
		upstream oai {
			provider openai
			base_url %s
			key %s
			key %s
			key %s
			key %s {
				proxy http://proxyuser:%s@127.0.0.1:%d
			}
		}
	}`, logFile, instanceName(t), clientKey, up.URL, keys[0], keys[1], keys[2], keys[3], proxyPassword, closed)), "caddyfile")
	rawClient.CloseIdleConnections()

	var answers strings.Builder
	for range 30 {
		for _, h := range [][]string{{"Authorization", "Bearer " + clientKey}, {"x-api-key", clientKey}, {"x-goog-api-key", clientKey}, {"x-api-key", "wrong-" + clientKey}} {
			res := postChat(t, chatBody("gpt-4o", "hi"), h...)
			answers.WriteString(res.body)
		}
		req, _ := http.NewRequest("POST", proxyBase+"/v1/chat/completions?key="+clientKey, strings.NewReader(chatBody("gpt-4o", "hi")))
		answers.WriteString(do(t, req).body)
	}
	// Every path ran: success, a refused key, a failing key.
	if up.Requests(keys[0]) == 0 || up.Requests(keys[2]) == 0 || keyStatus(t, instanceName(t), "oai", keys[1]).State != "disabled" {
		t.Fatalf("not every path ran: good %d, down %d, bad %s", up.Requests(keys[0]), up.Requests(keys[2]), keyStatus(t, instanceName(t), "oai", keys[1]).State)
	}
	logs, err := os.ReadFile(logFile)
	if err != nil || len(logs) == 0 {
		t.Fatalf("no logs written: %v", err)
	}
	if !strings.Contains(string(logs), "proxyconnect") {
		t.Fatal("no request went out through the 4th key's proxy")
	}
	for _, secret := range append(keys, clientKey, proxyPassword) {
		for _, line := range strings.Split(string(logs), "\n") {
			if strings.Contains(line, secret) {
				t.Errorf("the logs contain %q: %s", secret, line)
				break
			}
		}
		if strings.Contains(answers.String(), secret) {
			t.Errorf("an answer contains %q", secret)
		}
	}
}
