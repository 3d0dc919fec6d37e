package pool

import (
	"fmt"
	"sync/atomic"
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

// BenchmarkLockSharing measures what one lock per upstream would buy over
// the one lock per storage: parallel Acquire+Done on two upstreams of 1,000
// keys each, half the goroutines on each, either in one Pool (one lock) or
// in two Pools on two storages (a lock each, as one lock per upstream would
// give). Run with -cpu 1,2.
func BenchmarkLockSharing(b *testing.B) {
	mk := func(name string, ups ...string) *Pool {
		var keys []KeySpec
		for _, up := range ups {
			for i := range 1000 {
				keys = append(keys, key(up, fmt.Sprintf("sk-%s-%d", up, i), limits.Set{RPM: 1 << 40, Concurrency: 1 << 20}))
			}
		}
		p, err := New(Options{Instance: name, Storage: "memory", Keys: keys})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
		return p
	}
	run := func(b *testing.B, pools [2]*Pool) {
		var n atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := n.Add(1) % 2
			p, targets := pools[i], []Target{{Upstream: [2]string{"oai", "ant"}[i]}}
			for pb.Next() {
				l, err := p.Acquire(targets, 10, nil)
				if err != nil {
					b.Fatal(err)
				}
				l.Done(Outcome{Status: 200, InputTokens: 5})
			}
		})
	}
	b.Run("lock=pool", func(b *testing.B) {
		p := mk(b.Name(), "oai", "ant")
		run(b, [2]*Pool{p, p})
	})
	b.Run("lock=upstream", func(b *testing.B) {
		run(b, [2]*Pool{mk(b.Name()+"/oai", "oai"), mk(b.Name()+"/ant", "ant")})
	})
}
