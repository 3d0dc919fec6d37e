package llmproxy

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	t.Setenv("LLMPROXY_TEST_BASE", "https://example.com/v1")
	t.Setenv("LLMPROXY_TEST_BAD_PROXY", "ftp://u:hunter2@example.com")
	t.Setenv("LLMPROXY_TEST_UNSET", "")

	// up wraps the fields of one upstream named "oai" into a config.
	up := func(fields string) string {
		return `{"upstreams":[{"name":"oai",` + fields + `}]}`
	}
	const ok = `"provider":"openai","keys":[{"key":"sk-1"}]`

	for _, tc := range []struct {
		name string
		json string
		want string // "" means valid
	}{
		// valid configs
		{"minimal", up(ok), ""},
		{"everything", `{
			"name":"main","client_keys":["ck-1","{env.CK}"],"storage":{"type":"badger","dir":"/tmp/x"},
			"retries":0,"timeout":"30s","max_body":1048576,"timezone":"Asia/Tokyo","log_size":10,
			"probe_interval":"5m",
			"upstreams":[{
				"name":"oai","provider":"openai","base_url":"https://api.openai.com/v1",
				"keys":[{"key":"sk-1","weight":2,"rpm":1,"rpd":2,"tpm":3,"tpd":4,"interval":"1s","concurrency":5,
					"note":"n","disabled":true},{"key":"{env.K}"}],
				"defaults":{"weight":1,"rpm":10,"interval":1000000000},
				"models":["gpt-*"],"aliases":{"fast":"gpt-4o-mini"},"priority":-3,
				"headers":{"X-A":"1"},"proxy":"socks5h://proxy:1080","reasoning":"4096","system_prompt":"hi"
			}]}`, ""},
		{"storage memory", `{"storage":{"type":"memory"},` + up(ok)[1:], ""},
		{"clients", `{"client_keys":["ck-1"],"clients":[{"name":"default","rpm":3},` +
			`{"name":"ci","keys":["ck-2","{env.CK}"],"models":["gpt-*"],"rpm":1,"rpd":2,"tpm":3,"tpd":4,"concurrency":5,"note":"n","disabled":true}],` + up(ok)[1:], ""},
		{"client without key", `{"clients":[{"name":"ci"}],` + up(ok)[1:], `client "ci": needs at least one key`},
		{"client twice", `{"clients":[{"name":"ci","keys":["a"]},{"name":"ci","keys":["b"]}],` + up(ok)[1:], `clients: client "ci" is defined twice`},
		{"client shares a secret", `{"client_keys":["a"],"clients":[{"name":"ci","keys":["a"]}],` + up(ok)[1:], `client "ci": key 1 is also a secret of client "default"`},
		{"client negative limit", `{"clients":[{"name":"ci","keys":["a"],"rpm":-1}],` + up(ok)[1:], `client "ci": rpm must be a positive integer, got -1`},
		{"client bad name", `{"clients":[{"name":"a b","keys":["a"]}],` + up(ok)[1:], `clients: invalid client name "a b": up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{"storage default type", `{"storage":{"dir":"/x"},` + up(ok)[1:], ""},
		{"storage redis", `{"storage":{"type":"redis","url":"rediss://user:pw@redis.example:6380/2","prefix":"team:","on_error":"open"},` + up(ok)[1:], ""},
		{"storage redis from env", `{"storage":{"type":"redis","url":"{env.LLMPROXY_TEST_REDIS}"},` + up(ok)[1:], ""},
		{"zero values mean defaults", `{"retries":0,"timeout":0,"max_body":0,"log_size":0,"probe_interval":0,` + up(ok)[1:], ""},
		{"same model in two upstreams", `{"upstreams":[
			{"name":"a","provider":"openai","keys":[{"key":"k"}],"models":["deepseek-chat"]},
			{"name":"b","provider":"openai","keys":[{"key":"k"}],"models":["deepseek-*"],"priority":1}]}`, ""},
		{"alias remaps an own model", up(ok + `,"models":["gpt-4o"],"aliases":{"gpt-4o":"gpt-4o-2024-08-06"}`), ""},
		{"same alias in two upstreams", `{"upstreams":[
			{"name":"a","provider":"openai","keys":[{"key":"k"}],"aliases":{"smart":"gpt-4o"}},
			{"name":"b","provider":"anthropic","keys":[{"key":"k"}],"aliases":{"smart":{"model":"claude-sonnet-4-5","reasoning":"minimal","system_prompt":"Be brief.","max_output_tokens":1000}},"priority":1}]}`, ""},
		{"alias equal to a model of another upstream", `{"upstreams":[
			{"name":"a","provider":"openai","keys":[{"key":"k"}],"models":["gpt-4o"]},
			{"name":"b","provider":"openai","keys":[{"key":"k"}],"aliases":{"gpt-4o":"deepseek-chat"}}]}`, ""},
		{"fallbacks", `{"fallbacks":{"gpt-4o":["smart","oai/x-1","llama-3"],"smart":["b/llama-3"]},"upstreams":[
			{"name":"oai","provider":"openai","keys":[{"key":"k"}],"models":["gpt-4o","x-*"],"aliases":{"smart":"gpt-4o"}},
			{"name":"b","provider":"openai","keys":[{"key":"k"}]}]}`, ""},
		{"alias matching another upstream's glob", `{"upstreams":[
			{"name":"a","provider":"openai","keys":[{"key":"k"}],"models":["gpt-*"]},
			{"name":"b","provider":"openai","keys":[{"key":"k"}],"aliases":{"gpt-fast":"deepseek-chat"}}]}`, ""},
		{"base_url from env", up(ok + `,"base_url":"{env.LLMPROXY_TEST_BASE}"`), ""},
		{"base_url and proxy from unset env mean unset", up(ok + `,"base_url":"{env.LLMPROXY_TEST_UNSET}","proxy":"{env.LLMPROXY_TEST_UNSET}"`), ""},
		{"unknown placeholder in header is kept", up(ok + `,"headers":{"X-A":"{http.request.host}"}`), ""},

		// top level
		{"no upstreams", `{}`, "at least one upstream is required"},
		{"empty upstreams", `{"upstreams":[]}`, "at least one upstream is required"},
		{"bad instance name", `{"name":"../etc",` + up(ok)[1:], `invalid instance name "../etc": use only letters, digits, '_', '.' and '-'`},
		{"empty client key", `{"client_keys":["a",""],` + up(ok)[1:], "client_keys: key 2 is empty"},
		{"unknown storage", `{"storage":{"type":"disk"},` + up(ok)[1:], `storage: unknown storage type "disk"; want badger, memory or redis`},
		{"redis without url", `{"storage":{"type":"redis"},` + up(ok)[1:], `storage: redis storage needs a url: redis://[user:password@]host[:port][/db] or rediss://...`},
		{"redis with dir", `{"storage":{"type":"redis","url":"redis://h","dir":"/x"},` + up(ok)[1:], "storage: a redis store takes no dir"},
		{"redis bad scheme", `{"storage":{"type":"redis","url":"http://h:6379"},` + up(ok)[1:], `storage: redis URL must start with redis:// or rediss://, got "http://"`},
		{"redis bad on_error", `{"storage":{"type":"redis","url":"redis://h","on_error":"maybe"},` + up(ok)[1:], `storage: on_error must be closed or open, got "maybe"`},
		{"redis settings on badger", `{"storage":{"type":"badger","url":"redis://h"},` + up(ok)[1:], "storage: url, prefix and on_error are settings of redis storage"},
		{"redis settings by default", `{"storage":{"on_error":"open"},` + up(ok)[1:], "storage: url, prefix and on_error are settings of redis storage"},
		{"memory with dir", `{"storage":{"type":"memory","dir":"/x"},` + up(ok)[1:], "storage: a memory store takes no dir"},
		{"negative retries", `{"retries":-1,` + up(ok)[1:], "retries must be a non-negative integer, got -1"},
		{"negative timeout", `{"timeout":"-5s",` + up(ok)[1:], "timeout must be a positive duration, got -5s"},
		{"negative probe_interval", `{"probe_interval":-1,` + up(ok)[1:], "probe_interval must be a positive duration, got -1ns"},
		{"negative max_body", `{"max_body":-1,` + up(ok)[1:], "max_body must be a positive size, got -1"},
		{"negative log_size", `{"log_size":-10,` + up(ok)[1:], "log_size must be a positive integer, got -10"},
		{"unknown timezone", `{"timezone":"Mars/Base",` + up(ok)[1:], `unknown timezone "Mars/Base"`},

		// upstream
		{"null upstream", `{"upstreams":[null]}`, "upstream 1: must not be null"},
		{"unnamed upstream", `{"upstreams":[{"name":"oai",` + ok + `},{"provider":"openai"}]}`, "upstream 2: name is required"},
		{"bad upstream name", `{"upstreams":[{"name":"a b",` + ok + `}]}`, `invalid upstream name "a b": use only letters, digits, '_', '.' and '-'`},
		{"duplicate upstream", `{"upstreams":[{"name":"oai",` + ok + `},{"name":"oai",` + ok + `}]}`, `duplicate upstream name "oai"`},
		{"alias with a bad reasoning", up(ok + `,"aliases":{"x":{"model":"gpt-5","reasoning":"max"}}`),
			`upstream "oai": alias "x": reasoning must be auto, off, minimal, low, medium, high or a positive token budget, got "max"`},
		{"alias with a negative max_output_tokens", up(ok + `,"aliases":{"x":{"model":"gpt-5","max_output_tokens":-1}}`),
			`upstream "oai": alias "x": max_output_tokens must be a positive integer, got -1`},
		{"alias without a model", up(ok + `,"aliases":{"x":{"reasoning":"high"}}`), `upstream "oai": alias "x": empty target model`},
		{"fallback to an unserved model", `{"fallbacks":{"gpt-4o":["nope"]},"upstreams":[{"name":"oai",` + ok + `,"models":["gpt-4o"]}]}`,
			`fallback "gpt-4o": no upstream serves the model "nope" (not an alias, a model listed, or a name a ` + "`models`" + ` pattern admits)`},
		{"fallback from an unserved model", `{"fallbacks":{"nope":["gpt-4o"]},"upstreams":[{"name":"oai",` + ok + `,"models":["gpt-4o"]}]}`,
			`fallback "nope": no upstream serves the model "nope" (not an alias, a model listed, or a name a ` + "`models`" + ` pattern admits)`},
		{"fallback through another upstream's prefix", `{"fallbacks":{"gpt-4o":["oai/claude-x"]},"upstreams":[{"name":"oai",` + ok + `,"models":["gpt-4o"]},
			{"name":"ant","provider":"anthropic","keys":[{"key":"k"}],"models":["claude-*"]}]}`,
			`fallback "gpt-4o": no upstream serves the model "oai/claude-x" (not an alias, a model listed, or a name a ` + "`models`" + ` pattern admits)`},
		{"fallback to itself", `{"fallbacks":{"gpt-4o":["gpt-4o"]},` + up(ok)[1:], `fallback "gpt-4o": a model cannot fall back to itself`},
		{"fallback naming a model twice", `{"fallbacks":{"a":["b","b"]},` + up(ok)[1:], `fallback "a": "b" is named twice`},
		{"fallback to nothing", `{"fallbacks":{"a":[]},` + up(ok)[1:], `fallback "a": at least one model to fall back to is required`},
		{"fallback cycle", `{"fallbacks":{"a":["b"],"b":["c"],"c":["a"]},` + up(ok)[1:], `fallback "a": following fallbacks leads back to "a" (a cycle)`},
		{"missing provider", up(`"keys":[{"key":"k"}]`), `upstream "oai": provider is required; want openai, openai_responses, anthropic or gemini`},
		{"unknown provider", up(`"provider":"cohere","keys":[{"key":"k"}]`), `upstream "oai": unknown provider "cohere"; want openai, openai_responses, anthropic or gemini`},
		{"relative base_url", up(ok + `,"base_url":"/v1"`), `upstream "oai": base_url must be an absolute http or https URL, got "/v1"`},
		{"base_url without host", up(ok + `,"base_url":"https:///v1"`), `upstream "oai": base_url must be an absolute http or https URL, got "https:///v1"`},
		{"base_url with fragment", up(ok + `,"base_url":"https://a.com/v1#x"`), `upstream "oai": base_url must not have a query or fragment, got "https://a.com/v1#x"`},
		{"base_url from env, bad", up(ok + `,"base_url":"{env.LLMPROXY_TEST_BAD_PROXY}/v1"`),
			`upstream "oai": base_url must be an absolute http or https URL, got "ftp://u:xxxxx@example.com/v1" (expanded from "{env.LLMPROXY_TEST_BAD_PROXY}/v1")`},
		{"proxy scheme", up(ok + `,"proxy":"ws://proxy:1"`), `upstream "oai": proxy must be an http, https or socks5 URL, got "ws://proxy:1"`},
		{"proxy from env, password hidden", up(ok + `,"proxy":"{env.LLMPROXY_TEST_BAD_PROXY}"`),
			`upstream "oai": proxy must be an http, https or socks5 URL, got "ftp://u:xxxxx@example.com" (expanded from "{env.LLMPROXY_TEST_BAD_PROXY}")`},
		{"reasoning", up(ok + `,"reasoning":"extreme"`), `upstream "oai": reasoning must be auto, off, minimal, low, medium, high or a positive token budget, got "extreme"`},
		{"negative reasoning budget", up(ok + `,"reasoning":"-1"`), `upstream "oai": reasoning must be auto, off, minimal, low, medium, high or a positive token budget, got "-1"`},
		{"negative default", up(ok + `,"defaults":{"tpm":-1}`), `upstream "oai": defaults: tpm must be a positive integer, got -1`},
		{"negative default interval", up(ok + `,"defaults":{"interval":"-1s"}`), `upstream "oai": defaults: interval must be a positive duration, got -1s`},
		{"no keys", up(`"provider":"openai"`), `upstream "oai": at least one key is required`},
		{"empty keys", up(`"provider":"openai","keys":[]`), `upstream "oai": at least one key is required`},
		{"null key", up(`"provider":"openai","keys":[{"key":"a"},null]`), `upstream "oai": key 2: must not be null`},
		{"empty secret", up(`"provider":"openai","keys":[{"key":""}]`), `upstream "oai": key 1: empty secret`},
		{"repeated secret", up(`"provider":"openai","keys":[{"key":"a"},{"key":"b"},{"key":"b"}]`), `upstream "oai": key 3: same secret as key 2`},
		{"negative weight", up(`"provider":"openai","keys":[{"key":"a","weight":-1}]`), `upstream "oai": key 1: weight must be a positive integer, got -1`},
		{"negative rpm", up(`"provider":"openai","keys":[{"key":"a","rpm":-1}]`), `upstream "oai": key 1: rpm must be a positive integer, got -1`},
		{"negative rpd", up(`"provider":"openai","keys":[{"key":"a","rpd":-1}]`), `upstream "oai": key 1: rpd must be a positive integer, got -1`},
		{"negative tpd", up(`"provider":"openai","keys":[{"key":"a","tpd":-1}]`), `upstream "oai": key 1: tpd must be a positive integer, got -1`},
		{"negative concurrency", up(`"provider":"openai","keys":[{"key":"a","concurrency":-1}]`), `upstream "oai": key 1: concurrency must be a positive integer, got -1`},
		{"affinity negative", `{"affinity":-1,` + up(ok)[1:], "affinity must be a positive duration, got -1ns"},
		{"key egress", up(`"provider":"openai","keys":[{"key":"a","base_url":"https://eu.example.com/v1","proxy":"socks5h://p:1080","headers":{"X-A":"1"}}]`), ""},
		{"key base_url", up(`"provider":"openai","keys":[{"key":"a","base_url":"eu.example.com"}]`), `upstream "oai": key 1: base_url must be an absolute http or https URL, got "eu.example.com"`},
		{"key proxy from env", up(`"provider":"openai","keys":[{"key":"a","proxy":"{env.LLMPROXY_TEST_BAD_PROXY}"}]`), `upstream "oai": key 1: proxy must be an http, https or socks5 URL, got "ftp://u:xxxxx@example.com" (expanded from "{env.LLMPROXY_TEST_BAD_PROXY}")`},
		{"key header twice", up(`"provider":"openai","keys":[{"key":"a","headers":{"X-A":"1","x-a":"2"}}]`), `upstream "oai": key 1: duplicate header "x-a" (header names are case-insensitive)`},
		{"negative interval", up(`"provider":"openai","keys":[{"key":"a","interval":"-2m"}]`), `upstream "oai": key 1: interval must be a positive duration, got -2m0s`},
		{"empty model pattern", up(ok + `,"models":["a",""]`), `upstream "oai": models: empty pattern`},
		{"empty alias name", up(ok + `,"aliases":{"":"x"}`), `upstream "oai": alias: empty name`},
		{"empty alias target", up(ok + `,"aliases":{"fast":" "}`), `upstream "oai": alias "fast": empty target model`},
		{"bad header name", up(ok + `,"headers":{"X A":"1"}`), `upstream "oai": invalid header name "X A"`},
		{"bad header value", up(ok + `,"headers":{"X-A":"1\n2"}`), `upstream "oai": header "X-A": invalid value`},
		{"duplicate header", up(ok + `,"headers":{"x-a":"1","X-A":"2"}`), `upstream "oai": duplicate header "x-a" (header names are case-insensitive)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := new(Proxy)
			dec := json.NewDecoder(strings.NewReader(tc.json))
			dec.DisallowUnknownFields()
			if err := dec.Decode(p); err != nil {
				t.Fatalf("bad test JSON: %v", err)
			}
			err := p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("no error; want %q", tc.want)
			case tc.want != "" && err.Error() != tc.want:
				t.Errorf("wrong error\n got: %s\nwant: %s", err, tc.want)
			}
		})
	}
}

// TestValidateReadOnly makes sure Validate changes nothing, placeholders included.
func TestValidateReadOnly(t *testing.T) {
	t.Setenv("LLMPROXY_TEST_BASE", "https://example.com/v1")
	const in = `{"upstreams":[{"name":"oai","provider":"openai","keys":[{"key":"{env.K}"}],` +
		`"base_url":"{env.LLMPROXY_TEST_BASE}","headers":{"X-A":"{env.LLMPROXY_TEST_BASE}"}}]}`
	p := new(Proxy)
	if err := json.Unmarshal([]byte(in), p); err != nil {
		t.Fatal(err)
	}
	before := string(mustJSON(t, p))
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if after := string(mustJSON(t, p)); after != before {
		t.Errorf("Validate changed the config\nbefore: %s\n after: %s", before, after)
	}
}

// TestValidateErrorsHideSecrets makes sure no Validate error repeats a key
// or a header value.
func TestValidateErrorsHideSecrets(t *testing.T) {
	for _, in := range []string{
		`{"upstreams":[{"name":"oai","provider":"openai","keys":[{"key":"SECRET"},{"key":"SECRET"}]}]}`,
		`{"upstreams":[{"name":"oai","provider":"openai","keys":[{"key":"SECRET","rpm":-1}]}]}`,
		`{"upstreams":[{"name":"oai","provider":"openai","keys":[{"key":"k"}],"headers":{"X-Key":"SECRET\n"}}]}`,
		`{"upstreams":[{"name":"oai","provider":"openai","keys":[{"key":"k"}],"proxy":"ftp://u:SECRET@host"}]}`,
		`{"upstreams":[{"name":"oai","provider":"openai","keys":[{"key":"k"}],"proxy":"http://u:SECRET@[::1"}]}`,
		`{"storage":{"type":"redis","url":"redis://u:SECRET@[::1"},"upstreams":[{"name":"oai","provider":"openai","keys":[{"key":"k"}]}]}`,
		`{"storage":{"type":"redis","url":"redis://u:SECRET@host:port"},"upstreams":[{"name":"oai","provider":"openai","keys":[{"key":"k"}]}]}`,
	} {
		p := new(Proxy)
		if err := json.Unmarshal([]byte(in), p); err != nil {
			t.Fatal(err)
		}
		err := p.Validate()
		if err == nil {
			t.Fatalf("no error for %s", in)
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error reveals a secret: %v", err)
		}
	}
}
