package egress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// plainUpstream is a plain-HTTP server, the proxy's own HTTP/1.1 pool to
// reach it, and the number of connections the server accepted.
func plainUpstream(t *testing.T, h http.Handler) (*h1Pool, *httptest.Server, *atomic.Int32) {
	t.Helper()
	if !canProbe {
		t.Skip("plain HTTP goes through net/http's transport here")
	}
	srv := httptest.NewUnstartedServer(h)
	conns := countConns(srv)
	srv.Start()
	t.Cleanup(srv.Close)
	p := New(Options{}).plain
	t.Cleanup(p.closeIdle)
	return p, srv, conns
}

// aBody is the body the tests send, which the echoing handlers answer.
var aBody = []byte(`{"a":1}`)

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Answers read to their end give their connection to the next request,
// whatever their framing; one closed early, or that says Connection:
// close, does not.
func TestH1PoolKeepsConnections(t *testing.T) {
	p, srv, conns := plainUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/chunked":
			_, _ = io.WriteString(w, "part one, ")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, string(b))
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, string(b))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			_, _ = io.WriteString(w, string(b))
		}
	}))
	steps := []struct {
		path, want string
		conns      int32 // accepted after the request
	}{
		{"/", `{"a":1}`, 1},
		{"/chunked", `part one, {"a":1}`, 1},
		{"/empty", ``, 1},
		{"/", `{"a":1}`, 1},
		{"/close", `{"a":1}`, 1},
		{"/", `{"a":1}`, 2}, // the server closed the last one
	}
	for _, s := range steps {
		resp, err := send(p, context.Background(), http.MethodPost, srv.URL+s.path, aBody)
		if err != nil {
			t.Fatalf("%s: %v", s.path, err)
		}
		if got := readAll(t, resp); got != s.want {
			t.Errorf("%s: %q, want %q", s.path, got, s.want)
		}
		if got := conns.Load(); got != s.conns {
			t.Errorf("after %s: %d connections, want %d", s.path, got, s.conns)
		}
	}
	// Closed before its end, an answer's connection is not kept.
	resp, err := send(p, context.Background(), http.MethodPost, srv.URL+"/chunked", aBody)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = resp.Body.Read(make([]byte, 4))
	resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 4)); !errors.Is(err, errBodyClosed) {
		t.Errorf("read after close: %v", err)
	}
	if resp, err = send(p, context.Background(), http.MethodPost, srv.URL, aBody); err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if got := conns.Load(); got != 3 {
		t.Errorf("after an answer closed early: %d connections, want 3", got)
	}
}

// A kept connection the server has closed since is not used: the request
// goes out on a new one and succeeds.
func TestH1PoolSkipsClosedConnections(t *testing.T) {
	p, srv, conns := plainUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	for i := range 3 {
		resp, err := send(p, context.Background(), http.MethodPost, srv.URL, aBody)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := readAll(t, resp); got != "ok" {
			t.Fatalf("request %d: %q", i, got)
		}
		srv.CloseClientConnections()
		time.Sleep(20 * time.Millisecond) // for the close to arrive
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("%d connections, want 3", got)
	}
}

// breakingConn fails its writes once told to, as a connection the server
// reset while it was kept; it still looks open to alive.
type breakingConn struct {
	*net.TCPConn
	broken *atomic.Bool
}

func (c breakingConn) Write(b []byte) (int, error) {
	if c.broken.Load() {
		return 0, errors.New("write: connection reset by peer")
	}
	return c.TCPConn.Write(b)
}

// A request that could not be written on a kept connection goes out again
// on a new one; on a new connection, the failure is the answer.
func TestH1PoolResendsWhatWasNeverWritten(t *testing.T) {
	var served atomic.Int32
	p, srv, conns := plainUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		served.Add(1)
		_, _ = w.Write(b)
	}))
	var broken atomic.Bool
	var first atomic.Bool
	dial := p.dial
	p.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil || !first.CompareAndSwap(false, true) {
			return c, err
		}
		return breakingConn{c.(*net.TCPConn), &broken}, nil
	}
	for i := range 2 {
		resp, err := send(p, context.Background(), http.MethodPost, srv.URL, aBody)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := readAll(t, resp); got != `{"a":1}` {
			t.Errorf("request %d: %q", i, got)
		}
		broken.Store(true)
	}
	if s, c := served.Load(), conns.Load(); s != 2 || c != 2 {
		t.Errorf("served %d requests on %d connections, want 2 on 2", s, c)
	}

	first.Store(false) // the next dial breaks at once
	p.closeIdle()
	if _, err := send(p, context.Background(), http.MethodPost, srv.URL, aBody); err == nil {
		t.Error("a request that failed on a new connection was sent again")
	}
}

// The request's context and the response-header timeout end a wait for
// the headers, and the context a wait for the body, at once.
func TestH1PoolStopsWaiting(t *testing.T) {
	release := make(chan struct{})
	p, srv, _ := plainUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			_, _ = io.WriteString(w, "data: {}\n\n")
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := send(p, ctx, http.MethodPost, srv.URL, aBody); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("headers never come: %v, want the context's error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the context's end took %v to end the wait", took)
	}

	p.timeout = 100 * time.Millisecond
	start = time.Now()
	if _, err := send(p, context.Background(), http.MethodPost, srv.URL, aBody); !errors.Is(err, errHeaderTimeout) {
		t.Errorf("headers never come, with a timeout: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the header timeout took %v", took)
	}

	ctx, cancel = context.WithCancel(context.Background())
	resp, err := send(p, ctx, http.MethodPost, srv.URL+"/body", aBody)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := resp.Body.Read(buf); err != nil || string(buf[:n]) != "data: {}\n\n" {
		t.Fatalf("first event: %q, %v", buf[:n], err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	start = time.Now()
	if _, err := resp.Body.Read(buf); err == nil {
		t.Error("a read past the context's end succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the context's end took %v to end a read", took)
	}
	resp.Body.Close()

	// The watchdog closes a silent body while the relay reads it.
	resp, err = send(p, context.Background(), http.MethodPost, srv.URL+"/body", aBody)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = resp.Body.Read(buf)
	time.AfterFunc(50*time.Millisecond, func() { resp.Body.Close() })
	if _, err := resp.Body.Read(buf); err == nil {
		t.Error("a read past Close succeeded")
	}
}

// An informational answer before the answer is passed over.
func TestH1PoolSkipsInformationalAnswers(t *testing.T) {
	p, srv, _ := plainUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		_, _ = io.WriteString(w, "answer")
	}))
	resp, err := send(p, context.Background(), http.MethodPost, srv.URL, aBody)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); resp.StatusCode != http.StatusOK || got != "answer" {
		t.Errorf("%d %q, want 200 \"answer\"", resp.StatusCode, got)
	}
}
