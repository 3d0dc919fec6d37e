// Package egress is the proxy's way out to its upstreams: the HTTP
// transports that requests, probes, token counts and model lists go out
// on. It knows nothing of keys or APIs; the gateway hands it requests.
package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// Transport is an upstream's way out.
//
// HTTPS requests with no proxy go through an HTTP/2 transport whose pool
// dials one connection to a host at a time: requests that find no
// connection, or every connection at its stream limit, wait for that dial
// and share what it brings. net/http's own transport dials once per
// waiting request instead (it cannot know a host speaks HTTP/2 before the
// handshake), so a burst of 1,000 streams to a cold provider, or to one
// whose connections are full, makes 1,000 TLS handshakes and then closes
// all but a few, which costs CPU at every start under load and leaves
// memory behind. A host whose handshake picks HTTP/1.1 is remembered and
// goes through net/http's transport from then on, as do proxied requests
// (net/http tunnels HTTP/2 through a proxy itself). Plain-HTTP requests with
// no proxy go through a pool of HTTP/1.1 connections of the proxy's own
// (see h1Pool).
type Transport struct {
	std *http.Transport
	// h2 and plain are nil for a transport with a proxy.
	h2    *http2.Transport
	plain *h1Pool
	// noH2 holds the host:port of HTTPS upstreams that do not speak
	// HTTP/2.
	noH2 sync.Map
}

