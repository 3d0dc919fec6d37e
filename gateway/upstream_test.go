package gateway

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/egress"
	"github.com/llmproxy/caddy-llm-proxy/pool"
)

func TestBodyReaderLetsGoAtItsEnd(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789"), 100)
	r := &bodyReader{b: want}
	var got []byte
	p := make([]byte, 64)
	for len(got) < len(want) {
		n, err := r.Read(p)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
		got = append(got, p[:n]...)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the body read is not the body")
	}
	if r.b != nil {
		t.Error("the reader holds the body past its last byte")
	}
	if n, err := r.Read(p); n != 0 || err != io.EOF {
		t.Errorf("read past the end: %d, %v; want 0, EOF", n, err)
	}
}

// The upstream gets the whole body, and once the round trip is over the
// request (which a stream keeps for as long as it lasts) holds none of it.
func TestSendLetsGoOfTheBody(t *testing.T) {
	body := bytes.Repeat([]byte(`{"a":"0123456789"}`), 1000)
	got := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {}\n\n")
	}))
	defer srv.Close()
	u := testUpstream(t, srv.URL)
	resp, err := u.send(context.Background(), outbound{method: http.MethodPost, url: srv.URL, body: body, stream: true}, &pool.KeySpec{Secret: "sk-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b := <-got; !bytes.Equal(b, body) {
		t.Fatalf("the upstream got %d bytes, want the %d sent", len(b), len(body))
	}
	if resp.Request.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d, want %d", resp.Request.ContentLength, len(body))
	}
	rc, err := resp.Request.GetBody()
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := io.ReadAll(rc); len(left) != 0 {
		t.Errorf("GetBody still has %d bytes of the body after the round trip", len(left))
	}
}

// testUpstream is an OpenAI upstream at url, closed with the test.
func testUpstream(t *testing.T, url string) *upstream {
	t.Helper()
	u, err := newUpstream(&Upstream{Name: "u", Provider: "openai", BaseURL: url}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.close)
	return u
}

// countingConn counts the writes made to a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int32
}

func (c countingConn) Write(b []byte) (int, error) { c.writes.Add(1); return c.Conn.Write(b) }

// A request with a small body goes out in one write over HTTP/1, headers
// and body together (net/http writes the headers apart, a packet more,
// for a body reader it does not know); a large one may take several.
func TestSendSmallBodyInOneWrite(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	u := testUpstream(t, srv.URL)
	var writes atomic.Int32
	var d net.Dialer
	u.client.Transport = egress.New(egress.Options{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		return countingConn{c, &writes}, err
	}})
	for _, size := range []int{10, egress.BufferSize / 2} {
		writes.Store(0)
		body := bytes.Repeat([]byte("a"), size)
		resp, err := u.send(context.Background(), outbound{method: http.MethodPost, url: srv.URL, body: body}, &pool.KeySpec{Secret: "sk-test"})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n := writes.Load(); n != 1 {
			t.Errorf("a body of %d bytes went out in %d writes, want 1", size, n)
		}
	}
}

// An upstream's redirect is its answer: the key and body do not follow it
// elsewhere.
func TestSendFollowsNoRedirect(t *testing.T) {
	var followed atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Store(true)
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	u := testUpstream(t, srv.URL)
	resp, err := u.send(context.Background(), outbound{method: http.MethodPost, url: srv.URL + "/v1/chat/completions", body: []byte(`{}`)}, &pool.KeySpec{Secret: "sk-test"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || followed.Load() {
		t.Fatalf("status %d, followed %v; want the 307 itself", resp.StatusCode, followed.Load())
	}
}
