package gateway

import (
	"context"
	"hash"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/clientapi"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// conversation is the call's conversation for `affinity`: nil when
// affinity is off, for anything but a generation, and for a request that
// belongs to none. Its identity is, in order: the x-session-id header, the
// id the client API has a field for (Responses prompt_cache_key, Anthropic
// metadata.user_id), or the system prompt and first user message; scoped
// by the model being served, so that a request a fallback model served
// leaves the conversation's key for the model it asked for where it was.
// It is a 64-bit FNV-1a digest, the same on every instance (Redis storage
// shares conversations).
func (g *Gateway) conversation(r *http.Request, c *call) *pool.Conversation {
	if g.affinity <= 0 || c.ep.Kind != clientapi.Generate {
		return nil
	}
	h := &countingHash{h: fnv.New64a()}
	h.WriteString(c.served())
	h.WriteString("\x00")
	mark := h.n
	if sid := r.Header.Get("x-session-id"); sid != "" {
		h.WriteString("session\x00")
		h.WriteString(sid)
	} else if cv, ok := c.api.(clientapi.Conversing); ok {
		if id := cv.Conversation(c.body, h); id != "" {
			h.WriteString("id\x00")
			h.WriteString(id)
		}
	}
	if h.n == mark {
		return nil
	}
	return &pool.Conversation{ID: strconv.FormatUint(h.h.Sum64(), 16), TTL: g.affinity}
}

// countingHash is a hash that knows how much was written to it.
type countingHash struct {
	h hash.Hash64
	n int
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += len(p)
	return c.h.Write(p)
}

func (c *countingHash) WriteString(s string) {
	c.n += len(s)
	_, _ = c.h.Write([]byte(s))
}

// sameKeyRetry reports whether a failed attempt may be tried again on the
// same key when no other key is left: the upstream failed (a 5xx, a 408,
// no answer), which a moment later may well not repeat; a 429 or a
// refused key would. An answer that came but was unusable (silent past
// idle_timeout, invalid, too large) is not: asking the same key again
// would most likely cost as much for the same.
func (f *failure) sameKeyRetry() bool {
	return !f.broken && (f.status == 0 || f.status == http.StatusRequestTimeout || f.status >= 500)
}

// Backoff before a same-key retry: the n-th waits between base·2^(n-1) and
// twice that, at most sameKeyMax.
const (
	sameKeyBase = 100 * time.Millisecond
	sameKeyMax  = time.Second
)

// pause waits before the n-th retry on the same key (n from 1); false when
// the client went away meanwhile.
func pause(ctx context.Context, n int) bool {
	d := sameKeyBase << min(n-1, 4)
	d += rand.N(d)
	d = min(d, sameKeyMax)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
