package llmproxy

import (
	"io"
	"net/http"
	"sync"

	"go.uber.org/zap"

	"github.com/llmproxy/caddy-llm-proxy/pool"
	"github.com/llmproxy/caddy-llm-proxy/translate"
	"github.com/llmproxy/caddy-llm-proxy/translate/chat"
)

var sseReaders = sync.Pool{New: func() any { return translate.NewSSEReader(nil) }}

// relay streams an upstream's answer to the client event by event,
// flushing after each. A same-format stream passes through byte for byte
// (less the usage chunk the proxy asked for itself), followed by a cheap
// translate.Watch for usage and completion; otherwise each event goes provider
// decoder -> canonical events -> client encoder. Either way a stream cut
// before its end gets an error event in the client's format.
func (p *Proxy) relay(w http.ResponseWriter, r *http.Request, c *call, lease *pool.Lease, up *upstream, resp *http.Response, pass bool) {
	h := w.Header()
	if pass {
		copyHeaders(h, resp.Header)
	} else {
		h.Set("Content-Type", "text/event-stream")
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	_ = rc.Flush()

	rd := sseReaders.Get().(*translate.SSEReader)
	rd.Reset(resp.Body)
	defer func() {
		rd.Reset(nil)
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
		enc = newInboundStreamEncoder(c.api, translate.StreamOptions{Model: c.model, IncludeUsage: c.includeUsage})
	}
	finished := func() bool {
		if pass {
			return watch.Finished()
		}
		return dec.Finished()
	}
	var (
		evs     []translate.StreamEvent
		out     []byte
		usage   translate.Usage
		failed  string // the upstream reported an error inside the stream
		outcome = pool.Outcome{Status: resp.StatusCode}
		settled bool
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
	for {
		ev, err := rd.Next()
		if err != nil {
			switch {
			case finished():
			case r.Context().Err() != nil:
				outcome.Canceled = true
			default:
				// The upstream cut the stream: say so in the stream rather
				// than let the client take it for a clean end.
				outcome = pool.Outcome{Status: 0, Reason: "stream cut"}
				failed = "upstream stream ended before completion"
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					failed += ": " + scrub(err.Error(), lease.Key.Secret)
				}
				_, _ = w.Write(p.streamError(c, enc, failed))
				_ = rc.Flush()
			}
			break
		}
		if pass {
			hadUsage := watch.Observe(ev)
			usage = watch.Usage()
			if watch.Failed() != "" {
				failed = scrub(watch.Failed(), lease.Key.Secret)
			}
			if watch.Finished() {
				settle()
			}
			if c.stripUsage && hadUsage && chat.IsUsageOnlyChunk(ev.Data) {
				continue
			}
			out = ev.Raw
		} else {
			evs, err = dec.Decode(evs[:0], ev)
			if err != nil {
				if ce := p.logger.Check(zap.DebugLevel, "unreadable upstream stream event"); ce != nil {
					ce.Write(zap.String("upstream", up.name), zap.Error(err))
				}
				continue
			}
			for i := range evs {
				switch evs[i].Type {
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
			out = out[:0]
			for i := range evs {
				out = enc.Encode(out, &evs[i])
			}
			if len(out) == 0 {
				continue
			}
		}
		if _, err := w.Write(out); err != nil {
			if !settled {
				outcome.Canceled = true
			}
			break
		}
		_ = rc.Flush()
	}
	settle()
	c.rec.Status, c.rec.InputTokens, c.rec.OutputTokens, c.rec.Error = resp.StatusCode, usage.Input, usage.Output, failed
	if outcome.Canceled && failed == "" {
		c.rec.Error = "client went away"
	}
}

// streamError is the event that ends a broken stream in the client's format.
func (p *Proxy) streamError(c *call, enc translate.StreamEncoder, msg string) []byte {
	if enc == nil {
		// A same-format stream: the upstream opened the answer, so only the
		// error event itself is wanted.
		return streamErrorEvent(c.api, msg)
	}
	return enc.Encode(nil, &translate.StreamEvent{Type: translate.EvError, Text: msg, Status: http.StatusBadGateway})
}

// streamErrorEvent renders an error event for a same-format stream.
func streamErrorEvent(a api, msg string) []byte {
	body := errorBody(a, &apiError{Status: http.StatusBadGateway, Message: msg, Code: "stream_interrupted"})
	if a == apiAnthropic {
		return append(append([]byte("event: error\ndata: "), body...), "\n\n"...)
	}
	return append(append([]byte("data: "), body...), "\n\n"...)
}
