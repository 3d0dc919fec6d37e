package pool

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/llmproxy/caddy-llm-proxy/store"
)

// pipeliner sends the operations of concurrent requests (starts and ends,
// see batchScript) to Redis together: one goroutine takes every operation
// queued so far, runs them in one call of the script, answers each caller,
// and starts over. A lone request costs one round trip as before; under
// load many share one, which saves most of the system calls and of the
// script's fixed cost, and a key used by several is read and written once.
// Batches go one at a time and in the order their operations were queued,
// so the end of a request (its slot freed, its tokens settled) is applied
// before any start queued after it.
type pipeliner struct {
	r *store.Redis

	mu    sync.Mutex
	queue []*scriptCall
	kick  chan struct{}
}

// scriptCall is one operation waiting for its answer.
type scriptCall struct {
	keys []string
	args []any
	res  []any
	err  error
	done chan struct{}
}

// maxBatch bounds the operations of one script call, so that no call
// holds Redis for long.
const maxBatch = 128

func newPipeliner(r *store.Redis) *pipeliner {
	pl := &pipeliner{r: r, kick: make(chan struct{}, 1)}
	go pl.run()
	return pl
}

// do runs one operation and waits for its answer.
func (pl *pipeliner) do(keys []string, args []any) ([]any, error) {
	c := &scriptCall{keys: keys, args: args, done: make(chan struct{})}
	pl.mu.Lock()
	pl.queue = append(pl.queue, c)
	pl.mu.Unlock()
	select {
	case pl.kick <- struct{}{}:
	default:
	}
	select {
	case <-c.done:
		return c.res, c.err
	case <-pl.r.Context().Done():
		return nil, store.ErrDown // the store closed
	}
}

func (pl *pipeliner) run() {
	ctx := pl.r.Context()
	var batch []*scriptCall
	for {
		select {
		case <-ctx.Done():
			pl.fail(store.ErrDown)
			return
		case <-pl.kick:
		}
		for {
			pl.mu.Lock()
			batch, pl.queue = pl.queue, batch[:0]
			pl.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			pl.send(ctx, batch)
			clear(batch)
		}
	}
}

// send runs one batch and answers its callers.
func (pl *pipeliner) send(ctx context.Context, batch []*scriptCall) {
	defer func() {
		for _, c := range batch {
			close(c.done)
		}
	}()
	if pl.r.Down() {
		for _, c := range batch {
			c.err = store.ErrDown
		}
		return
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	type part struct {
		calls []*scriptCall
		keys  []string
		args  []any
		cmd   *redis.Cmd
	}
	var parts []*part
	for i := 0; i < len(batch); i += maxBatch {
		pt := &part{calls: batch[i:min(i+maxBatch, len(batch))]}
		for _, c := range pt.calls {
			pt.keys = append(pt.keys, c.keys...)
			pt.args = append(pt.args, c.args...)
		}
		parts = append(parts, pt)
	}
	if len(parts) == 1 {
		pt := parts[0]
		pt.cmd = batchScript.Run(cctx, pl.r.Client(), pt.keys, pt.args...)
	} else {
		pipe := pl.r.Client().Pipeline()
		for _, pt := range parts {
			pt.cmd = batchScript.EvalSha(cctx, pipe, pt.keys, pt.args...)
		}
		_, _ = pipe.Exec(cctx)
	}
	for _, pt := range parts {
		res, err := pt.cmd.Slice()
		if isNoScript(err) {
			// Redis restarted and forgot the script: this part did not
			// run; run it again, sending the script itself.
			res, err = batchScript.Run(cctx, pl.r.Client(), pt.keys, pt.args...).Slice()
		}
		if err == nil && len(res) != len(pt.calls) {
			err = errors.New("redis: unexpected answer to a batch")
		}
		if err != nil {
			err = pl.r.Failed(err)
		}
		for i, c := range pt.calls {
			if err != nil {
				c.err = err
				continue
			}
			c.res, _ = res[i].([]any)
		}
	}
}

// fail answers every queued call with err.
func (pl *pipeliner) fail(err error) {
	pl.mu.Lock()
	q := pl.queue
	pl.queue = nil
	pl.mu.Unlock()
	for _, c := range q {
		c.err = err
		close(c.done)
	}
}

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}
