package egress

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tlsUpstream starts a TLS server speaking HTTP/2 (and HTTP/1.1) or only
// HTTP/1.1, counting the connections it accepts, and returns a transport
// that trusts it.
func tlsUpstream(t *testing.T, h2 bool, maxStreams uint32, h http.Handler) (*Transport, *httptest.Server, *atomic.Int32) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = h2
	if maxStreams > 0 {
		srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: int(maxStreams)}
	}
	conns := countConns(srv)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tr := New(Options{TLSConfig: trusting(srv)})
	t.Cleanup(tr.CloseIdleConnections)
	return tr, srv, conns
}

// trusting is a TLS config that trusts srv's certificate.
func trusting(srv *httptest.Server) *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return &tls.Config{RootCAs: roots}
}

// send is a request as the gateway sends it: a body over BufferSize
// through a reader net/http does not know (which only GetBody rewinds), a
// smaller one as a bytes.Reader.
func send(tr http.RoundTripper, ctx context.Context, method, url string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	switch {
	case len(body) > BufferSize:
		unknown := func() io.ReadCloser { return io.NopCloser(struct{ io.Reader }{bytes.NewReader(body)}) }
		req.Body, req.ContentLength = unknown(), int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return unknown(), nil }
	case len(body) > 0:
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return tr.RoundTrip(req)
}

// countConns counts the connections srv accepts; it is called before srv
// starts.
func countConns(srv *httptest.Server) *atomic.Int32 {
	var n atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

// A burst of requests to a cold HTTP/2 upstream, more than one connection
// takes, dials one connection at a time and opens only as many as the
// streams need, where net/http's transport dials once per request.
func TestTransportCoalescesHTTP2Dials(t *testing.T) {
	const n, perConn = 200, 20
	var (
		mu      sync.Mutex
		open    int
		release = make(chan struct{})
		allIn   = make(chan struct{})
	)
	tr, srv, conns := tlsUpstream(t, true, perConn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "want HTTP/2", http.StatusHTTPVersionNotSupported)
			return
		}
		mu.Lock()
		if open++; open == n {
			close(allIn)
		}
		mu.Unlock()
		<-release // every stream is open at once
		_, _ = io.WriteString(w, `{}`)
	}))
	errs := make(chan error, n)
	for range n {
		go func() {
			resp, err := send(tr, context.Background(), http.MethodPost, srv.URL+"/v1/chat/completions", []byte(`{}`))
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			errs <- err
		}()
	}
	<-allIn
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got, want := conns.Load(), int32(n/perConn); got != want {
		t.Errorf("%d streams of %d per connection made %d connections, want %d", n, perConn, got, want)
	}
}

// A TLS upstream that speaks only HTTP/1.1 is reached as before: the first
// request learns it (a handshake spent) and goes over HTTP/1.1 with its
// body whole, and later ones go straight there.
func TestTransportFallsBackToHTTP1(t *testing.T) {
	tr, srv, conns := tlsUpstream(t, false, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Proto+" "+strconv.Itoa(len(b)))
	}))
	for i, size := range []int{BufferSize * 3, 10, BufferSize * 3} {
		body := bytes.Repeat([]byte("a"), size)
		resp, err := send(tr, context.Background(), http.MethodPost, srv.URL+"/v1/chat/completions", body)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "HTTP/1.1 " + strconv.Itoa(size); string(got) != want {
			t.Errorf("request %d: upstream saw %q, want %q", i, got, want)
		}
	}
	// One handshake to learn the protocol, one HTTP/1.1 connection kept.
	if got := conns.Load(); got != 2 {
		t.Errorf("three requests made %d connections, want 2", got)
	}
}

// A connection the server closes is forgotten, and the next request dials
// another; an upstream that refuses connections is an error at once.
func TestTransportRedials(t *testing.T) {
	tr, srv, conns := tlsUpstream(t, true, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	get := func(url string) (string, error) {
		resp, err := send(tr, context.Background(), http.MethodGet, url, nil)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for i := range 3 {
		if got, err := get(srv.URL); err != nil || got != "HTTP/2.0" {
			t.Fatalf("request %d: %q, %v", i, got, err)
		}
		if i == 1 {
			srv.CloseClientConnections()
			time.Sleep(50 * time.Millisecond) // for the client to see it closed
		}
	}
	if got := conns.Load(); got != 2 {
		t.Errorf("three requests, the connection closed after the second: %d connections, want 2", got)
	}
	p := tr.h2.ConnPool.(*h2Pool)
	if n := len(p.conns[srv.Listener.Addr().String()]); n != 1 {
		t.Errorf("the pool keeps %d connections, want the one open", n)
	}
	tr.CloseIdleConnections()
	if n := len(p.conns); n != 0 {
		t.Errorf("%d hosts keep connections after CloseIdleConnections", n)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	if _, err := get("https://" + addr + "/"); err == nil {
		t.Error("a request to a closed port succeeded")
	} else if time.Since(start) > 5*time.Second {
		t.Errorf("a refused connection took %v to fail", time.Since(start))
	}
}

// The upstream's `timeout` bounds the response headers over HTTP/2 too.
func TestTransportHTTP2HeaderTimeout(t *testing.T) {
	tr, srv, _ := tlsUpstream(t, true, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	tr = New(Options{HeaderTimeout: 200 * time.Millisecond, TLSConfig: trusting(srv)})
	defer tr.CloseIdleConnections()
	start := time.Now()
	_, err := send(tr, context.Background(), http.MethodGet, srv.URL, nil)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("a silent upstream: %v after %v, want a timeout after 200ms", err, time.Since(start))
	}
}
