package llmproxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// benchCompletion is a typical small Chat Completions answer.
const benchCompletion = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}`

const benchRequest = `{"model":"fast","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one short sentence, please."}],"temperature":0.2}`

func benchStream() string {
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word%d \"},\"finish_reason\":null}],\"usage\":null}\n\n", i)
	}
	b.WriteString("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":20,\"total_tokens\":32}}\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

// newBenchProxy provisions a handler outside Caddy's server, in front of an
// upstream that answers instantly, so the benchmark measures the proxy.
func newBenchProxy(b *testing.B) *Proxy {
	stream := benchStream()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.Contains(r.Header.Get("Accept"), "event-stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, stream)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, benchCompletion)
	}))
	b.Cleanup(up.Close)
	p := &Proxy{
		Name:    "bench",
		Storage: &Storage{Type: "memory"},
		Upstreams: []*Upstream{{
			Name: "oai", Provider: "openai", BaseURL: up.URL,
			Keys:    []*Key{{Key: "sk-bench-0001"}, {Key: "sk-bench-0002", Limits: Limits{RPM: 1 << 40}}},
			Aliases: map[string]Alias{"fast": {Model: "gpt-4o-mini"}},
		}},
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	if err := p.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = p.Cleanup()
		cancel()
	})
	return p
}

func benchServe(b *testing.B, body string) {
	p := newBenchProxy(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		rec := httptest.NewRecorder()
		if err := p.ServeHTTP(rec, req, nil); err != nil || rec.Code != 200 {
			b.Fatalf("%v %d %s", err, rec.Code, rec.Body)
		}
	}
}

// BenchmarkChatPassthrough is one non-streamed request through the hot
// path: auth, body read and checks, routing, key admission, model rewrite,
// the upstream round trip, usage capture and settlement.
func BenchmarkChatPassthrough(b *testing.B) { benchServe(b, benchRequest) }

// BenchmarkChatPassthroughStream is the same with a 20-chunk SSE answer,
// relayed event by event with the proxy's extra usage chunk swallowed.
func BenchmarkChatPassthroughStream(b *testing.B) {
	benchServe(b, strings.Replace(benchRequest, `"temperature"`, `"stream":true,"temperature"`, 1))
}
