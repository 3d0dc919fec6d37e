package dashboard_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/llmproxy/caddy-llm-proxy"
	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/internal/testcaddy"
)

// The in-process Caddy of this test binary. caddytest runs one Caddy per
// process; these ports differ from the root package's (9080, 9180, 9443,
// admin 2999 and 2998) and internal/e2e's (9280, 9543, admin 2997), whose
// tests may run at the same time. LLMP_TEST_PORT_OFFSET shifts them all.
var (
	httpPort  = testcaddy.Port(9380)
	httpsPort = testcaddy.Port(9643)
	adminPort = testcaddy.Port(2996)
	siteBase  = fmt.Sprintf("http://localhost:%d", httpPort)
	adminBase = fmt.Sprintf("http://localhost:%d", adminPort)
)

// The dashboard's basic_auth credentials in every test config.
const (
	adminUser     = "admin"
	adminPassword = "correct horse battery staple"
	clientKey     = "dash-client-key-0001"
	// ciKey is the secret of the Caddyfile's named client "ci".
	ciKey = "dash-ci-runner-key-0002"
)

func TestMain(m *testing.M) { testcaddy.Main(m, "dashboard") }

// Upstream secrets of the test config. The fakes accept every one but
// invalidKey, which the proxy therefore disables when it probes it.
var (
	oaiKeys    = []string{"sk-oai-alpha-0001aaaa", "sk-oai-bravo-0002bbbb", "sk-oai-charlie-0003cccc"}
	invalidKey = "sk-oai-delta-0004dddd"
	antKey     = "sk-ant-echo-0005eeee"
	// newKeys are added through the dashboard.
	newKeys = []string{"sk-oai-foxtrot-0006ffff", "sk-oai-golf-0007gggg"}
)

// secrets lists every secret of the test config, none of which may show
// anywhere but masked.
func secrets() []string {
	return append(append(append([]string{invalidKey, antKey, clientKey, ciKey}, oaiKeys...), newKeys...), adminPassword)
}

// fixture is a running Caddy with two llm_proxy instances and the
// dashboard mounted three ways.
type fixture struct {
	instance, second string
	oai, ant         *fakeupstream.Server
}

// startFixture loads the config: the dashboard at /llm-admin/ (handle_path,
// every instance), at /pinned/ (handle, prefix kept, only the first
// instance) and at /dash (handle_path without the slash), all behind
// basic_auth; the first instance at /, the second below /second/.
func startFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{instance: instanceName(t), second: instanceName(t) + "_second"}
	f.oai = fakeupstream.NewOpenAI(t, append(append([]string{}, oaiKeys...), newKeys...)...)
	f.ant = fakeupstream.NewAnthropic(t, antKey)
	hash, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	auth := fmt.Sprintf("basic_auth {\n\t\t\t%s %s\n\t\t}", adminUser, hash)
	config := fmt.Sprintf(`{
	skip_install_trust
	admin localhost:%[1]d
	http_port %[2]d
	https_port %[3]d
	grace_period 1ns
}

http://localhost:%[2]d {
	handle_path /llm-admin/* {
		%[4]s
		llm_proxy_admin
	}
	handle /pinned/* {
		%[4]s
		llm_proxy_admin %[5]s
	}
	handle_path /dash* {
		%[4]s
		llm_proxy_admin
	}
	handle_path /second/* {
		llm_proxy {
			name %[6]s
			storage memory
			client_key %[7]s
			upstream oai2 {
				provider openai
				base_url %[8]s
				key %[9]s
			}
		}
	}
	handle {
		llm_proxy {
			name %[5]s
			storage memory
			client_key %[7]s
			client ci {
				key %[15]s
				models gpt-4o*
				rpm 100
				rpd 5000
				concurrency 3
				note "CI runners"
			}
			upstream oai {
				provider openai
				base_url %[8]s
				key %[9]s {
					rpm 60
					rpd 1000
					tpd 200000
					note "team A"
				}
				key %[10]s {
					concurrency 4
				}
				key %[11]s
				key %[12]s {
					note "revoked upstream"
				}
				models gpt-4o*
				alias fast gpt-4o-mini
			}
			upstream ant {
				provider anthropic
				base_url %[13]s
				key %[14]s
				models claude-*
				alias smart claude-sonnet-4-5
			}
		}
	}
}
`, adminPort, httpPort, httpsPort, auth, f.instance, f.second, clientKey, f.oai.URL,
		oaiKeys[0], oaiKeys[1], oaiKeys[2], invalidKey, f.ant.URL, antKey, ciKey)
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{
		AdminPort:          adminPort,
		LoadRequestTimeout: 30 * time.Second,
		TestRequestTimeout: 30 * time.Second,
	})
	tester.InitServer(config, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	httpClient.CloseIdleConnections()
	return f
}

