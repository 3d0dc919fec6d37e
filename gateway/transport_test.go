package gateway

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

	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// tlsUpstream starts a TLS server speaking HTTP/2 (and HTTP/1.1) or only
// HTTP/1.1, counting the connections it accepts, and returns an upstream
// whose transport trusts it.
func tlsUpstream(t *testing.T, h2 bool, maxStreams uint32, h http.Handler) (*upstream, *httptest.Server, *atomic.Int32) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = h2
	if maxStreams > 0 {
		srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: int(maxStreams)}
	}
	conns := countConns(srv)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	u, err := newUpstream(&Upstream{Name: "u", Provider: "openai", BaseURL: srv.URL}, 0)
	if err != nil {
		t.Fatal(err)
	}
	u.client.Transport = newTransport(0, nil, &tls.Config{RootCAs: roots})
	t.Cleanup(u.close)
	return u, srv, conns
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
	u, srv, conns := tlsUpstream(t, true, perConn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
			resp, err := u.send(context.Background(), outbound{method: http.MethodPost, url: srv.URL + "/v1/chat/completions", body: []byte(`{}`)}, &pool.KeySpec{Secret: "sk-test"})
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
	u, srv, conns := tlsUpstream(t, false, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Proto+" "+strconv.Itoa(len(b)))
	}))
	for i, size := range []int{bodyBuffer * 3, 10, bodyBuffer * 3} {
		body := bytes.Repeat([]byte("a"), size)
		resp, err := u.send(context.Background(), outbound{method: http.MethodPost, url: srv.URL + "/v1/chat/completions", body: body}, &pool.KeySpec{Secret: "sk-test"})
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
	u, srv, conns := tlsUpstream(t, true, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	get := func(url string) (string, error) {
		resp, err := u.send(context.Background(), outbound{method: http.MethodGet, url: url}, &pool.KeySpec{Secret: "sk-test"})
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
	p := u.client.Transport.(*transport).h2.ConnPool.(*h2Pool)
	if n := len(p.conns[srv.Listener.Addr().String()]); n != 1 {
		t.Errorf("the pool keeps %d connections, want the one open", n)
	}
	u.client.CloseIdleConnections()
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
	u, srv, _ := tlsUpstream(t, true, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	u.client.Transport = newTransport(200*time.Millisecond, nil, u.client.Transport.(*transport).h2.ConnPool.(*h2Pool).tlsConfig)
	start := time.Now()
	_, err := u.send(context.Background(), outbound{method: http.MethodGet, url: srv.URL}, &pool.KeySpec{Secret: "sk-test"})
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("a silent upstream: %v after %v, want a timeout after 200ms", err, time.Since(start))
	}
}

// Over HTTP/2 the watchdog ends a silent stream as over HTTP/1: closing
// the body ends the read that waits, and the upstream sees its stream
// reset (the model stops and bills no more).
func TestWatchdogCutsASilentHTTP2Stream(t *testing.T) {
	reset := make(chan struct{})
	u, srv, _ := tlsUpstream(t, true, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(reset)
		case <-time.After(10 * time.Second):
		}
	}))
	resp, err := u.send(context.Background(), outbound{method: http.MethodPost, url: srv.URL, body: []byte(`{}`), stream: true}, &pool.KeySpec{Secret: "sk-test"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("answered over %s, want HTTP/2", resp.Proto)
	}
	d := newWatchdog(resp.Body, 100*time.Millisecond, 0)
	defer d.stop()
	buf := make([]byte, 64)
	if n, err := d.Read(buf); err != nil || string(buf[:n]) != "data: {}\n\n" {
		t.Fatalf("first event: %q, %v", buf[:n], err)
	}
	start := time.Now()
	if _, err := d.Read(buf); err == nil || !d.Expired() {
		t.Fatalf("silent upstream: err %v, expired %v", err, d.Expired())
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the silent stream was cut after %s, want about 100ms", took)
	}
	select {
	case <-reset:
	case <-time.After(2 * time.Second):
		t.Error("the upstream never saw its stream reset")
	}
}
