package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"
)

// Redis is a Store in a Redis server that several Caddy instances share.
//
// Records live in one Redis hash per directory: the record "a/b/c" is the
// field "c" of the hash "<prefix>rec:a/b/". Load of a directory is one
// HGETALL, Save one pipeline. Counters (usage statistics) are Redis hashes
// of integers under "<prefix>cnt:" that every instance adds to with
// HINCRBY (see AddCounts), and instances tell each other of changes on the
// channel "<prefix>events" (see Publish).
//
// Redis is the shared truth, and may be unreachable: every call fails fast
// (short timeouts, no retries) and a failure of the connection marks the
// store Down until a background PING gets through again (every 250 ms), so
// that callers can answer at once instead of waiting on a dead server. The
// client reconnects by itself.
type Redis struct {
	c      *redis.Client
	prefix string
	logger *zap.Logger
	// Origin identifies this connection in published messages, so that an
	// instance can skip its own.
	Origin string
	addr   string

	down    atomic.Bool
	pinging atomic.Bool

	mu     sync.Mutex
	onUp   []func()
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Timeouts of a Redis store: a call that has not been answered by then
// counts as a failure of the server.
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = time.Second
	redisPingEvery   = 250 * time.Millisecond
)

// RedisOptions returns the go-redis options for rawURL (redis:// or
// rediss://, user and password in the URL), with the store's timeouts.
func RedisOptions(rawURL string) (*redis.Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("invalid redis URL: %w", redactURLError(err, rawURL))
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("redis URL must start with redis:// or rediss://, got %q", u.Scheme+"://")
	}
	if u.Host == "" {
		return nil, errors.New("redis URL has no host")
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("invalid redis URL: %w", redactURLError(err, rawURL))
	}
	opt.DialTimeout = redisDialTimeout
	opt.DialerRetries = 1
	opt.ReadTimeout = redisIOTimeout
	opt.WriteTimeout = redisIOTimeout
	opt.PoolTimeout = redisIOTimeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1 // a failed call is answered at once, not retried
	opt.DisableIdentity = true
	opt.Protocol = 2 // RESP3's push notifications cost a peek at every reply, for nothing used here
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opt, nil
}