// Options are how a Transport goes out.
type Options struct {
	// HeaderTimeout bounds the wait for an answer's headers (0: none).
	HeaderTimeout time.Duration
	// Proxy picks a request's proxy (nil: none); net/http speaks http,
	// https and socks5 proxies alike.
	Proxy func(*http.Request) (*url.URL, error)
	// TLSConfig is nil but in tests, which trust their own certificate
	// authority.
	TLSConfig *tls.Config
	// Dial opens TCP connections (nil: a dialer with a 10 s timeout).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// BufferSize is the size of an upstream HTTP/1 connection's buffers. A
// request body no larger goes out in one write with its headers when it is
// a reader net/http knows (see the gateway's send).
const BufferSize = 1 << 10

// New is the transport of an upstream, or of a key with its own proxy.
func New(o Options) *Transport {
	dial := o.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	t := &Transport{std: &http.Transport{
		Proxy:                 o.Proxy,
		DialContext:           dial,
		TLSClientConfig:       o.TLSConfig.Clone(),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       idleConnTimeout,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: o.HeaderTimeout,
		// A connection keeps its buffers as long as it lives, and a stream
		// holds its connection (over HTTP/1) for minutes. Requests are
		// written once, and answers are read in large reads (JSON, which
		// bypass a buffer smaller than them) or through the SSE reader's
		// own buffer (streams), so small buffers cost nothing. 1 KiB still
		// takes a request's headers in one write and a typical stream
		// event (100-400 bytes, with its chunk framing) in one read. (Only
		// HTTP/1 uses them; HTTP/2 has buffers of its own per connection,
		// which all its streams share.)
		WriteBufferSize: BufferSize,
		ReadBufferSize:  BufferSize,
	}}
	if o.Proxy != nil {
		return t
	}
	if canProbe {
		t.plain = &h1Pool{dial: dial, timeout: o.HeaderTimeout}
	}
	// The HTTP/2 transport takes the settings it shares with net/http's
	// (the response-header, idle and expect-continue timeouts, compression)
	// from a copy of std configured for it, which is never used for a
	// request. The pool ConfigureTransports gives it only takes connections
	// net/http dialed; it gets its own.
	h2, err := http2.ConfigureTransports(t.std.Clone())
	if err != nil { // only when the copy already speaks HTTP/2, which it does not
		return t
	}
	h2.ConnPool = &h2Pool{t: h2, netDial: dial, tlsConfig: o.TLSConfig}
	t.h2 = h2
	return t
}

// h2Pool is the HTTP/2 transport's connection pool. Like x/net's own, it
// dials one connection to a host at a time and lets requests wait for it.
// Unlike it, a new connection takes no request before the server's
// settings are in: until then a client assumes 100 streams, and a server
// that allows fewer refuses the rest, which the transport retries only
// after a second.
type h2Pool struct {
	t         *http2.Transport
	netDial   func(ctx context.Context, network, addr string) (net.Conn, error)
	tlsConfig *tls.Config

	mu      sync.Mutex
	conns   map[string][]*http2.ClientConn // by host:port
	dialing map[string]*h2Dial
}

// h2Dial is a dial in flight, which every request that finds no room waits
// for.
type h2Dial struct {
	done chan struct{}
	err  error // set before done is closed
}

func (p *h2Pool) GetClientConn(req *http.Request, addr string) (*http2.ClientConn, error) {
	for {
		p.mu.Lock()
		for _, cc := range p.conns[addr] {
			if cc.ReserveNewRequest() {
				p.mu.Unlock()
				return cc, nil
			}
		}
		d := p.dialing[addr]
		if d == nil {
			d = &h2Dial{done: make(chan struct{})}
			if p.dialing == nil {
				p.dialing = make(map[string]*h2Dial)
			}
			p.dialing[addr] = d
			go p.dial(addr, d)
		}
		p.mu.Unlock()
		select {
		case <-d.done:
			if d.err != nil {
				return nil, d.err
			}
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
}

// dial connects to addr for every request waiting. It is no one request's:
// one that gives up does not end it, and the connection is kept for the
// next.
func (p *h2Pool) dial(addr string, d *h2Dial) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout+tlsHandshakeTimeout)
	defer cancel()
	cc, err := p.connect(ctx, addr)
	p.mu.Lock()
	delete(p.dialing, addr)
	if err == nil {
		if p.conns == nil {
			p.conns = make(map[string][]*http2.ClientConn)
		}
		p.conns[addr] = append(p.conns[addr], cc)
	}
	d.err = err
	p.mu.Unlock()
	close(d.done)
}

func (p *h2Pool) connect(ctx context.Context, addr string) (*http2.ClientConn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cfg := p.tlsConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.ServerName = host
	// HTTP/1.1 too, so that a server which has only that picks it rather
	// than failing the handshake.
	cfg.NextProtos = []string{http2.NextProtoTLS, "http/1.1"}
	raw, err := p.netDial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	if conn.ConnectionState().NegotiatedProtocol != http2.NextProtoTLS {
		conn.Close()
		return nil, errNoHTTP2
	}
	cc, err := p.t.NewClientConn(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	// A server sends its settings first: once the answer to a ping is
	// in, they are too.
	if err := cc.Ping(ctx); err != nil {
		cc.Close()
		return nil, err
	}
	return cc, nil
}

// MarkDead forgets a connection that closed or was told to go away.
func (p *h2Pool) MarkDead(cc *http2.ClientConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, list := range p.conns {
		if i := slices.Index(list, cc); i >= 0 {
			cut(p.conns, addr, i)
			return
		}
	}
}

// cut removes the i-th of the list m holds for addr, and addr with the
// list's last.
func cut[T any](m map[string][]T, addr string, i int) {
	if list := slices.Delete(m[addr], i, i+1); len(list) > 0 {
		m[addr] = list
	} else {
		delete(m, addr)
	}
}

// closeIdle closes the connections no request uses. (A request reserves
// its stream under p.mu, so none can take one of these meanwhile.)
func (p *h2Pool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, list := range p.conns {
		kept := list[:0]
		for _, cc := range list {
			if st := cc.State(); st.StreamsActive+st.StreamsReserved+st.StreamsPending == 0 {
				cc.Close()
			} else {
				kept = append(kept, cc)
			}
		}
		if len(kept) == 0 {
			delete(p.conns, addr)
		} else {
			p.conns[addr] = kept
		}
	}
}

const (
	dialTimeout         = 10 * time.Second
	idleConnTimeout     = 90 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
)

// errNoHTTP2 is the HTTP/2 dial's answer for a host whose handshake picked
// another protocol.
var errNoHTTP2 = errors.New("upstream does not speak HTTP/2")

func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.plain != nil && req.URL.Scheme == "http" {
		return t.plain.RoundTrip(req)
	}
	if t.h2 == nil || req.URL.Scheme != "https" {
		return t.std.RoundTrip(req)
	}
	if _, ok := t.noH2.Load(req.URL.Host); ok {
		return t.std.RoundTrip(req)
	}
	resp, err := t.h2.RoundTrip(req)
	if !errors.Is(err, errNoHTTP2) {
		return resp, err
	}
	// Nothing was sent: the dial failed before the request had a
	// connection.
	t.noH2.Store(req.URL.Host, struct{}{})
	if req.Body != nil && req.GetBody != nil {
		if req.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return t.std.RoundTrip(req)
}

// CloseIdleConnections closes the connections no request uses.
func (t *Transport) CloseIdleConnections() {
	t.std.CloseIdleConnections()
	if t.h2 != nil {
		t.h2.ConnPool.(*h2Pool).closeIdle()
	}
	if t.plain != nil {
		t.plain.closeIdle()
	}
}
