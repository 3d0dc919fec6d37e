package llmproxy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func intPtr(n int) *int { return &n }

// oneUpstream is the smallest valid upstream block, for tests about other options.
const oneUpstream = `
	upstream oai {
		provider openai
		key sk-1
	}`

// oaiUpstream is what oneUpstream parses to.
func oaiUpstream() *Upstream {
	return &Upstream{Name: "oai", Provider: "openai", Keys: []*Key{{Key: "sk-1"}}}
}

func parseTest(input string) (*Proxy, error) {
	p := new(Proxy)
	err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	return p, err
}

func TestCaddyfileParse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		want  *Proxy
	}{
		{
			name: "minimal",
			input: `llm_proxy {
				upstream oai {
					provider openai
					key sk-1
				}
			}`,
			want: &Proxy{Upstreams: []*Upstream{oaiUpstream()}},
		},
		{
			name: "every top-level option",
			input: `llm_proxy {
				name main-1
				client_key ck-1 ck-2
				client_key {env.CLIENT_KEY}
				storage badger /var/lib/llm
				retries 0
				timeout 90s
				idle_timeout 2m
				keepalive 0
				max_body 10MB
				max_answer 1MiB
				timezone America/New_York
				log_size 5000
				probe_interval 1h30m
				affinity 30m
			` + oneUpstream + `
			}`,
			want: &Proxy{
				Name:          "main-1",
				ClientKeys:    []string{"ck-1", "ck-2", "{env.CLIENT_KEY}"},
				Storage:       &Storage{Type: "badger", Dir: "/var/lib/llm"},
				Retries:       intPtr(0),
				Timeout:       caddy.Duration(90 * time.Second),
				IdleTimeout:   caddy.Duration(2 * time.Minute),
				Keepalive:     durationPtr(0),
				MaxBody:       10_000_000,
				MaxAnswer:     1 << 20,
				Timezone:      "America/New_York",
				LogSize:       5000,
				ProbeInterval: caddy.Duration(90 * time.Minute),
				Affinity:      caddy.Duration(30 * time.Minute),
				Upstreams:     []*Upstream{oaiUpstream()},
			},
		},
		{
			name: "storage badger without dir, binary size, caddy day duration",
			input: `llm_proxy {
				storage badger
				max_body 32MiB
				timeout 1d
				retries 5
			` + oneUpstream + `
			}`,
			want: &Proxy{
				Storage:   &Storage{Type: "badger"},
				MaxBody:   32 << 20,
				Timeout:   caddy.Duration(24 * time.Hour),
				Retries:   intPtr(5),
				Upstreams: []*Upstream{oaiUpstream()},
			},
		},
		{
			name: "storage memory",
			input: `llm_proxy {
				storage memory
			` + oneUpstream + `
			}`,
			want: &Proxy{Storage: &Storage{Type: "memory"}, Upstreams: []*Upstream{oaiUpstream()}},
		},
		{
			name: "storage redis",
			input: `llm_proxy {
				storage redis redis://localhost:6379
			` + oneUpstream + `
			}`,
			want: &Proxy{Storage: &Storage{Type: "redis", URL: "redis://localhost:6379"}, Upstreams: []*Upstream{oaiUpstream()}},
		},
		{
			name: "storage redis with options and a placeholder",
			input: `llm_proxy {
				storage redis {env.REDIS_URL} {
					prefix team-a:
					on_error open
				}
			` + oneUpstream + `
			}`,
			want: &Proxy{Storage: &Storage{Type: "redis", URL: "{env.REDIS_URL}", Prefix: "team-a:", OnError: "open"},
				Upstreams: []*Upstream{oaiUpstream()}},
		},
		{
			name: "every upstream option and key option",
			input: `llm_proxy {
				upstream oai {
					provider openai
					base_url https://example.com/v1/
					weight 2
					rpm 60
					rpd 1000
					tpm 100000
					tpd 2000000
					interval 500ms
					concurrency 4
					key sk-a {
						weight 5
						rpm 10
						rpd 20
						tpm 30
						tpd 40
						interval 2s
						concurrency 1
						note "team A"
						disabled
					}
					key sk-b
					key sk-c {
					}
					key sk-d {
						base_url https://eu.example.com/v1
						proxy http://user:pw@egress.local:3128
						header X-Team a
						header X-Region "eu west"
					}
					models gpt-4o gpt-4o-mini
					models o*
					alias fast gpt-4o-mini
					alias smart gpt-4o
					priority -1
					header X-Title "my proxy"
					header OpenAI-Organization org-1
					proxy socks5://127.0.0.1:1080
					reasoning high
					system_prompt "Be brief."
				}
			}`,
			want: &Proxy{Upstreams: []*Upstream{{
				Name:     "oai",
				Provider: "openai",
				BaseURL:  "https://example.com/v1/",
				Defaults: Limits{Weight: 2, RPM: 60, RPD: 1000, TPM: 100000, TPD: 2000000,
					Interval: caddy.Duration(500 * time.Millisecond), Concurrency: 4},
				Keys: []*Key{
					{
						Key: "sk-a",
						Limits: Limits{Weight: 5, RPM: 10, RPD: 20, TPM: 30, TPD: 40,
							Interval: caddy.Duration(2 * time.Second), Concurrency: 1},
						Note:     "team A",
						Disabled: true,
					},
					{Key: "sk-b"},
					{Key: "sk-c"},
					{Key: "sk-d", BaseURL: "https://eu.example.com/v1", Proxy: "http://user:pw@egress.local:3128",
						Headers: map[string]string{"X-Team": "a", "X-Region": "eu west"}},
				},
				Models:       []string{"gpt-4o", "gpt-4o-mini", "o*"},
				Aliases:      map[string]Alias{"fast": {Model: "gpt-4o-mini"}, "smart": {Model: "gpt-4o"}},
				Priority:     -1,
				Headers:      map[string]string{"X-Title": "my proxy", "OpenAI-Organization": "org-1"},
				Proxy:        "socks5://127.0.0.1:1080",
				Reasoning:    "high",
				SystemPrompt: "Be brief.",
			}}},
		},
		{
			name: "placeholders are kept verbatim",
			input: `llm_proxy {
				client_key {env.CK}
				storage badger {env.LLM_DIR}
				upstream oai {
					provider openai
					base_url {env.OPENAI_BASE_URL}
					key {env.OPENAI_KEY}
					key "{env.OPENAI_KEY_2}" {
						note {env.WHO}
					}
					header Authorization "Bearer {env.TOKEN}"
					proxy {env.EGRESS}
				}
			}`,
			want: &Proxy{
				ClientKeys: []string{"{env.CK}"},
				Storage:    &Storage{Type: "badger", Dir: "{env.LLM_DIR}"},
				Upstreams: []*Upstream{{
					Name:     "oai",
					Provider: "openai",
					BaseURL:  "{env.OPENAI_BASE_URL}",
					Keys:     []*Key{{Key: "{env.OPENAI_KEY}"}, {Key: "{env.OPENAI_KEY_2}", Note: "{env.WHO}"}},
					Headers:  map[string]string{"Authorization": "Bearer {env.TOKEN}"},
					Proxy:    "{env.EGRESS}",
				}},
			},
		},
		{
			name: "several upstreams, providers, reasoning budget, heredoc prompt",
			input: `llm_proxy {
				upstream ant {
					provider anthropic
					key sk-ant-1
					reasoning 2048
					system_prompt <<EOF
						Line one.
						Line two.
						EOF
				}
				upstream gem.ini_2 {
					provider gemini
					key g-1
					priority 2
					reasoning off
					proxy http://user:pass@proxy.local:3128
				}
				upstream ds {
					provider openai
					base_url http://localhost:8000/v1
					key sk-1
					alias fast deepseek-chat
				}
			}`,
			want: &Proxy{Upstreams: []*Upstream{
				{Name: "ant", Provider: "anthropic", Keys: []*Key{{Key: "sk-ant-1"}}, Reasoning: "2048",
					SystemPrompt: "Line one.\nLine two."},
				{Name: "gem.ini_2", Provider: "gemini", Keys: []*Key{{Key: "g-1"}}, Priority: 2, Reasoning: "off",
					Proxy: "http://user:pass@proxy.local:3128"},
				{Name: "ds", Provider: "openai", BaseURL: "http://localhost:8000/v1", Keys: []*Key{{Key: "sk-1"}},
					Aliases: map[string]Alias{"fast": {Model: "deepseek-chat"}}},
			}},
		},
		{
			name: "an alias shared by two upstreams, alias settings, a model listed under an alias's name, fallbacks",
			input: `llm_proxy {
				fallback gpt-5-high sonnet gemini-2.5-pro
				upstream oai {
					provider openai
					key sk-1
					models gpt-5 sonnet
					alias gpt-5-high gpt-5 {
						reasoning high
						max_output_tokens 32000
					}
					alias gpt-5-minimal gpt-5 {
						reasoning minimal
						system_prompt "Answer in one line."
					}
				}
				upstream ant {
					provider anthropic
					key sk-ant-1
					alias sonnet claude-sonnet-4-5
					alias gpt-5-high claude-opus-4-1 {
						reasoning 16000
					}
					priority 1
				}
				upstream gem {
					provider gemini
					key g-1
					models gemini-*
				}
				fallback sonnet gem/gemini-2.5-flash
			}`,
			want: &Proxy{
				Fallbacks: map[string][]string{"gpt-5-high": {"sonnet", "gemini-2.5-pro"}, "sonnet": {"gem/gemini-2.5-flash"}},
				Upstreams: []*Upstream{
					{Name: "oai", Provider: "openai", Keys: []*Key{{Key: "sk-1"}}, Models: []string{"gpt-5", "sonnet"},
						Aliases: map[string]Alias{
							"gpt-5-high":    {Model: "gpt-5", Reasoning: "high", MaxOutputTokens: 32000},
							"gpt-5-minimal": {Model: "gpt-5", Reasoning: "minimal", SystemPrompt: "Answer in one line."},
						}},
					{Name: "ant", Provider: "anthropic", Keys: []*Key{{Key: "sk-ant-1"}}, Priority: 1,
						Aliases: map[string]Alias{
							"sonnet":     {Model: "claude-sonnet-4-5"},
							"gpt-5-high": {Model: "claude-opus-4-1", Reasoning: "16000"},
						}},
					{Name: "gem", Provider: "gemini", Keys: []*Key{{Key: "g-1"}}, Models: []string{"gemini-*"}},
				}},
		},
		{
			name: "same secret and model in two upstreams, alias remapping an own model",
			input: `llm_proxy {
				upstream a {
					provider openai
					key sk-1
					models m1 m2
					alias m1 m1-2024
				}
				upstream b {
					provider openai
					key sk-1
					models m2 m*
					priority 1
				}
			}`,
			want: &Proxy{Upstreams: []*Upstream{
				{Name: "a", Provider: "openai", Keys: []*Key{{Key: "sk-1"}}, Models: []string{"m1", "m2"},
					Aliases: map[string]Alias{"m1": {Model: "m1-2024"}}},
				{Name: "b", Provider: "openai", Keys: []*Key{{Key: "sk-1"}}, Models: []string{"m2", "m*"}, Priority: 1},
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTest(tc.input)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parsed config differs\n got: %s\nwant: %s", mustJSON(t, got), mustJSON(t, tc.want))
			}
			// What the parser accepts, Validate accepts.
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestCaddyfileErrors(t *testing.T) {
	// Each input starts with "llm_proxy {" on line 1, so an error on the
	// first option is at Testfile:2.
	for _, tc := range []struct {
		name  string
		input string
		want  string
	}{
		// directive and top level
		{"directive argument", "llm_proxy extra {\n" + oneUpstream + "\n}",
			"wrong argument count or unexpected line ending after 'extra', at Testfile:1"},
		{"no block", "llm_proxy",
			"at least one upstream is required, at Testfile:1"},
		{"empty block", "llm_proxy {\n}",
			"at least one upstream is required, at Testfile:1"},
		{"no upstream", "llm_proxy {\n\ttimeout 1s\n}",
			"at least one upstream is required, at Testfile:1"},
		{"unknown subdirective", "llm_proxy {\n\tfoo bar\n}",
			`unrecognized subdirective "foo", at Testfile:2`},
		{"duplicate timeout", "llm_proxy {\n\ttimeout 1s\n\ttimeout 2s\n}",
			`duplicate option "timeout", at Testfile:3`},
		{"duplicate name", "llm_proxy {\n\tname a\n\tname b\n}",
			`duplicate option "name", at Testfile:3`},
		{"duplicate storage", "llm_proxy {\n\tstorage memory\n\tstorage badger\n}",
			`duplicate option "storage", at Testfile:3`},
		{"bad name", "llm_proxy {\n\tname \"a b\"\n}",
			`invalid instance name "a b": use only letters, digits, '_', '.' and '-', at Testfile:2`},
		{"dot-dot name", "llm_proxy {\n\tname ..\n}",
			`invalid instance name "..": use only letters, digits, '_', '.' and '-', at Testfile:2`},
		{"name without value", "llm_proxy {\n\tname\n}",
			"wrong argument count or unexpected line ending after 'name', at Testfile:2"},
		{"client_key without value", "llm_proxy {\n\tclient_key\n}",
			"wrong argument count or unexpected line ending after 'client_key', at Testfile:2"},
		{"empty client_key", "llm_proxy {\n\tclient_key a \"\"\n}",
			"client_key: empty secret, at Testfile:2"},
		{"storage without type", "llm_proxy {\n\tstorage\n}",
			"wrong argument count or unexpected line ending after 'storage', at Testfile:2"},
		{"storage unknown", "llm_proxy {\n\tstorage disk\n}",
			`unknown storage type "disk"; want badger, memory or redis, at Testfile:2`},
		{"storage redis without url", "llm_proxy {\n\tstorage redis\n}",
			`storage redis needs a URL: redis://[user:password@]host[:port][/db] or rediss://..., at Testfile:2`},
		{"storage redis bad scheme", "llm_proxy {\n\tstorage redis http://localhost:6379\n}",
			`redis URL must start with redis:// or rediss://, got "http://", at Testfile:2`},
		{"storage redis bad url keeps the password out", "llm_proxy {\n\tstorage redis \"redis://u:sekrit@a b\"\n}",
			`invalid redis URL: invalid character " " in host name, at Testfile:2`},
		{"storage redis two urls", "llm_proxy {\n\tstorage redis redis://a redis://b\n}",
			"wrong argument count or unexpected line ending after 'redis://b', at Testfile:2"},
		{"storage redis bad on_error", "llm_proxy {\n\tstorage redis redis://a {\n\t\ton_error maybe\n\t}\n}",
			`on_error must be closed or open, got "maybe", at Testfile:3`},
		{"storage redis unknown option", "llm_proxy {\n\tstorage redis redis://a {\n\t\tdb 2\n\t}\n}",
			`unrecognized storage redis option "db"; want prefix or on_error, at Testfile:3`},
		{"storage redis duplicate prefix", "llm_proxy {\n\tstorage redis redis://a {\n\t\tprefix a\n\t\tprefix b\n\t}\n}",
			`duplicate option "prefix", at Testfile:4`},
		{"storage memory with block", "llm_proxy {\n\tstorage memory {\n\t\tprefix a\n\t}\n}",
			`storage takes no block, at Testfile:2`},
		{"storage memory with dir", "llm_proxy {\n\tstorage memory /tmp\n}",
			"wrong argument count or unexpected line ending after '/tmp', at Testfile:2"},
		{"storage badger two dirs", "llm_proxy {\n\tstorage badger /a /b\n}",
			"wrong argument count or unexpected line ending after '/b', at Testfile:2"},
		{"retries negative", "llm_proxy {\n\tretries -1\n}",
			`retries must be a non-negative integer, got "-1", at Testfile:2`},
		{"retries not a number", "llm_proxy {\n\tretries many\n}",
			`retries must be a non-negative integer, got "many", at Testfile:2`},
		{"zero max_output_tokens", "llm_proxy {\n\tupstream oai {\n\t\tprovider openai\n\t\tkey k\n\t\tmax_output_tokens 0\n\t}\n}",
			`max_output_tokens must be a positive integer, got "0", at Testfile:5`},
		{"bad idle_timeout", "llm_proxy {\n\tidle_timeout soon\n}",
			`idle_timeout must be a duration like 30s or 2m, got "soon", at Testfile:2`},
		{"negative keepalive", "llm_proxy {\n\tkeepalive -1s\n}",
			`keepalive must be a positive duration, got "-1s", at Testfile:2`},
		{"zero max_answer", "llm_proxy {\n\tmax_answer 0\n}",
			`max_answer must be a positive size, got "0", at Testfile:2`},
		{"timeout without value", "llm_proxy {\n\ttimeout\n}",
			"wrong argument count or unexpected line ending after 'timeout', at Testfile:2"},
		{"timeout two values", "llm_proxy {\n\ttimeout 1s 2s\n}",
			"wrong argument count or unexpected line ending after '2s', at Testfile:2"},
		{"timeout with block", "llm_proxy {\n\ttimeout 1s {\n\t}\n}",
			"timeout takes no block, at Testfile:2"},
		{"timeout not a duration", "llm_proxy {\n\ttimeout soon\n}",
			`timeout must be a duration like 30s or 2m, got "soon", at Testfile:2`},
		{"timeout zero", "llm_proxy {\n\ttimeout 0s\n}",
			`timeout must be a positive duration, got "0s", at Testfile:2`},
		{"timeout negative", "llm_proxy {\n\ttimeout -5s\n}",
			`timeout must be a positive duration, got "-5s", at Testfile:2`},
		{"probe_interval zero", "llm_proxy {\n\tprobe_interval 0\n}",
			`probe_interval must be a positive duration, got "0", at Testfile:2`},
		{"max_body zero", "llm_proxy {\n\tmax_body 0MB\n}",
			`max_body must be a positive size, got "0MB", at Testfile:2`},
		{"max_body not a size", "llm_proxy {\n\tmax_body lots\n}",
			`max_body must be a size like 32MiB or 10MB, got "lots", at Testfile:2`},
		{"max_body too large", "llm_proxy {\n\tmax_body 10EB\n}",
			`max_body must be a positive size, got "10EB", at Testfile:2`},
		{"timezone unknown", "llm_proxy {\n\ttimezone Mars/Olympus_Mons\n}",
			`unknown timezone "Mars/Olympus_Mons", at Testfile:2`},
		{"log_size zero", "llm_proxy {\n\tlog_size 0\n}",
			`log_size must be a positive integer, got "0", at Testfile:2`},
		{"log_size not a number", "llm_proxy {\n\tlog_size 1e3\n}",
			`log_size must be a positive integer, got "1e3", at Testfile:2`},

		// upstream
		{"upstream without name", "llm_proxy {\n\tupstream {\n\t\tprovider openai\n\t}\n}",
			"wrong argument count or unexpected line ending after 'upstream', at Testfile:2"},
		{"upstream two names", "llm_proxy {\n\tupstream a b {\n\t}\n}",
			"wrong argument count or unexpected line ending after 'b', at Testfile:2"},
		{"upstream bad name", "llm_proxy {\n\tupstream a/b {\n\t}\n}",
			`invalid upstream name "a/b": use only letters, digits, '_', '.' and '-', at Testfile:2`},
		{"duplicate upstream", "llm_proxy {" + oneUpstream + oneUpstream + "\n}",
			`duplicate upstream name "oai", at Testfile:6`},
		{"upstream without block", "llm_proxy {\n\tupstream oai\n}",
			`upstream "oai": provider is required; want openai, openai_responses, anthropic or gemini, at Testfile:2`},
		{"upstream without provider", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1\n\t}\n}",
			`upstream "oai": provider is required; want openai, openai_responses, anthropic or gemini, at Testfile:2`},
		{"upstream without key", "llm_proxy {\n\tupstream oai {\n\t\tprovider openai\n\t}\n}",
			`upstream "oai": at least one key is required, at Testfile:2`},
		{"fallback to an unserved model", "llm_proxy {\n\tupstream oai {\n\t\tprovider openai\n\t\tkey k\n\t\tmodels gpt-*\n\t}\n\tfallback gpt-4o nope\n}",
			"fallback \"gpt-4o\": no upstream serves the model \"nope\" (not an alias, a model listed, or a name a `models` pattern admits), at Testfile:7"},
		{"fallback with one model", "llm_proxy {" + oneUpstream + "\n\tfallback gpt-4o\n}",
			"wrong argument count or unexpected line ending after 'gpt-4o', at Testfile:6"},
		{"fallback to itself", "llm_proxy {\n\tfallback a b a" + oneUpstream + "\n}",
			`fallback "a": a model cannot fall back to itself, at Testfile:2`},
		{"fallback naming a model twice", "llm_proxy {\n\tfallback a b b" + oneUpstream + "\n}",
			`fallback "a": "b" is named twice, at Testfile:2`},
		{"duplicate fallback", "llm_proxy {\n\tfallback a b\n\tfallback a c" + oneUpstream + "\n}",
			`duplicate fallback for model "a", at Testfile:3`},
		{"fallback cycle", "llm_proxy {\n\tfallback a b c\n\tfallback c a" + oneUpstream + "\n}",
			`fallback "a": following fallbacks leads back to "a" (a cycle), at Testfile:2`},
		{"alias option unknown", "llm_proxy {\n\tupstream oai {\n\t\talias fast a {\n\t\t\ttemperature 1\n\t\t}\n\t}\n}",
			`unrecognized alias option "temperature"; want reasoning, system_prompt or max_output_tokens, at Testfile:4`},
		{"alias option twice", "llm_proxy {\n\tupstream oai {\n\t\talias fast a {\n\t\t\treasoning low\n\t\t\treasoning high\n\t\t}\n\t}\n}",
			`duplicate alias option "reasoning", at Testfile:5`},
		{"alias reasoning unknown", "llm_proxy {\n\tupstream oai {\n\t\talias fast a {\n\t\t\treasoning max\n\t\t}\n\t}\n}",
			`alias "fast": reasoning must be auto, off, minimal, low, medium, high or a positive token budget, got "max", at Testfile:4`},
		{"alias max_output_tokens zero", "llm_proxy {\n\tupstream oai {\n\t\talias fast a {\n\t\t\tmax_output_tokens 0\n\t\t}\n\t}\n}",
			`alias "fast": max_output_tokens must be a positive integer, got "0", at Testfile:4`},
		{"alias system_prompt unquoted", "llm_proxy {\n\tupstream oai {\n\t\talias fast a {\n\t\t\tsystem_prompt be brief\n\t\t}\n\t}\n}",
			`system_prompt takes one argument; quote text that contains spaces, at Testfile:4`},
		{"alias with three arguments", "llm_proxy {\n\tupstream oai {\n\t\talias fast a b\n\t}\n}",
			"wrong argument count or unexpected line ending after 'b', at Testfile:3"},
		{"unknown provider", "llm_proxy {\n\tupstream oai {\n\t\tprovider azure\n\t}\n}",
			`unknown provider "azure"; want openai, openai_responses, anthropic or gemini, at Testfile:3`},
		{"provider in capitals", "llm_proxy {\n\tupstream oai {\n\t\tprovider OpenAI\n\t}\n}",
			`unknown provider "OpenAI"; want openai, openai_responses, anthropic or gemini, at Testfile:3`},
		{"duplicate provider", "llm_proxy {\n\tupstream oai {\n\t\tprovider openai\n\t\tprovider gemini\n\t}\n}",
			`duplicate upstream option "provider", at Testfile:4`},
		{"unknown upstream option", "llm_proxy {\n\tupstream oai {\n\t\tapi_key sk-1\n\t}\n}",
			`unrecognized upstream option "api_key", at Testfile:3`},
		{"top-level option in upstream", "llm_proxy {\n\tupstream oai {\n\t\ttimeout 1s\n\t}\n}",
			`unrecognized upstream option "timeout", at Testfile:3`},
		{"base_url without scheme", "llm_proxy {\n\tupstream oai {\n\t\tbase_url api.openai.com/v1\n\t}\n}",
			`base_url must be an absolute http or https URL, got "api.openai.com/v1", at Testfile:3`},
		{"base_url ftp", "llm_proxy {\n\tupstream oai {\n\t\tbase_url ftp://example.com\n\t}\n}",
			`base_url must be an absolute http or https URL, got "ftp://example.com", at Testfile:3`},
		{"base_url with query", "llm_proxy {\n\tupstream oai {\n\t\tbase_url https://example.com/v1?x=1\n\t}\n}",
			`base_url must not have a query or fragment, got "https://example.com/v1?x=1", at Testfile:3`},
		{"base_url unparsable", "llm_proxy {\n\tupstream oai {\n\t\tbase_url http://[::1\n\t}\n}",
			`base_url must be an absolute http or https URL, got an unparsable URL, at Testfile:3`},
		{"duplicate base_url", "llm_proxy {\n\tupstream oai {\n\t\tbase_url https://a.com\n\t\tbase_url https://b.com\n\t}\n}",
			`duplicate upstream option "base_url", at Testfile:4`},
		{"proxy scheme", "llm_proxy {\n\tupstream oai {\n\t\tproxy ftp://u:secret@example.com\n\t}\n}",
			`proxy must be an http, https or socks5 URL, got "ftp://u:xxxxx@example.com", at Testfile:3`},
		{"proxy without host", "llm_proxy {\n\tupstream oai {\n\t\tproxy socks5://\n\t}\n}",
			`proxy must be an http, https or socks5 URL, got "socks5://", at Testfile:3`},
		{"reasoning unknown", "llm_proxy {\n\tupstream oai {\n\t\treasoning max\n\t}\n}",
			`reasoning must be auto, off, minimal, low, medium, high or a positive token budget, got "max", at Testfile:3`},
		{"reasoning zero budget", "llm_proxy {\n\tupstream oai {\n\t\treasoning 0\n\t}\n}",
			`reasoning must be auto, off, minimal, low, medium, high or a positive token budget, got "0", at Testfile:3`},
		{"reasoning in capitals", "llm_proxy {\n\tupstream oai {\n\t\treasoning High\n\t}\n}",
			`reasoning must be auto, off, minimal, low, medium, high or a positive token budget, got "High", at Testfile:3`},
		{"priority not a number", "llm_proxy {\n\tupstream oai {\n\t\tpriority first\n\t}\n}",
			`priority must be an integer, got "first", at Testfile:3`},
		{"duplicate priority", "llm_proxy {\n\tupstream oai {\n\t\tpriority 1\n\t\tpriority 2\n\t}\n}",
			`duplicate upstream option "priority", at Testfile:4`},
		{"default rpm zero", "llm_proxy {\n\tupstream oai {\n\t\trpm 0\n\t}\n}",
			`rpm must be a positive integer, got "0", at Testfile:3`},
		{"default weight negative", "llm_proxy {\n\tupstream oai {\n\t\tweight -2\n\t}\n}",
			`weight must be a positive integer, got "-2", at Testfile:3`},
		{"default tpd not a number", "llm_proxy {\n\tupstream oai {\n\t\ttpd 1M\n\t}\n}",
			`tpd must be a positive integer, got "1M", at Testfile:3`},
		{"default concurrency too large", "llm_proxy {\n\tupstream oai {\n\t\tconcurrency 9999999999\n\t}\n}",
			`concurrency must be a positive integer, got "9999999999", at Testfile:3`},
		{"default interval zero", "llm_proxy {\n\tupstream oai {\n\t\tinterval 0s\n\t}\n}",
			`interval must be a positive duration, got "0s", at Testfile:3`},
		{"duplicate default", "llm_proxy {\n\tupstream oai {\n\t\trpm 1\n\t\trpm 2\n\t}\n}",
			`duplicate upstream option "rpm", at Testfile:4`},
		{"models without value", "llm_proxy {\n\tupstream oai {\n\t\tmodels\n\t}\n}",
			"wrong argument count or unexpected line ending after 'models', at Testfile:3"},
		{"models empty pattern", "llm_proxy {\n\tupstream oai {\n\t\tmodels a \"\"\n\t}\n}",
			"models: empty pattern, at Testfile:3"},
		{"alias one argument", "llm_proxy {\n\tupstream oai {\n\t\talias fast\n\t}\n}",
			"wrong argument count or unexpected line ending after 'fast', at Testfile:3"},
		{"alias three arguments", "llm_proxy {\n\tupstream oai {\n\t\talias fast a b\n\t}\n}",
			"wrong argument count or unexpected line ending after 'b', at Testfile:3"},
		{"alias empty target", "llm_proxy {\n\tupstream oai {\n\t\talias fast \"\"\n\t}\n}",
			`alias "fast": empty target model, at Testfile:3`},
		{"duplicate alias", "llm_proxy {\n\tupstream oai {\n\t\talias fast a\n\t\talias fast b\n\t}\n}",
			`duplicate alias "fast", at Testfile:4`},
		{"header one argument", "llm_proxy {\n\tupstream oai {\n\t\theader X-A\n\t}\n}",
			"wrong argument count or unexpected line ending after 'X-A', at Testfile:3"},
		{"header bad name", "llm_proxy {\n\tupstream oai {\n\t\theader \"X A\" v\n\t}\n}",
			`invalid header name "X A", at Testfile:3`},
		{"header bad value", "llm_proxy {\n\tupstream oai {\n\t\theader X-A \"a\nb\"\n\t}\n}",
			`header "X-A": invalid value, at Testfile:3`},
		{"duplicate header", "llm_proxy {\n\tupstream oai {\n\t\theader X-A 1\n\t\theader x-a 2\n\t}\n}",
			`duplicate header "x-a" (header names are case-insensitive), at Testfile:4`},
		{"system_prompt unquoted", "llm_proxy {\n\tupstream oai {\n\t\tsystem_prompt Be brief.\n\t}\n}",
			"system_prompt takes one argument; quote text that contains spaces, at Testfile:3"},
		{"duplicate system_prompt", "llm_proxy {\n\tupstream oai {\n\t\tsystem_prompt a\n\t\tsystem_prompt b\n\t}\n}",
			`duplicate upstream option "system_prompt", at Testfile:4`},

		// key
		{"key without secret", "llm_proxy {\n\tupstream oai {\n\t\tkey\n\t}\n}",
			"wrong argument count or unexpected line ending after 'key', at Testfile:3"},
		{"key without secret but block", "llm_proxy {\n\tupstream oai {\n\t\tkey {\n\t\t}\n\t}\n}",
			"wrong argument count or unexpected line ending after 'key', at Testfile:3"},
		{"key two secrets", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 sk-2\n\t}\n}",
			"wrong argument count or unexpected line ending after 'sk-2', at Testfile:3"},
		{"key empty secret", "llm_proxy {\n\tupstream oai {\n\t\tkey \"\"\n\t}\n}",
			"key: empty secret, at Testfile:3"},
		{"key repeated", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1\n\t\tkey sk-2\n\t\tkey sk-1 {\n\t\t\tnote x\n\t\t}\n\t}\n}",
			"key 3: same secret as key 1, at Testfile:5"},
		{"key proxy scheme", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\tproxy ftp://u:secret@example.com\n\t\t}\n\t}\n}",
			`proxy must be an http, https or socks5 URL, got "ftp://u:xxxxx@example.com", at Testfile:4`},
		{"key base_url", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\tbase_url example.com\n\t\t}\n\t}\n}",
			`base_url must be an absolute http or https URL, got "example.com", at Testfile:4`},
		{"key duplicate header", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\theader X-A 1\n\t\t\theader x-a 2\n\t\t}\n\t}\n}",
			`duplicate header "x-a" (header names are case-insensitive), at Testfile:5`},
		{"key header one value", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\theader X-A\n\t\t}\n\t}\n}",
			"wrong argument count or unexpected line ending after 'X-A', at Testfile:4"},
		{"key duplicate proxy", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\tproxy http://a:1\n\t\t\tproxy http://b:1\n\t\t}\n\t}\n}",
			`duplicate key option "proxy", at Testfile:5`},
		{"affinity zero", "llm_proxy {\n\taffinity 0s\n}",
			`affinity must be a positive duration, got "0s", at Testfile:2`},
		{"key unknown option", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\tpriority 1\n\t\t}\n\t}\n}",
			`unrecognized key option "priority", at Testfile:4`},
		{"key duplicate option", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\trpm 1\n\t\t\trpm 1\n\t\t}\n\t}\n}",
			`duplicate key option "rpm", at Testfile:5`},
		{"key rpm zero", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\trpm 0\n\t\t}\n\t}\n}",
			`rpm must be a positive integer, got "0", at Testfile:4`},
		{"key rpd negative", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\trpd -1\n\t\t}\n\t}\n}",
			`rpd must be a positive integer, got "-1", at Testfile:4`},
		{"key tpm fraction", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\ttpm 1.5\n\t\t}\n\t}\n}",
			`tpm must be a positive integer, got "1.5", at Testfile:4`},
		{"key weight zero", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\tweight 0\n\t\t}\n\t}\n}",
			`weight must be a positive integer, got "0", at Testfile:4`},
		{"key interval bad", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\tinterval often\n\t\t}\n\t}\n}",
			`interval must be a duration like 30s or 2m, got "often", at Testfile:4`},
		{"key concurrency missing", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\tconcurrency\n\t\t}\n\t}\n}",
			"wrong argument count or unexpected line ending after 'concurrency', at Testfile:4"},
		{"key disabled with value", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\tdisabled yes\n\t\t}\n\t}\n}",
			"wrong argument count or unexpected line ending after 'yes', at Testfile:4"},
		{"key note unquoted", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\tnote team A\n\t\t}\n\t}\n}",
			"note takes one argument; quote text that contains spaces, at Testfile:4"},
		{"key limit with block", "llm_proxy {\n\tupstream oai {\n\t\tkey sk-1 {\n\t\t\trpm 5 {\n\t\t\t}\n\t\t}\n\t}\n}",
			"rpm takes no block, at Testfile:4"},
		// clients
		{"client without name", "llm_proxy {\n\tclient\n}",
			"wrong argument count or unexpected line ending after 'client', at Testfile:2"},
		{"client two names", "llm_proxy {\n\tclient a b\n}",
			"wrong argument count or unexpected line ending after 'b', at Testfile:2"},
		{"client bad name", "llm_proxy {\n\tclient a/b {\n\t\tkey ck-1\n\t}\n}",
			`invalid client name "a/b": up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, at Testfile:2`},
		{"client weight", "llm_proxy {\n\tclient ci {\n\t\tweight 2\n\t}\n}",
			`client "ci": a client has no weight (its limits are rpm, rpd, tpm, tpd and concurrency), at Testfile:3`},
		{"client unknown option", "llm_proxy {\n\tclient ci {\n\t\tpriority 2\n\t}\n}",
			`unrecognized client option "priority", at Testfile:3`},
		{"client duplicate limit", "llm_proxy {\n\tclient ci {\n\t\trpm 2\n\t\trpm 3\n\t}\n}",
			`client "ci": duplicate option "rpm", at Testfile:4`},
		{"client rpm zero", "llm_proxy {\n\tclient ci {\n\t\trpm 0\n\t}\n}",
			`rpm must be a positive integer, got "0", at Testfile:3`},
		{"client empty key", "llm_proxy {\n\tclient ci {\n\t\tkey \"\"\n\t}\n}",
			`client "ci": key: empty secret, at Testfile:3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseTest(tc.input)
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("wrong error\n got: %s\nwant: %s", err, tc.want)
			}
		})
	}
}

// TestCaddyfileErrorsHideSecrets makes sure no parse error repeats a key.
func TestCaddyfileErrorsHideSecrets(t *testing.T) {
	for _, input := range []string{
		"llm_proxy {\n\tupstream oai {\n\t\tprovider openai\n\t\tkey sk-SECRET\n\t\tkey sk-SECRET\n\t}\n}",
		"llm_proxy {\n\tupstream oai {\n\t\tprovider openai\n\t\tkey sk-SECRET {\n\t\t\trpm 0\n\t\t}\n\t}\n}",
		"llm_proxy {\n\tupstream oai {\n\t\tprovider openai\n\t\tproxy http://user:SECRET@[::1\n\t}\n}",
		"llm_proxy {\n\tupstream oai {\n\t\tprovider openai\n\t\theader X-Key \"SECRET\n\"\n\t}\n}",
		"llm_proxy {\n\tstorage redis redis://u:SECRET@[::1\n}",
		"llm_proxy {\n\tstorage redis http://u:SECRET@host\n}",
		"llm_proxy {\n\tstorage redis redis://u:SECRET@host:port\n}",
	} {
		_, err := parseTest(input)
		if err == nil {
			t.Fatalf("no error for %q", input)
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error reveals a secret: %v", err)
		}
	}
}

// caddyfileSite is a whole Caddyfile with llm_proxy after reverse_proxy in
// the file and no `order` option: the directive's registered order must put
// it first all the same.
const caddyfileSite = `{
	admin localhost:2999
}

llm.example.com {
	reverse_proxy /other/* localhost:9000
	llm_proxy /v1/* {
		name adapt
		client_key {env.CLIENT_KEY}
		storage memory
		retries 1
		timeout 30s
		max_body 1MiB
		timezone Europe/Berlin
		log_size 10
		probe_interval 1m
		upstream oai {
			provider openai
			key {env.OPENAI_KEY} {
				weight 2
				rpm 60
				interval 1s
				note "team A"
			}
			key sk-2 {
				disabled
			}
			rpd 1000
			models gpt-4o gpt-4o-*
			alias fast gpt-4o-mini
			header X-Title proxy
			reasoning low
		}
		upstream ant {
			provider anthropic
			base_url https://api.anthropic.com
			key {$ANTHROPIC_KEY_FOR_TEST}
			priority 1
			proxy http://127.0.0.1:3128
			system_prompt "Be brief."
		}
	}
}
`

// caddyfileSiteProxy is what the llm_proxy block of caddyfileSite parses to
// (with ANTHROPIC_KEY_FOR_TEST set to "sk-ant-lexer").
var caddyfileSiteProxy = &Proxy{
	Name:          "adapt",
	ClientKeys:    []string{"{env.CLIENT_KEY}"},
	Storage:       &Storage{Type: "memory"},
	Retries:       intPtr(1),
	Timeout:       caddy.Duration(30 * time.Second),
	MaxBody:       1 << 20,
	Timezone:      "Europe/Berlin",
	LogSize:       10,
	ProbeInterval: caddy.Duration(time.Minute),
	Upstreams: []*Upstream{
		{
			Name:     "oai",
			Provider: "openai",
			Keys: []*Key{
				{Key: "{env.OPENAI_KEY}", Limits: Limits{Weight: 2, RPM: 60, Interval: caddy.Duration(time.Second)}, Note: "team A"},
				{Key: "sk-2", Disabled: true},
			},
			Defaults:  Limits{RPD: 1000},
			Models:    []string{"gpt-4o", "gpt-4o-*"},
			Aliases:   map[string]Alias{"fast": {Model: "gpt-4o-mini"}},
			Headers:   map[string]string{"X-Title": "proxy"},
			Reasoning: "low",
		},
		{
			Name:         "ant",
			Provider:     "anthropic",
			BaseURL:      "https://api.anthropic.com",
			Keys:         []*Key{{Key: "sk-ant-lexer"}},
			Priority:     1,
			Proxy:        "http://127.0.0.1:3128",
			SystemPrompt: "Be brief.",
		},
	},
}

func adapt(t *testing.T, filename string, body []byte) []byte {
	t.Helper()
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("no caddyfile adapter registered")
	}
	out, warnings, err := adapter.Adapt(body, map[string]any{"filename": filename})
	if err != nil {
		t.Fatalf("adapting %s: %v", filename, err)
	}
	for _, w := range warnings {
		t.Errorf("adapting %s: warning: %s", filename, w.String())
	}
	return out
}

// findHandlers returns every handler object named name in adapted JSON, in
// document order, and the names of all handlers in the order met.
func findHandlers(t *testing.T, cfg []byte, name string) (found []json.RawMessage, order []string) {
	t.Helper()
	var walk func(raw json.RawMessage)
	walk = func(raw json.RawMessage) {
		switch {
		case len(raw) > 0 && raw[0] == '{':
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(raw, &obj); err != nil {
				t.Fatal(err)
			}
			var h string
			if v, ok := obj["handler"]; ok && json.Unmarshal(v, &h) == nil {
				order = append(order, h)
				if h == name {
					found = append(found, raw)
					return
				}
			}
			// Walk in a fixed order so that route order is kept.
			for _, k := range []string{"apps", "http", "servers", "srv0", "srv1", "routes", "handle"} {
				if v, ok := obj[k]; ok {
					walk(v)
				}
			}
		case len(raw) > 0 && raw[0] == '[':
			var arr []json.RawMessage
			if err := json.Unmarshal(raw, &arr); err != nil {
				t.Fatal(err)
			}
			for _, v := range arr {
				walk(v)
			}
		}
	}
	walk(cfg)
	return found, order
}

// decodeProxy decodes a handler's JSON strictly, so a field the Caddyfile
// parser produces but Proxy does not know would fail.
func decodeProxy(t *testing.T, raw json.RawMessage) *Proxy {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	delete(obj, "handler")
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	p := new(Proxy)
	if err := dec.Decode(p); err != nil {
		t.Fatalf("decoding handler JSON %s: %v", b, err)
	}
	return p
}

func TestAdaptCaddyfile(t *testing.T) {
	t.Setenv("ANTHROPIC_KEY_FOR_TEST", "sk-ant-lexer")
	cfg := adapt(t, "Caddyfile", []byte(caddyfileSite))

	found, order := findHandlers(t, cfg, "llm_proxy")
	if len(found) != 1 {
		t.Fatalf("found %d llm_proxy handlers, want 1, in %s", len(found), cfg)
	}
	if !strings.Contains(string(found[0]), `"handler":"llm_proxy"`) {
		t.Errorf("handler JSON lacks the handler name: %s", found[0])
	}
	// The directive order puts llm_proxy before reverse_proxy.
	li, ri := -1, -1
	for i, h := range order {
		switch h {
		case "llm_proxy":
			li = i
		case "reverse_proxy":
			ri = i
		}
	}
	if li < 0 || ri < 0 || li > ri {
		t.Errorf("handler order %v: want llm_proxy before reverse_proxy", order)
	}
	// The matcher was stripped and applied to the route.
	if !strings.Contains(string(cfg), `"path":["/v1/*"]`) {
		t.Errorf("matcher /v1/* not in adapted config: %s", cfg)
	}
	// Secrets in placeholders are kept as written; {$X} was expanded by the lexer.
	if !strings.Contains(string(found[0]), `"{env.OPENAI_KEY}"`) {
		t.Errorf("placeholder not kept verbatim: %s", found[0])
	}

	// JSON round trip: the adapted JSON holds exactly the parsed config.
	got := decodeProxy(t, found[0])
	if !reflect.DeepEqual(got, caddyfileSiteProxy) {
		t.Errorf("adapted config differs\n got: %s\nwant: %s", mustJSON(t, got), mustJSON(t, caddyfileSiteProxy))
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	// And the struct survives marshalling and unmarshalling unchanged.
	again := new(Proxy)
	if err := json.Unmarshal(mustJSON(t, got), again); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, got) {
		t.Errorf("JSON round trip changed the config\n got: %s\nwant: %s", mustJSON(t, again), mustJSON(t, got))
	}
}

func TestAdaptCaddyfileError(t *testing.T) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	body := "example.com {\n\tllm_proxy {\n\t\ttimeout 0s\n\t}\n}\n"
	_, _, err := adapter.Adapt([]byte(body), map[string]any{"filename": "Caddyfile"})
	want := `timeout must be a positive duration, got "0s", at Caddyfile:3`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got error %v; want it to contain %q", err, want)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func durationPtr(d time.Duration) *caddy.Duration {
	c := caddy.Duration(d)
	return &c
}