// redactURLError keeps a password in the URL out of an error message.
func redactURLError(err error, rawURL string) error {
	u, perr := url.Parse(rawURL)
	if perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			return errors.New(strings.ReplaceAll(err.Error(), p, "xxxxx"))
		}
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// OpenRedis connects to the Redis server at rawURL, with every key under
// prefix. An unreachable server is not an error: the store starts Down and
// comes up when the server answers.
func OpenRedis(rawURL, prefix string, logger *zap.Logger) (*Redis, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	opt, err := RedisOptions(rawURL)
	if err != nil {
		return nil, err
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	r := &Redis{
		c:      redis.NewClient(opt),
		prefix: prefix,
		logger: logger,
		Origin: hex.EncodeToString(id[:]),
		addr:   opt.Addr,
		ctx:    ctx,
		cancel: cancel,
	}
	pctx, pcancel := context.WithTimeout(ctx, 2*redisIOTimeout)
	err = r.c.Ping(pctx).Err()
	pcancel()
	if err != nil {
		r.logger.Error("Redis is unreachable; retrying in the background", zap.String("addr", r.addr), zap.Error(err))
		r.down.Store(true)
		r.startPinging()
	}
	return r, nil
}

// Client is the go-redis client, for callers that run their own commands
// (the pool's scripts); they report failures with Failed.
func (r *Redis) Client() *redis.Client { return r.c }

// Key is name under the store's prefix.
func (r *Redis) Key(name string) string { return r.prefix + name }

// Context is cancelled when the store closes.
func (r *Redis) Context() context.Context { return r.ctx }

// Down reports whether the server was found unreachable and has not
// answered since.
func (r *Redis) Down() bool { return r.down.Load() }

// OnUp registers f to run (in its own goroutine) each time the server
// answers again after being Down.
func (r *Redis) OnUp(f func()) {
	r.mu.Lock()
	r.onUp = append(r.onUp, f)
	r.mu.Unlock()
}

// Failed looks at the error of a call: one that says the server is
// unreachable or unwell (network, timeout, LOADING after a restart...)
// marks the store Down and is returned as it is. It returns err.
func (r *Redis) Failed(err error) error {
	if IsUnreachable(err) && r.down.CompareAndSwap(false, true) {
		r.logger.Error("Redis is unreachable", zap.String("addr", r.addr), zap.Error(err))
		r.startPinging()
	}
	return err
}

// IsUnreachable reports whether err says that the Redis server cannot be
// used now, rather than that the command was wrong.
func IsUnreachable(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	if _, ok := errors.AsType[redis.Error](err); ok {
		msg := err.Error()
		for _, p := range []string{"LOADING", "MASTERDOWN", "BUSY", "READONLY", "CLUSTERDOWN", "TRYAGAIN"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true // network errors, timeouts, a closed pool
}

// startPinging runs one background loop that PINGs until the server
// answers, then marks the store up and runs the OnUp functions.
func (r *Redis) startPinging() {
	if !r.pinging.CompareAndSwap(false, true) {
		return
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.pinging.Store(false)
		return
	}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		defer r.pinging.Store(false)
		t := time.NewTicker(redisPingEvery)
		defer t.Stop()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(r.ctx, 2*redisPingEvery)
			err := r.c.Ping(ctx).Err()
			cancel()
			if err != nil {
				continue
			}
			r.down.Store(false)
			r.logger.Info("Redis is reachable again", zap.String("addr", r.addr))
			r.mu.Lock()
			fs := append([]func(){}, r.onUp...)
			r.mu.Unlock()
			for _, f := range fs {
				go f()
			}
			return
		}
	}()
}

// call runs f with a context bounded by the store's timeout, and reports a
// failure of the server.
func (r *Redis) call(f func(ctx context.Context) error) error {
	if r.Down() {
		return ErrDown
	}
	ctx, cancel := context.WithTimeout(r.ctx, 2*redisIOTimeout)
	defer cancel()
	err := r.Failed(f(ctx))
	if IsUnreachable(err) {
		return fmt.Errorf("%w: %w", ErrDown, err)
	}
	return err
}

// ErrDown is the error of a Redis store's calls while its server is
// unreachable: they fail at once, without trying.
var ErrDown = errors.New("redis is unreachable")

// recKey splits a record key into its Redis hash and field.
func (r *Redis) recKey(k string) (hash, field string) {
	i := strings.LastIndexByte(k, '/') + 1
	return r.prefix + "rec:" + k[:i], k[i:]
}

// Load returns the records under prefix. A prefix that ends with "/" (a
// directory, as every caller in this module uses) is one HGETALL; others
// scan for the directories below them.
func (r *Redis) Load(prefix string) (map[string][]byte, error) {
	out := make(map[string][]byte)
	err := r.call(func(ctx context.Context) error {
		hashes := []string{r.prefix + "rec:" + prefix}
		if !strings.HasSuffix(prefix, "/") {
			hashes = hashes[:0]
			iter := r.c.Scan(ctx, 0, escapeGlob(r.prefix+"rec:"+prefix)+"*", 1000).Iterator()
			for iter.Next(ctx) {
				hashes = append(hashes, iter.Val())
			}
			if err := iter.Err(); err != nil {
				return err
			}
		}
		for _, h := range hashes {
			m, err := r.c.HGetAll(ctx, h).Result()
			if err != nil {
				return err
			}
			dir := strings.TrimPrefix(h, r.prefix+"rec:")
			for f, v := range m {
				if k := dir + f; strings.HasPrefix(k, prefix) {
					out[k] = []byte(v)
				}
			}
		}
		return nil
	})
	return out, err
}

// Get returns the records of keys that exist.
func (r *Redis) Get(keys []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	err := r.call(func(ctx context.Context) error {
		byHash := map[string][]string{}
		for _, k := range keys {
			h, f := r.recKey(k)
			byHash[h] = append(byHash[h], f)
		}
		pipe := r.c.Pipeline()
		cmds := map[string]*redis.SliceCmd{}
		for h, fs := range byHash {
			cmds[h] = pipe.HMGet(ctx, h, fs...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		for h, cmd := range cmds {
			dir := strings.TrimPrefix(h, r.prefix+"rec:")
			for i, v := range cmd.Val() {
				if s, ok := v.(string); ok {
					out[dir+byHash[h][i]] = []byte(s)
				}
			}
		}
		return nil
	})
	return out, err
}

// Save writes the batch in one pipeline; a nil value deletes.
func (r *Redis) Save(batch map[string][]byte) error {
	if len(batch) == 0 {
		return nil
	}
	return r.call(func(ctx context.Context) error {
		pipe := r.c.Pipeline()
		for k, v := range batch {
			h, f := r.recKey(k)
			if v == nil {
				pipe.HDel(ctx, h, f)
			} else {
				pipe.HSet(ctx, h, f, v)
			}
		}
		_, err := pipe.Exec(ctx)
		return err
	})
}

// AddCounts adds each delta to its field of its counter hash (named like a
// record, "stats/<instance>/<hour>"), and makes each hash in expire expire
// at its time. Every instance adds its own counts, so the sums are every
// instance's.
func (r *Redis) AddCounts(deltas map[string]map[string]int64, expire map[string]time.Time) error {
	if len(deltas) == 0 && len(expire) == 0 {
		return nil
	}
	return r.call(func(ctx context.Context) error {
		pipe := r.c.TxPipeline() // all or nothing, so a failed flush can be retried
		for name, fields := range deltas {
			for f, d := range fields {
				if d != 0 {
					pipe.HIncrBy(ctx, r.prefix+"cnt:"+name, f, d)
				}
			}
		}
		for name, at := range expire {
			pipe.PExpireAt(ctx, r.prefix+"cnt:"+name, at)
		}
		_, err := pipe.Exec(ctx)
		return err
	})
}

// LoadCounts returns the counter hashes of names that exist, in one
// pipeline (names are known: a scan would read the whole keyspace).
func (r *Redis) LoadCounts(names []string) (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	if len(names) == 0 {
		return out, nil
	}
	err := r.call(func(ctx context.Context) error {
		pipe := r.c.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(names))
		for i, n := range names {
			cmds[i] = pipe.HGetAll(ctx, r.prefix+"cnt:"+n)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		for i, n := range names {
			if len(cmds[i].Val()) == 0 {
				continue
			}
			m := make(map[string]int64, len(cmds[i].Val()))
			for f, v := range cmds[i].Val() {
				m[f], _ = strconv.ParseInt(v, 10, 64)
			}
			out[n] = m
		}
		return nil
	})
	return out, err
}

// escapeGlob escapes the glob characters of a SCAN MATCH pattern.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// publishScript bumps the change counter and publishes the message with
// the new count in front, atomically, so that a listener that missed a
// message sees the count jump (see Version).
var publishScript = redis.NewScript(`
local v = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', KEYS[2], v .. ' ' .. ARGV[1])
return v`)

// Publish tells every instance on this Redis (and prefix) that something
// changed: msg is "<kind> <rest>"; listeners get "<count> <origin> <msg>".
func (r *Redis) Publish(msg string) error {
	return r.call(func(ctx context.Context) error {
		return publishScript.Run(ctx, r.c, []string{r.prefix + "ver", r.prefix + "events"}, r.Origin+" "+msg).Err()
	})
}

// Version is the change counter that Publish bumps.
func (r *Redis) Version() (int64, error) {
	var v int64
	err := r.call(func(ctx context.Context) error {
		n, err := r.c.Get(ctx, r.prefix+"ver").Int64()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		v = n
		return err
	})
	return v, err
}

// Message is a change published by some instance.
type Message struct {
	Version int64
	Origin  string // the publishing connection's Origin
	Body    string // what was published
}

// Subscribe listens to what instances publish until the store closes:
// each message goes to onMessage, and onSubscribed runs each time the
// subscription is (re)established, after which messages sent meanwhile
// may be missing.
func (r *Redis) Subscribe(onMessage func(Message), onSubscribed func()) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		ps := r.c.Subscribe(r.ctx, r.prefix+"events")
		defer ps.Close()
		ch := ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(5 * time.Second))
		for {
			select {
			case <-r.ctx.Done():
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				switch m := m.(type) {
				case *redis.Subscription:
					if m.Kind == "subscribe" {
						onSubscribed()
					}
				case *redis.Message:
					ver, rest, _ := strings.Cut(m.Payload, " ")
					origin, body, _ := strings.Cut(rest, " ")
					v, _ := strconv.ParseInt(ver, 10, 64)
					onMessage(Message{Version: v, Origin: origin, Body: body})
				}
			}
		}
	}()
}

// Close stops the background work and closes the connections.
func (r *Redis) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	err := r.c.Close()
	if errors.Is(err, redis.ErrClosed) || errors.Is(err, io.EOF) {
		err = nil
	}
	return err
}

// Interface guard
var _ Store = (*Redis)(nil)
