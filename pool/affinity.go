package pool

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Conversation affinity: a conversation stays on the key that served it
// last while that key is healthy and under its limits, so the provider's
// prompt cache (which is per key, or per organization behind a key) keeps
// working for it. The pool remembers each conversation's key for TTL after
// its last use: in memory here, or in Redis with the other instances on
// the same storage.

// Conversation is one request's conversation, for AcquireFor. Make a new
// one per request: it carries what was looked up for the request's first
// attempt to the next ones.
type Conversation struct {
	// ID identifies the conversation (and whatever scopes it, such as the
	// model): a short, fixed-size digest, the same on every instance.
	ID string
	// TTL is how long the conversation keeps its key without a request.
	TTL time.Duration

	key    string // the key the conversation had, or has now
	looked bool   // key was looked up
}

// Key is the conversation's key as this request left it: the one it had,
// or the one it moved to; "" when none.
func (cv *Conversation) Key() string { return cv.key }

// convShards and convCap bound the memory table: a shard's lock is held
// for one map operation, and past the cap a random entry makes room.
const (
	convShards = 16
	convCap    = 1 << 16
)

// convTable is the memory table of conversations: id -> key and expiry.
type convTable struct {
	shards [convShards]convShard
}

type convShard struct {
	mu sync.Mutex
	m  map[string]convEntry
}

type convEntry struct {
	key string
	exp int64 // unix ns
}

func (t *convTable) shard(id string) *convShard {
	// FNV-1a of the id: ids are digests, but may come from any caller.
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &t.shards[h%convShards]
}

// get is the key of conversation id at now ("" when none or expired).
func (t *convTable) get(id string, now int64) string {
	sh := t.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[id]
	if !ok {
		return ""
	}
	if e.exp <= now {
		delete(sh.m, id)
		return ""
	}
	return e.key
}

// put gives conversation id the key until exp.
func (t *convTable) put(id, key string, exp, now int64) {
	sh := t.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[string]convEntry)
	}
	if _, ok := sh.m[id]; !ok && len(sh.m) >= convCap/convShards {
		// Full: drop the expired entries among a few looked at (map
		// order is random), else the first of them.
		n, freed := 0, false
		var first string
		for k, e := range sh.m {
			if n == 0 {
				first = k
			}
			if e.exp <= now {
				delete(sh.m, k)
				freed = true
			}
			if n++; n >= 32 {
				break
			}
		}
		if !freed {
			delete(sh.m, first)
		}
	}
	sh.m[id] = convEntry{key: key, exp: exp}
}

// convKey is the Redis key of conversation id.
func (rm *remote) convKey(id string) string { return rm.r.Key("c:" + id) }

// lookup finds the key conversation cv had, once per request. On Redis it
// is one GET; a Redis failure means no preference, never a failed request.
func (p *Pool) lookup(cv *Conversation) {
	if cv == nil || cv.looked {
		return
	}
	cv.looked = true
	rm := p.sh.remote
	if rm == nil {
		cv.key = p.sh.convs.get(cv.ID, p.now().UnixNano())
		return
	}
	if rm.r.Down() {
		return
	}
	ctx, cancel := context.WithTimeout(rm.r.Context(), callTimeout)
	v, err := rm.r.Client().Get(ctx, rm.convKey(cv.ID)).Result()
	cancel()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			rm.r.Failed(err)
		}
		return
	}
	// The script stores the key's state hash name (see batchScript).
	cv.key = strings.TrimPrefix(v, rm.r.Key("k:"))
}

// remember makes id the key of conversation cv (memory storage; on Redis
// the admission script does it).
func (p *Pool) remember(cv *Conversation, id string, now int64) {
	cv.key = id
	p.sh.convs.put(cv.ID, id, now+int64(cv.TTL), now)
}

// preferred is the key id when it can take a request of est tokens now in
// one of groups: untried, enabled, healthy and under every limit, exactly
// as choose would find it; nil otherwise. The caller holds the lock.
func (p *Pool) preferred(id string, groups []*group, c *clock, est int64, tried map[string]bool) *slot {
	if id == "" || tried[id] {
		return nil
	}
	s := p.byID[id]
	if s == nil || s.dead || s.cond != condIn || !slices.Contains(groups, s.g) {
		return nil
	}
	s.ks.sync(c)
	if s.spec.Disabled || s.ks.health == StateDisabled {
		return nil
	}
	if until, full := p.block(s, c, est); until != 0 || full {
		return nil
	}
	return s
}
