package llmproxy

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestWeightsSpreadTraffic(t *testing.T) {
	keys := []string{"sk-weight-0001", "sk-weight-0002", "sk-weight-0003"}
	up := fakeupstream.NewOpenAI(t, keys...)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key %s {
				weight 1
			}
			key %s {
				weight 2
			}
			key %s {
				weight 7
			}
		}
	}`, instanceName(t), up.URL, keys[0], keys[1], keys[2]))

	const n = 2000
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range jobs {
				if res := postChat(t, chatBody("gpt-4o", "hi")); res.status != 200 {
					t.Errorf("status %d: %s", res.status, res.body)
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for i, want := range []float64{10, 20, 70} {
		got := 100 * float64(up.Requests(keys[i])) / n
		if math.Abs(got-want) > 3 {
			t.Errorf("key with weight share %.0f%% got %.1f%% of %d requests", want, got, n)
		}
	}
}

// Each limit holds exactly when many requests arrive at once: the upstream
// sees exactly as many as the limit allows, and the rest get 429 with a
// Retry-After that says when the key frees up.
func TestLimitsHoldUnderConcurrency(t *testing.T) {
	body := chatBody("gpt-4o", "count me")
	est := translate.EstimateTokens([]byte(body))
	cases := []struct {
		name     string
		limit    string
		behavior fakeupstream.Behavior
		sent     int
		admitted int
		maxRetry int // seconds
	}{
		{"rpm", "rpm 20", fakeupstream.Behavior{}, 200, 20, 60},
		{"rpd", "rpd 15", fakeupstream.Behavior{}, 100, 15, 86400},
		// In-flight requests hold their estimate, so with a slow upstream
		// exactly floor(tpm/estimate) are admitted at once.
		{"tpm", fmt.Sprintf("tpm %d", 5*est+est/2), fakeupstream.Behavior{Delay: 300 * time.Millisecond}, 60, 5, 60},
		{"tpd", fmt.Sprintf("tpd %d", 4*est+est/2), fakeupstream.Behavior{Delay: 300 * time.Millisecond}, 60, 4, 86400},
		{"interval", "interval 1h", fakeupstream.Behavior{}, 50, 1, 3600},
		{"concurrency", "concurrency 3", fakeupstream.Behavior{Delay: 500 * time.Millisecond}, 50, 3, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := "sk-limit-" + tc.name
			up := fakeupstream.NewOpenAI(t, key)
			up.SetBehavior(key, tc.behavior)
			startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		timezone Europe/Paris
		upstream oai {
			provider openai
			base_url %s
			key %s {
				%s
			}
		}
	}`, instanceName(t), up.URL, key, tc.limit))

			byStatus, results := burst(t, tc.sent, body)
			if got := up.Requests(key); got != tc.admitted {
				t.Errorf("upstream saw %d requests, want exactly %d (answers: %v)", got, tc.admitted, byStatus)
			}
			if byStatus[200] != tc.admitted || byStatus[429] != tc.sent-tc.admitted {
				t.Errorf("answers %v, want %d × 200 and %d × 429", byStatus, tc.admitted, tc.sent-tc.admitted)
			}
			if tc.name == "concurrency" && up.MaxConcurrent(key) != 3 {
				t.Errorf("peak concurrency at the upstream = %d, want 3", up.MaxConcurrent(key))
			}
			for _, r := range results {
				if r.status != 429 {
					continue
				}
				s, err := strconv.Atoi(r.retryAfter)
				if err != nil || s < 1 || s > tc.maxRetry {
					t.Errorf("429 with Retry-After %q, want 1..%d s", r.retryAfter, tc.maxRetry)
					break
				}
			}
		})
	}
}