// instanceName makes a per-test instance name, so that memory-backed pool
// state never carries over from one test's config to the next.
func instanceName(t *testing.T) string {
	return strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"))
}

var httpClient = &http.Client{
	Timeout: 30 * time.Second,
	// Redirects are checked, not followed.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(a.body), v); err != nil {
		t.Fatalf("decoding %q: %v", a.body, err)
	}
}

// call sends a request; headers are name, value pairs.
func call(t *testing.T, method, url, body string, headers ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// basicAuth is the Authorization header value of the dashboard's user.
func basicAuth() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(adminUser+":"+adminPassword))
}

// dash calls the dashboard's site with the credentials.
func dash(t *testing.T, method, path, body string, headers ...string) answer {
	t.Helper()
	return call(t, method, siteBase+path, body, append([]string{"Authorization", basicAuth()}, headers...)...)
}

// admin calls Caddy's admin endpoint.
func admin(t *testing.T, method, path, body string) answer {
	t.Helper()
	return call(t, method, adminBase+path, body)
}

// apiKey is one key of GET .../keys.
type apiKey struct {
	ID     string           `json:"id"`
	Key    string           `json:"key"`
	State  string           `json:"state"`
	Source string           `json:"source"`
	Limits map[string]any   `json:"limits"`
	Usage  map[string]int64 `json:"usage"`
}

// keys reads an instance's keys from Caddy's admin endpoint.
func keys(t *testing.T, instance string) []apiKey {
	t.Helper()
	a := admin(t, http.MethodGet, "/llm_proxy/"+instance+"/keys", "")
	if a.status != http.StatusOK {
		t.Fatalf("GET keys: %d %s", a.status, a.body)
	}
	var out struct{ Keys []apiKey }
	a.decode(t, &out)
	return out.Keys
}

// chat sends one chat request to the first instance as the client of
// the plain client_key.
func chat(t *testing.T, model string) answer {
	t.Helper()
	return chatAs(t, clientKey, model)
}

// chatAs sends one chat request to the first instance with that client
// secret.
func chatAs(t *testing.T, secret, model string) answer {
	t.Helper()
	return call(t, http.MethodPost, siteBase+"/v1/chat/completions",
		fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hello dashboard"}]}`, model),
		"Authorization", "Bearer "+secret)
}

// apiClient is one client of GET .../clients.
type apiClient struct {
	Name      string           `json:"name"`
	Keys      []string         `json:"keys"`
	Models    []string         `json:"models"`
	Limits    map[string]any   `json:"limits"`
	State     string           `json:"state"`
	Source    string           `json:"source"`
	Note      string           `json:"note"`
	Overrides []string         `json:"overrides"`
	Usage     map[string]int64 `json:"usage"`
}

// clients reads an instance's clients from Caddy's admin endpoint.
func clients(t *testing.T, instance string) []apiClient {
	t.Helper()
	a := admin(t, http.MethodGet, "/llm_proxy/"+instance+"/clients", "")
	if a.status != http.StatusOK {
		t.Fatalf("GET clients: %d %s", a.status, a.body)
	}
	var out struct{ Clients []apiClient }
	a.decode(t, &out)
	return out.Clients
}

// traffic sends requests that fill the usage statistics and the request
// log, some of which fail, and probes the keys so that one is disabled.
func (f *fixture) traffic(t *testing.T) {
	t.Helper()
	for i := range 8 {
		model := []string{"fast", "gpt-4o", "smart", "gpt-4o-mini"}[i%4]
		if a := chat(t, model); a.status != http.StatusOK {
			t.Fatalf("chat %s: %d %s", model, a.status, a.body)
		}
	}
	// A model nobody serves, and a failing upstream: errors in the log.
	// The named client "ci", for a model it may use and one it may not.
	for range 2 {
		if a := chatAs(t, ciKey, "gpt-4o"); a.status != http.StatusOK {
			t.Fatalf("chat as ci: %d %s", a.status, a.body)
		}
	}
	if a := chatAs(t, ciKey, "smart"); a.status != http.StatusForbidden {
		t.Fatalf("ci asking for a model outside its models: %d %s", a.status, a.body)
	}
	if a := chat(t, "no-such-model"); a.status != http.StatusNotFound {
		t.Fatalf("unknown model: %d %s", a.status, a.body)
	}
	f.ant.SetBehavior(antKey, fakeupstream.Behavior{Status: http.StatusInternalServerError})
	if a := chat(t, "smart"); a.status != http.StatusBadGateway {
		t.Fatalf("failing upstream: %d %s", a.status, a.body)
	}
	f.ant.SetBehavior(antKey, fakeupstream.Behavior{})
	// The probe disables the key the upstream refuses.
	if a := admin(t, http.MethodPost, "/llm_proxy/"+f.instance+"/keys/check", ""); a.status != http.StatusOK {
		t.Fatalf("check: %d %s", a.status, a.body)
	}
}
