package e2e

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// egress is the HTTP proxy every CLI process is pointed at (HTTP_PROXY,
// HTTPS_PROXY, ALL_PROXY): it forwards plain requests and CONNECT tunnels to
// loopback addresses and refuses, and records, everything else.
type egress struct {
	URL string

	srv *http.Server
	rp  *httputil.ReverseProxy

	mu      sync.Mutex
	refused []string
	allowed int
}

func newEgress(t *testing.T) *egress {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &egress{URL: "http://" + ln.Addr().String()}
	e.rp = &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.Out.URL = pr.In.URL; pr.Out.Host = pr.In.Host },
		Transport:     &http.Transport{Proxy: nil, DisableCompression: true},
		FlushInterval: -1,
	}
	e.srv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go e.srv.Serve(ln)
	t.Cleanup(func() { e.srv.Close() })
	return e
}

// isLoopback reports whether host (no port) is this machine by name or
// address. Names other than localhost are never resolved.
func isLoopback(host string) bool {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (e *egress) refuse(w http.ResponseWriter, what string) {
	e.mu.Lock()
	e.refused = append(e.refused, what)
	e.mu.Unlock()
	http.Error(w, "e2e egress proxy: only loopback is allowed", http.StatusForbidden)
}

func (e *egress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil || !isLoopback(host) {
			e.refuse(w, "CONNECT "+r.Host)
			return
		}
		e.tunnel(w, r)
		return
	}
	if !r.URL.IsAbs() || !isLoopback(r.URL.Hostname()) {
		e.refuse(w, r.Method+" "+redact(r.URL))
		return
	}
	e.count()
	e.rp.ServeHTTP(w, r)
}

func (e *egress) count() {
	e.mu.Lock()
	e.allowed++
	e.mu.Unlock()
}

func (e *egress) tunnel(w http.ResponseWriter, r *http.Request) {
	up, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	e.count()
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "no hijacking", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
	conn, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	go func() {
		defer up.Close()
		defer conn.Close()
		done := make(chan struct{}, 2)
		go func() { _, _ = io.Copy(up, buf); done <- struct{}{} }()
		go func() { _, _ = io.Copy(conn, up); done <- struct{}{} }()
		<-done
	}()
}

// redact drops the query (which may hold a key) from a refused URL.
func redact(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		c.RawQuery = "…"
	}
	return c.String()
}

// mark returns the number of refusals so far; refusedSince lists those
// after a mark.
func (e *egress) mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.refused)
}

func (e *egress) refusedSince(mark int) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.refused[mark:])
}

// env is the proxy environment for a CLI process. NO_PROXY is set empty so
// that no inherited value can exempt a host.
func (e *egress) env() []string {
	var out []string
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"} {
		out = append(out, k+"="+e.URL, strings.ToLower(k)+"="+e.URL)
	}
	return append(out, "NO_PROXY=", "no_proxy=")
}

// TestEgress checks the egress proxy itself: loopback passes (plain and
// tunnelled), anything else is refused and recorded. No CLI needed.
func TestEgress(t *testing.T) {
	eg := newEgress(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer target.Close()
	tlsTarget := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer tlsTarget.Close()
	proxyURL, _ := url.Parse(eg.URL)
	tr := tlsTarget.Client().Transport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyURL(proxyURL)
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	for _, u := range []string{target.URL, tlsTarget.URL} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatalf("GET %s through the egress proxy: %v", u, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Errorf("GET %s: %d %q", u, resp.StatusCode, b)
		}
	}
	if got := eg.refusedSince(0); len(got) != 0 {
		t.Fatalf("loopback refused: %v", got)
	}

	if resp, err := c.Get("http://registry.example.com/x?key=secret"); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("plain GET to a remote host: %v %v", resp, err)
	}
	if _, err := c.Get("https://api.example.com/"); err == nil {
		t.Error("CONNECT to a remote host succeeded")
	}
	want := []string{"GET http://registry.example.com/x?…", "CONNECT api.example.com:443"}
	if got := eg.refusedSince(0); !slices.Equal(got, want) {
		t.Errorf("refused = %q, want %q", got, want)
	}
}
