package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/clientapi"
	"github.com/llmproxy/caddy-llm-proxy/pool"
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

var sseReaders = sync.Pool{New: func() any { return translate.NewSSEReader(nil) }}

// pendingBuffers hold what a stream has for its client until it goes out
// in one write.
var pendingBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// putPending returns a pending buffer, unless a huge event grew it.
func putPending(b *[]byte) {
	if cap(*b) <= 256<<10 {
		*b = (*b)[:0]
		pendingBuffers.Put(b)
	}
}

// keepaliveComment is what a streaming client gets while the upstream is
// silent: an SSE comment, which every SSE parser skips.
var keepaliveComment = []byte(": keepalive\n\n")

// relay streams an upstream's answer to the client event by event,
// flushing after each. A same-format stream passes through byte for byte
// (less the usage chunk the proxy asked for itself), followed by a cheap
// Watch for usage and completion; otherwise each event goes provider
// decoder -> canonical events -> client encoder.
//
// The client's response is committed with the first event that has
// something for it, so an upstream that fails before that (silent past
// idle_timeout, cut, corrupt, oversized) is an ordinary retryable failure:
// done is false and nothing reached the client. After that, a failure ends
// the stream with an error event in the client's format, never a clean end.
func (g *Gateway) relay(w http.ResponseWriter, r *http.Request, c *call, lease *pool.Lease, up *upstream, resp *http.Response, pass bool, dog *watchdog) (f *failure, done bool) {
	rc := http.NewResponseController(w)
	committed := false
	commit := func() {
		committed = true
		c.answered()
		h := w.Header()
		if pass {
			copyHeaders(h, resp.Header)
		} else {
			h.Set("Content-Type", "text/event-stream")
		}
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		// The headers go out with the first event's write, which follows
		// at once (one write to the client, not two).
		w.WriteHeader(resp.StatusCode)
		dog.commit(func() {
			_, _ = w.Write(keepaliveComment)
			_ = rc.Flush()
		})
	}

	rd := sseReaders.Get().(*translate.SSEReader)
	rd.Reset(dog, g.maxAnswer)
	defer func() {
		rd.Reset(nil, 0)
		sseReaders.Put(rd)
	}()

	var (
		watch translate.Watch
		dec   translate.StreamDecoder
		enc   translate.StreamEncoder
	)
	if pass {
		watch = up.codec.NewWatch()
	} else {
		dec = up.codec.NewStreamDecoder()
		enc = c.tools.Wrap(c.client.NewStreamEncoder(translate.StreamOptions{Model: c.served(), IncludeUsage: c.includeUsage}))
	}
	finished := func() bool {
		if pass {
			return watch.Finished()
		}
		return dec.Finished()
	}
	var (
		evs     []translate.StreamEvent
		usage   translate.Usage
		failed  string // the upstream reported an error inside the stream
		outcome = pool.Outcome{Status: resp.StatusCode}
		settled bool
		seen    int // events looked at for the served model
	)
	// settle reports the outcome once. A finished stream is settled before
	// its last event goes out, so a client that has read the whole answer
	// finds the key's counters already up to date.
	settle := func() {
		if !settled {
			settled = true
			outcome.InputTokens, outcome.OutputTokens = usage.Input, usage.Output
			lease.Done(outcome)
		}
	}
	// pending is what is for the client and not yet written. It goes out,
	// flushed, just before a read that may have to wait for the upstream:
	// events the upstream sent together leave in one write (one trip
	// through the response writers), none waits for the next, and the last
	// ones of an ended stream go out with its end. Its buffer is borrowed
	// only while something is pending, so an open stream that waits holds
	// none.
	var pending *[]byte
	defer func() {
		if pending != nil {
			putPending(pending)
		}
	}()
	pend := func() *[]byte {
		if pending == nil {
			pending = pendingBuffers.Get().(*[]byte)
		}
		return pending
	}
	// writeLocked writes what is pending; the caller holds dog.mu.
	writeLocked := func() error {
		if pending == nil {
			return nil
		}
		var err error
		if len(*pending) > 0 {
			_, err = w.Write(*pending)
		}
		putPending(pending)
		pending = nil
		return err
	}
	// broken ends the stream for an upstream fault: before the first byte
	// it is a retryable failure; after it, an error event tells the client.
	broken := func(reason, msg string) (*failure, bool) {
		outcome = pool.Outcome{Status: 0, Reason: reason}
		msg = scrub(msg, lease.Key.Secret)
		if !committed {
			settle()
			return &failure{upstream: up.name, broken: true, message: msg}, false
		}
		failed = msg
		dog.mu.Lock()
		_ = writeLocked()
		_, _ = w.Write(g.streamError(c, enc, msg))
		_ = rc.Flush()
		dog.mu.Unlock()
		return nil, true
	}
	for {
		if pending != nil && rd.Waits() {
			dog.mu.Lock()
			err := writeLocked()
			if err == nil {
				err = rc.Flush()
			}
			dog.wroteLocked()
			dog.mu.Unlock()
			if err != nil {
				if !settled {
					outcome.Canceled = true
				}
				break
			}
		}
		ev, err := rd.Next()
		if err != nil {
			// What is pending goes out with the stream's end, or before
			// the event that tells of its failure.
			dog.mu.Lock()
			_ = writeLocked()
			dog.mu.Unlock()
			switch {
			case finished():
			case r.Context().Err() != nil:
				outcome.Canceled = true
			case dog.Expired():
				if f, done := broken("upstream went silent", fmt.Sprintf("the upstream sent nothing for %s (idle_timeout)", g.idleTimeout)); !done {
					return f, false
				}
			case errors.Is(err, translate.ErrEventTooLarge):
				if f, done := broken("oversized stream event", fmt.Sprintf("the upstream sent a stream event larger than %d bytes (max_answer)", g.maxAnswer)); !done {
					return f, false
				}
			default:
				// The upstream cut the stream: say so rather than let the
				// client take it for a clean end.
				msg := "upstream stream ended before completion"
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					msg += ": " + err.Error()
				}
				if f, done := broken("stream cut", msg); !done {
					return f, false
				}
			}
			break
		}
		if pass {
			// The model is named in the first event or two; past that a
			// stream that never names it costs no more lookups.
			if c.rec.Served == "" && seen < 4 {
				seen++
				c.rec.Served = servedModel(ev.Data, c.rec.UpstreamModel)
			}
			hadUsage := watch.Observe(ev)
			usage = watch.Usage()
			if msg := watch.Failed(); msg != "" {
				failed = scrub(msg, lease.Key.Secret)
			}
			if watch.Finished() {
				settle()
			}
			if c.stripUsage && hadUsage && c.api.(clientapi.UsageAsking).IsUsageOnlyChunk(ev.Data) {
				continue
			}
			if !committed {
				commit()
			}
			p := pend()
			*p = append(*p, ev.Raw...)
		} else {
			evs, err = dec.Decode(evs[:0], ev)
			if err != nil {
				// Never skipped: a lost event is a lost word.
				if ce := g.logger.Check(zap.InfoLevel, "unreadable upstream stream event"); ce != nil {
					ce.Write(zap.String("upstream", up.name), zap.Error(err))
				}
				if f, done := broken("unreadable stream event", "the upstream sent a stream event the proxy cannot read: "+truncate(err.Error(), 200)); !done {
					return f, false
				}
				break
			}
			for i := range evs {
				switch evs[i].Type {
				case translate.EvStart:
					if c.rec.Served == "" && evs[i].Model != "" {
						c.rec.Served = servedName(evs[i].Model, c.rec.UpstreamModel)
					}
				case translate.EvUsage:
					usage.Merge(evs[i].Usage)
				case translate.EvError:
					failed = scrub(evs[i].Text, lease.Key.Secret)
					evs[i].Text = failed
				}
			}
			if dec.Finished() {
				settle()
			}
			p := pend()
			for i := range evs {
				*p = enc.Encode(*p, &evs[i])
			}
			switch {
			case len(*p) == 0:
				// Nothing for the client yet (an upstream's opening
				// comments): nothing pending, so nothing is flushed,
				// not even the headers, before the first event.
				putPending(p)
				pending = nil
			case !committed:
				commit()
			}
		}
	}
	dog.stop()
	if !committed && !outcome.Canceled {
		// A stream that ended properly without a single event for the
		// client (or one the client left before it began): still an answer.
		commit()
		dog.stop()
	}
	settle()
	c.rec.Status, c.rec.InputTokens, c.rec.OutputTokens, c.rec.Error = resp.StatusCode, usage.Input, usage.Output, failed
	if outcome.Canceled && failed == "" {
		c.rec.Error = "client went away"
	}
	return nil, true
}

// streamError is the event that ends a broken stream in the client's format.
func (g *Gateway) streamError(c *call, enc translate.StreamEncoder, msg string) []byte {
	if enc == nil {
		// A same-format stream: the upstream opened the answer, so only the
		// error event itself is wanted.
		return clientapi.StreamError(c.api, http.StatusBadGateway, msg, "stream_interrupted")
	}
	return enc.Encode(nil, &translate.StreamEvent{Type: translate.EvError, Text: msg, Status: http.StatusBadGateway})
}
