package egress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// h1Pool is the transport of plain-HTTP upstreams with no proxy (local
// model servers, OpenAI-compatible services on a private network): one
// connection per request in flight, kept for the next once its answer has
// been read to the end, and no goroutine of its own. net/http's transport
// keeps two goroutines per connection, a reader and a writer, that hand
// each request and answer over channels; a stream holds its connection
// for minutes, so those goroutines, their stacks and the connection's
// write buffer were about a fifth of what an open stream cost, and the
// hand-overs a share of every request's CPU. Here the request's own
// goroutine writes the request and reads the answer, a context's end or
// the response-header timeout interrupts it through the connection's
// deadline, and write buffers are pooled, since a connection writes only
// at a request's start.
//
// What net/http's background reader also did was notice an idle
// connection that the server closed. Here each kept connection is checked
// before reuse, a read that peeks and does not wait (see alive); one the
// server closes under a request before the request could be written is
// replaced and the request sent again. Where alive cannot be written
// (outside unix), plain HTTP goes through net/http's transport.
type h1Pool struct {
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout time.Duration // for the response headers; 0: none

	mu   sync.Mutex
	idle map[string][]*h1Conn // by host:port, the most recently used last
}

const maxIdlePerHost = 256

// h1Conn is one connection to an upstream.
type h1Conn struct {
	pool   *h1Pool
	addr   string
	nc     net.Conn
	raw    syscall.RawConn // nc's descriptor, for alive; nil if it has none
	br     *bufio.Reader
	expiry *time.Timer // closes the connection once idle for idleConnTimeout
}

var (
	h1Writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, BufferSize) }}
	// longAgo is a deadline in the past: set on a connection, it ends
	// every read and write waiting on it.
	longAgo = time.Unix(1, 0)

	errHeaderTimeout = errors.New("timeout awaiting response headers")
	errBodyClosed    = errors.New("read on closed response body")
)

func (p *h1Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	for {
		c, reused, err := p.get(req.Context(), addr)
		if err != nil {
			return nil, err
		}
		resp, err := c.roundTrip(req, p.timeout)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		var w *writeError
		if !reused || !errors.As(err, &w) || req.Context().Err() != nil {
			return nil, err
		}
		// The server closed a kept connection under the request before it
		// could read it: send it again on a new one.
		if req.Body != nil {
			if req.GetBody == nil {
				return nil, err
			}
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

// get is a kept connection to addr, or a new one.
func (p *h1Pool) get(ctx context.Context, addr string) (c *h1Conn, reused bool, err error) {
	for {
		p.mu.Lock()
		list := p.idle[addr]
		if len(list) == 0 {
			p.mu.Unlock()
			break
		}
		c = list[len(list)-1]
		cut(p.idle, addr, len(list)-1)
		p.mu.Unlock()
		if !c.expiry.Stop() {
			continue // its expiry has fired and closes it
		}
		if !alive(c.raw) {
			c.nc.Close()
			continue
		}
		return c, true, nil
	}
	nc, err := p.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	c = &h1Conn{pool: p, addr: addr, nc: nc, br: bufio.NewReaderSize(nc, BufferSize)}
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	return c, false, nil
}

// put keeps c for the next request to its host.
func (p *h1Pool) put(c *h1Conn) {
	p.mu.Lock()
	if p.idle == nil {
		p.idle = make(map[string][]*h1Conn)
	}
	if len(p.idle[c.addr]) >= maxIdlePerHost {
		p.mu.Unlock()
		c.nc.Close()
		return
	}
	p.idle[c.addr] = append(p.idle[c.addr], c)
	if c.expiry == nil {
		c.expiry = time.AfterFunc(idleConnTimeout, c.expire)
	} else {
		c.expiry.Reset(idleConnTimeout)
	}
	p.mu.Unlock()
}

// expire closes c, idle too long, unless a request took it meanwhile
// (which then finds its timer fired and leaves it).
func (c *h1Conn) expire() {
	p := c.pool
	p.mu.Lock()
	if i := slices.Index(p.idle[c.addr], c); i >= 0 {
		cut(p.idle, c.addr, i)
	}
	p.mu.Unlock()
	c.nc.Close()
}

// closeIdle closes every kept connection.
func (p *h1Pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			if c.expiry.Stop() {
				c.nc.Close()
			}
		}
	}
}

// writeError is a failure to send a request: the server cannot have
// acted on it.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// roundTrip sends req on c and reads the answer's headers; the body is
// read by the caller, through the response.
func (c *h1Conn) roundTrip(req *http.Request, timeout time.Duration) (*http.Response, error) {
	ctx := req.Context()
	// A context's end interrupts whatever waits on the connection, now or
	// later, until the body is done with.
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(longAgo) })
	bw := h1Writers.Get().(*bufio.Writer)
	bw.Reset(c.nc)
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	h1Writers.Put(bw)
	if err != nil {
		stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &writeError{err}
	}
	if timeout > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	}
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(c.br, req)
		// An informational answer (100 Continue, 103 Early Hints) comes
		// before the answer itself.
		if err != nil || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	if err != nil {
		stop()
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case timeout > 0 && errors.Is(err, os.ErrDeadlineExceeded):
			return nil, errHeaderTimeout
		}
		return nil, err
	}
	if timeout > 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
		// Had the context ended meanwhile, its deadline is restored.
		if ctx.Err() != nil {
			_ = c.nc.SetDeadline(longAgo)
		}
	}
	body := &h1Body{c: c, rc: resp.Body, stop: stop, keep: !resp.Close && !req.Close}
	body.eof.Store(resp.Body == http.NoBody)
	resp.Body = body
	return resp, nil
}

// h1Body is an answer's body. Read to its end and closed, it gives its
// connection back to the pool; closed before that, it closes it (which
// ends a read waiting on it: the watchdog closes a silent upstream's body
// while the relay reads it).
type h1Body struct {
	c      *h1Conn
	rc     io.ReadCloser // the body as http.ReadResponse frames it
	stop   func() bool   // stops the context's watch
	keep   bool          // the connection may serve another request
	eof    atomic.Bool
	closed atomic.Bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errBodyClosed
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
	}
	return n, err
}

// Close never touches rc, whose Close would wait for a read in progress.
func (b *h1Body) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	// The context's watch must not have fired: it leaves a deadline in
	// the past on the connection.
	if b.stop() && b.eof.Load() && b.keep {
		b.c.pool.put(b.c)
		return nil
	}
	return b.c.nc.Close()
}
