package pool

import (
	"fmt"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/limits"
)

// BenchmarkAcquireDoneKeys is one Acquire and its Done on one upstream of
// n keys, each with an rpm, a tpm and a concurrency limit it never reaches:
// the cost of choosing a key, by the size of the pool.
func BenchmarkAcquireDoneKeys(b *testing.B) {
	for _, n := range []int{1, 1000, 10000, 100000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			keys := make([]KeySpec, n)
			for i := range keys {
				keys[i] = key("oai", fmt.Sprintf("sk-bench-%07d", i),
					limits.Set{RPM: 1 << 40, TPM: 1 << 40, Concurrency: 1 << 20})
				keys[i].ID = fmt.Sprintf("oai-%016x", i) // ids of 32 bits collide at 100,000
			}
			p, err := New(Options{Instance: b.Name(), Storage: "memory", Keys: keys})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				l, err := p.Acquire(oai, 10, nil)
				if err != nil {
					b.Fatal(err)
				}
				l.Done(Outcome{Status: 200, InputTokens: 5})
			}
		})
	}
}
