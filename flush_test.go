package llmproxy

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Every event reaches the client before the upstream sends the next: the
// upstream here sends its first chunk (with a usage chunk the client does
// not get) and then waits until the client has read an event of it, so a proxy that held the event back (unflushed, or
// waiting to gather more) would never see the rest. Passed through (Chat)
// and translated (an Anthropic client).
func TestEveryEventFlushedBeforeTheNext(t *testing.T) {
	const key = "sk-flush-0001"
	type wait struct{ seen chan struct{} }
	waits := make(chan wait, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := func(delta, finish string) {
			fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":%s}]}\n\n", delta, finish)
			w.(http.Flusher).Flush()
		}
		// The first event comes with one the client does not get (a usage
		// chunk it did not ask for), so nothing after it is written before
		// the upstream waits.
		fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n"+
			"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n")
		w.(http.Flusher).Flush()
		wt := <-waits
		select {
		case <-wt.seen:
		case <-time.After(10 * time.Second):
			return // the client never got the first event: cut, and the test fails
		}
		chunk(`{"content":"lo"}`, "null")
		chunk(`{}`, `"stop"`)
		fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\ndata: [DONE]\n\n")
	}))
	defer up.Close()
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s/v1
			key %s
		}
	}`, instanceName(t), up.URL, key))

	for _, c := range []struct{ path, body, first string }{
		{"/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`, `"Hel"`},
		{"/v1/messages", `{"model":"gpt-4o","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, `"Hel"`},
	} {
		seen := make(chan struct{})
		waits <- wait{seen}
		req, _ := http.NewRequest(http.MethodPost, proxyBase+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("anthropic-version", "2023-06-01")
		start := time.Now()
		resp, err := rawClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		sc := bufio.NewScanner(resp.Body)
		var all strings.Builder
		first := time.Duration(0)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if first == 0 && strings.Contains(sc.Text(), c.first) {
				first = time.Since(start)
				close(seen)
			}
		}
		resp.Body.Close()
		if first == 0 || !strings.Contains(all.String(), `"lo"`) {
			t.Errorf("%s: the first event never reached the client while the upstream waited (%s):\n%s", c.path, time.Since(start), all.String())
			if first == 0 {
				close(seen)
			}
		}
	}
}
