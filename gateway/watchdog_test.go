package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/egress"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

// silentBody answers reads only when told to, like an upstream that sends
// its headers and then thinks; Close ends a read that waits, as net/http's
// response bodies do.
type silentBody struct {
	feed   chan []byte
	closed chan struct{}
	once   sync.Once
}

func newSilentBody() *silentBody {
	return &silentBody{feed: make(chan []byte), closed: make(chan struct{})}
}

func (b *silentBody) Read(p []byte) (int, error) {
	select {
	case chunk := <-b.feed:
		return copy(p, chunk), nil
	case <-b.closed:
		return 0, errors.New("read on closed body")
	}
}

func (b *silentBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

func TestWatchdogCutsASilentUpstream(t *testing.T) {
	body := newSilentBody()
	d := newWatchdog(body, 50*time.Millisecond, 0)
	defer d.stop()
	start := time.Now()
	// Bytes keep it alive past its bound...
	go func() {
		for range 4 {
			time.Sleep(30 * time.Millisecond)
			body.feed <- []byte("x")
		}
	}()
	buf := make([]byte, 8)
	for range 4 {
		if _, err := d.Read(buf); err != nil {
			t.Fatalf("read while the upstream talks: %v", err)
		}
	}
	// ...and silence ends it.
	_, err := d.Read(buf)
	if err == nil || !d.Expired() {
		t.Fatalf("silent upstream: err %v, expired %v", err, d.Expired())
	}
	if took := time.Since(start); took < 150*time.Millisecond || took > 2*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestWatchdogKeepsTheClientWarm(t *testing.T) {
	body := newSilentBody()
	defer body.Close()
	d := newWatchdog(body, time.Second, 40*time.Millisecond)
	var mu sync.Mutex
	comments := 0
	d.commit(func() { mu.Lock(); comments++; mu.Unlock() })
	time.Sleep(300 * time.Millisecond)
	d.stop()
	mu.Lock()
	n := comments
	mu.Unlock()
	if n < 3 || n > 9 {
		t.Errorf("%d keepalive comments in 300ms at 40ms", n)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if comments != n {
		t.Errorf("comments after stop: %d -> %d", n, comments)
	}
	if d.Expired() {
		t.Error("expired while within idle_timeout")
	}
}

// Over HTTP/2 the watchdog ends a silent stream as over HTTP/1: closing
// the body ends the read that waits, and the upstream sees its stream
// reset (the model stops and bills no more).
func TestWatchdogCutsASilentHTTP2Stream(t *testing.T) {
	reset := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(reset)
		case <-time.After(10 * time.Second):
		}
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	u := testUpstream(t, srv.URL)
	u.client.Transport = egress.New(egress.Options{TLSConfig: &tls.Config{RootCAs: roots}})
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
