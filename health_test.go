package llmproxy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// A rate-limited key and a failing key are skipped for a healthy one
// without the client ever seeing an error.
func TestFailoverIsInvisibleToClients(t *testing.T) {
	keys := []string{"sk-fail-429", "sk-fail-500", "sk-fail-good"}
	up := fakeupstream.NewOpenAI(t, keys...)
	up.SetBehavior(keys[0], fakeupstream.Behavior{Status: 429, RetryAfter: "30"})
	up.SetBehavior(keys[1], fakeupstream.Behavior{Status: 500})
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key %s
			key %s
			key %s
		}
	}`, name, up.URL, keys[0], keys[1], keys[2]))

	client := openaiClient()
	for i := range 30 {
		resp, err := client.Chat.Completions.New(context.Background(), userMessage("gpt-4o", "hi"))
		if err != nil {
			t.Fatalf("request %d: client saw %v", i, err)
		}
		if resp.Choices[0].Message.Content != "echo: hi" {
			t.Fatalf("request %d: %q", i, resp.Choices[0].Message.Content)
		}
	}
	if n := up.Requests(keys[0]); n != 1 {
		t.Errorf("the 429 key was tried %d times; it should cool down after the first", n)
	}
	st := keyStatus(t, name, "oai", keys[0])
	if st.State != pool.StateCooling || time.Until(st.Until) < 25*time.Second || time.Until(st.Until) > 31*time.Second {
		t.Errorf("429 key: state %s until %s, want cooling ~30s (Retry-After)", st.State, st.Until)
	}
	if n := up.Requests(keys[1]); n < 1 || n > 3 {
		t.Errorf("the 500 key was tried %d times; want a short cooldown after repeated failures", n)
	}
	if got := up.Requests(keys[2]); got != 30 {
		t.Errorf("the good key served %d of 30", got)
	}
}

func TestUpstreamFailuresReachTheClientOnlyWhenRetriesAreUsedUp(t *testing.T) {
	keys := []string{"sk-down-0001", "sk-down-0002"}
	up := fakeupstream.NewOpenAI(t, keys...)
	for _, k := range keys {
		up.SetBehavior(k, fakeupstream.Behavior{Status: 503})
	}
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		retries 1
		upstream oai {
			provider openai
			base_url %s
			key %s
			key %s
		}
	}`, name, up.URL, keys[0], keys[1]))

	res := postChat(t, chatBody("gpt-4o", "hi"))
	if res.status != 502 || !strings.Contains(gjson.Get(res.body, "error.message").String(), "503") {
		t.Errorf("got %d %s; want 502 naming the upstream's 503", res.status, res.body)
	}
	if up.TotalRequests() != 2 {
		t.Errorf("upstream saw %d attempts, want 2 (retries 1)", up.TotalRequests())
	}
	for _, k := range keys {
		if strings.Contains(res.body, k) {
			t.Errorf("error leaks a key: %s", res.body)
		}
	}
}

// A key the upstream refuses is disabled, re-probed, and back in rotation
// once the upstream accepts it again; when all keys are disabled clients
// get 503.
func TestRefusedKeyIsDisabledAndReprobed(t *testing.T) {
	keys := []string{"sk-probe-bad1", "sk-probe-good"}
	up := fakeupstream.NewOpenAI(t, keys...)
	up.SetKeyValid(keys[0], false)
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		probe_interval 100ms
		upstream oai {
			provider openai
			base_url %s
			key %s
			key %s
		}
	}`, name, up.URL, keys[0], keys[1]))

	for i := range 10 {
		if res := postChat(t, chatBody("gpt-4o", "hi")); res.status != 200 {
			t.Fatalf("request %d: %d %s", i, res.status, res.body)
		}
	}
	st := keyStatus(t, name, "oai", keys[0])
	if st.State != pool.StateDisabled || !strings.Contains(st.Reason, "401") {
		t.Fatalf("refused key: state %s reason %q", st.State, st.Reason)
	}
	if strings.Contains(st.Reason, keys[0]) {
		t.Errorf("reason leaks the key: %q", st.Reason)
	}
	if n := up.Requests(keys[0]); n != 0 {
		// The fake counts requests after authentication.
		t.Errorf("refused key counted %d accepted requests", n)
	}

	up.SetKeyValid(keys[1], false)
	// Both keys refused now: the good key's next request disables it too,
	// and then there is nothing left to serve.
	eventually(t, 5*time.Second, "both keys disabled", func() bool {
		postChat(t, chatBody("gpt-4o", "hi"))
		return keyStatus(t, name, "oai", keys[1]).State == pool.StateDisabled
	})
	if res := postChat(t, chatBody("gpt-4o", "hi")); res.status != 503 {
		t.Errorf("with every key disabled: %d %s, want 503", res.status, res.body)
	}

	up.SetKeyValid(keys[0], true)
	eventually(t, 5*time.Second, "the re-probe to re-enable the key", func() bool {
		return keyStatus(t, name, "oai", keys[0]).State == pool.StateActive
	})
	if res := postChat(t, chatBody("gpt-4o", "hi")); res.status != 200 || up.Requests(keys[0]) == 0 {
		t.Errorf("re-enabled key: %d %s, served %d", res.status, res.body, up.Requests(keys[0]))
	}
}

func TestQuotaExhaustedKeyRestsUntilTheDayEnds(t *testing.T) {
	keys := []string{"sk-quota-0001", "sk-quota-0002"}
	up := fakeupstream.NewOpenAI(t, keys...)
	up.SetBehavior(keys[0], fakeupstream.Behavior{Status: 429, ErrorCode: "insufficient_quota"})
	name := instanceName(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		timezone America/New_York
		upstream oai {
			provider openai
			base_url %s
			key %s
			key %s
		}
	}`, name, up.URL, keys[0], keys[1]))
	for range 10 {
		if res := postChat(t, chatBody("gpt-4o", "hi")); res.status != 200 {
			t.Fatalf("%d %s", res.status, res.body)
		}
	}
	st := keyStatus(t, name, "oai", keys[0])
	loc, _ := time.LoadLocation("America/New_York")
	now := time.Now().In(loc)
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, loc)
	if st.State != pool.StateExhausted || !st.Until.Equal(midnight) {
		t.Errorf("quota key: state %s until %s, want exhausted until %s", st.State, st.Until, midnight)
	}
}
