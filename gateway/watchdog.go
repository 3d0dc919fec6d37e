package gateway

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// watchdog bounds an upstream's silence after its response headers
// (idle_timeout) and, for a stream, keeps the client's connection warm with
// SSE comments while the upstream thinks (keepalive). It is one timer per
// attempt and no goroutine: reads stamp the time of the last upstream byte,
// and the timer, when it fires, looks at that stamp and either re-arms for
// the rest of the interval, writes a keepalive comment, or closes the
// upstream's body, which ends a read waiting on it (net/http lets Close
// run while a Read waits, over HTTP/1 and HTTP/2 alike). Closing the body
// rather than cancelling a context of the attempt's own spares every
// request, and every open stream, that context.
type watchdog struct {
	body      io.ReadCloser
	idle      time.Duration
	keepalive time.Duration // 0: no comments (JSON answers)
	timer     *time.Timer

	last    atomic.Int64 // unix nanoseconds of the last upstream byte
	expired atomic.Bool  // the idle timeout cut the upstream off

	// mu serializes writes to the client between the relay and the timer;
	// out is nil until the relay has committed the response (so nothing is
	// written before the headers) and after it has finished.
	mu      sync.Mutex
	out     func() // writes one keepalive comment and flushes
	quietTo int64  // when the client last got a byte (unix ns)
}

// newWatchdog guards body. idle 0 disables the bound, keepalive 0 the
// comments.
func newWatchdog(body io.ReadCloser, idle, keepalive time.Duration) *watchdog {
	d := &watchdog{body: body, idle: idle, keepalive: keepalive}
	now := time.Now().UnixNano()
	d.last.Store(now)
	d.quietTo = now
	if next := d.interval(); next > 0 {
		// Armed only once assigned, so fire always finds its timer.
		d.timer = time.AfterFunc(time.Hour, d.fire)
		d.timer.Reset(next)
	}
	return d
}

// interval is how often the timer must look: the shorter of the two.
func (d *watchdog) interval() time.Duration {
	switch {
	case d.idle <= 0:
		return d.keepalive
	case d.keepalive <= 0 || d.idle < d.keepalive:
		return d.idle
	}
	return d.keepalive
}

// Read stamps the time of every byte the upstream sends.
func (d *watchdog) Read(p []byte) (int, error) {
	n, err := d.body.Read(p)
	if n > 0 {
		d.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func (d *watchdog) Close() error { return d.body.Close() }

// Expired reports whether the upstream was cut off for its silence.
func (d *watchdog) Expired() bool { return d.expired.Load() }

// commit lets the timer write keepalive comments through write, which the
// caller must also hold mu around for its own writes (see lockWrite).
func (d *watchdog) commit(write func()) {
	d.mu.Lock()
	d.out = write
	d.quietTo = time.Now().UnixNano()
	d.mu.Unlock()
}

// wrote tells the watchdog the client just got bytes; the caller holds mu.
func (d *watchdog) wroteLocked() { d.quietTo = time.Now().UnixNano() }

// stop ends the watch: the timer writes nothing after it returns.
func (d *watchdog) stop() {
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Lock()
	d.out = nil
	d.mu.Unlock()
}

func (d *watchdog) fire() {
	now := time.Now().UnixNano()
	silent := time.Duration(now - d.last.Load())
	if d.idle > 0 && silent >= d.idle {
		d.expired.Store(true)
		_ = d.body.Close()
		return
	}
	next := d.interval()
	if d.idle > 0 {
		next = min(next, d.idle-silent)
	}
	if d.keepalive > 0 {
		d.mu.Lock()
		if d.out != nil {
			quiet := time.Duration(now - max(d.quietTo, d.last.Load()))
			if quiet >= d.keepalive {
				d.out()
				d.quietTo = now
				quiet = 0
			}
			next = min(next, d.keepalive-quiet)
		}
		d.mu.Unlock()
	}
	d.timer.Reset(max(next, time.Millisecond))
}
