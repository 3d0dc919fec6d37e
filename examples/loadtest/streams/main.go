// Command streams holds many client streams open through a proxy at once
// and reports what each open stream costs the proxy process: Go heap,
// goroutine stacks, goroutines and resident memory, before, during and
// after. It serves the slow upstream itself (OpenAI Chat or Anthropic
// Messages streams that send one event a second), so reasoning-model
// streams that stay open for minutes are what is measured.
//
//	go run ./examples/loadtest/streams -proxy http://127.0.0.1:9401 -admin http://127.0.0.1:2399 -pid $PID
//
// examples/loadtest/streams.sh builds Caddy and runs it for llm_proxy
// (passthrough and translated) and reverse_proxy.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	var (
		proxy    = flag.String("proxy", "http://127.0.0.1:9401", "the proxy's base URL; requests go to <proxy>/v1/chat/completions")
		admin    = flag.String("admin", "http://127.0.0.1:2399", "the proxy Caddy's admin endpoint (for /debug/vars and /debug/pprof)")
		pid      = flag.Int("pid", 0, "the proxy's process id (for its RSS)")
		upstream = flag.String("upstream", "127.0.0.1:9411", "where to serve the slow upstream")
		n        = flag.Int("n", 1000, "streams to hold open")
		hold     = flag.Duration("hold", 5*time.Second, "how long to hold them once all are open")
		label    = flag.String("label", "", "a name for this run in the output")
		caOut    = flag.String("tls", "", "serve the upstream over TLS (HTTP/2, as real providers do), writing its certificate here for the proxy to trust (SSL_CERT_FILE)")
		pidFile  = flag.String("pidfile", "", "read the proxy's process id from this file once it appears (instead of -pid)")
		warm     = flag.Bool("warm", false, "run one round of streams to its end before measuring, so that what the proxy keeps after its first burst is not counted per stream")
	)
	flag.Parse()

	ln, err := net.Listen("tcp", *upstream)
	if err != nil {
		log.Fatal(err)
	}
	// Each round of streams has a release of its own: closing it ends the
	// round's streams.
	var release atomic.Pointer[chan struct{}]
	newRound := func() chan struct{} { c := make(chan struct{}); release.Store(&c); return c }
	srv := &http.Server{Handler: slowUpstream(func() <-chan struct{} { return *release.Load() })}
	if *caOut != "" {
		cert, pemBytes := selfSigned()
		if err := os.WriteFile(*caOut, pemBytes, 0o644); err != nil {
			log.Fatal(err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
		go func() { _ = srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { _ = srv.Serve(ln) }()
	}
	defer srv.Close()
	if *pidFile != "" {
		*pid = waitPID(*pidFile, *admin)
	}

	tr := &http.Transport{MaxIdleConnsPerHost: *n, MaxConnsPerHost: 0, DisableCompression: true}
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var opened, failed, finished atomic.Int64
	body := `{"model":"slow","stream":true,"messages":[{"role":"user","content":"think for a while, then answer"}]}`
	// round opens n streams at once, and once all are open (or failed)
	// calls held, then ends them and waits for them to finish.
	round := func(held func()) {
		opened.Store(0)
		failed.Store(0)
		finished.Store(0)
		end := newRound()
		var wg sync.WaitGroup
		for range *n {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, *proxy+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					return
				}
				defer resp.Body.Close()
				rd := bufio.NewReader(resp.Body)
				// Open once the first event has arrived.
				if _, err := rd.ReadSlice('\n'); err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					return
				}
				opened.Add(1)
				if _, err := io.Copy(io.Discard, rd); err == nil {
					finished.Add(1)
				}
			})
		}
		deadline := time.Now().Add(60 * time.Second)
		for opened.Load()+failed.Load() < int64(*n) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		held()
		close(end)
		wg.Wait()
		tr.CloseIdleConnections()
		time.Sleep(2 * time.Second)
	}

	if *warm {
		// A proxy meets its first burst with no connection to the
		// upstream: net/http dials one per request (over HTTP/2 it keeps
		// a few and closes the rest), and the runtime keeps the records
		// of the goroutines that did, for good. That is a cost of the
		// first burst, not of each open stream, so it is paid before.
		cold := sample(*admin, *pid)
		round(func() {})
		// The proxy's idle HTTP/1 connections to the upstream go, so
		// that each measured stream has its own connection counted;
		// HTTP/2 ones stay, as they do on a proxy in use.
		srv.SetKeepAlivesEnabled(false)
		time.Sleep(time.Second)
		srv.SetKeepAlivesEnabled(true)
		warmed := sample(*admin, *pid)
		fmt.Printf("%s: after a first round of %d streams, which also connected the proxy to the upstream, it held %.1f KiB per stream more than before\n"+
			"  (goroutine records, buffers kept in pools, HTTP/2 connections); not counted below\n",
			*label, *n, float64(int64(warmed.heap+warmed.stacks)-int64(cold.heap+cold.stacks))/float64(*n)/1024)
	}
	before := sample(*admin, *pid)
	var during mem
	round(func() {
		time.Sleep(*hold)
		during = sample(*admin, *pid)
	})
	after := sample(*admin, *pid)

	open := opened.Load()
	fmt.Printf("%s: %d streams opened, %d failed, %d finished cleanly\n", *label, open, failed.Load(), finished.Load())
	fmt.Printf("  %-8s %10s %10s %10s %11s %8s\n", "", "heap MiB", "stacks MiB", "RSS MiB", "goroutines", "")
	for _, s := range []struct {
		name string
		m    mem
	}{{"before", before}, {"during", during}, {"after", after}} {
		fmt.Printf("  %-8s %10.1f %10.1f %10.1f %11d\n", s.name, mib(s.m.heap), mib(s.m.stacks), mib(s.m.rss), s.m.goroutines)
	}
	if open > 0 {
		per := func(a, b uint64) float64 { return float64(int64(a)-int64(b)) / float64(open) / 1024 }
		rss := ""
		if !*warm {
			// After a first round the runtime keeps memory it will reuse,
			// so the difference in RSS says little then.
			rss = fmt.Sprintf("; RSS %.1f KiB", per(during.rss, before.rss))
		}
		fmt.Printf("  per open stream: heap %.1f KiB + stacks %.1f KiB = %.1f KiB%s; goroutines %.2f\n",
			per(during.heap, before.heap), per(during.stacks, before.stacks),
			per(during.heap+during.stacks, before.heap+before.stacks), rss,
			float64(during.goroutines-before.goroutines)/float64(open))
	}
}

// waitPID waits for the proxy to write its pid file and answer on admin.
func waitPID(file, admin string) int {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(file); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				if resp, err := http.Get(admin + "/config/"); err == nil {
					resp.Body.Close()
					return pid
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Fatal("the proxy did not start")
	return 0
}

// selfSigned makes a certificate for 127.0.0.1, its own CA.
func selfSigned() (tls.Certificate, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "streams load upstream"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

type mem struct {
	heap, stacks, rss uint64
	goroutines        int
}

// sample reads the proxy's live heap (after a GC that pprof's heap
// endpoint runs with gc=1), stack memory, goroutines and RSS.
func sample(admin string, pid int) mem {
	var m mem
	if resp, err := http.Get(admin + "/debug/pprof/heap?gc=1"); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if resp, err := http.Get(admin + "/debug/vars"); err == nil {
		var v struct {
			Memstats struct{ HeapAlloc, StackInuse uint64 } `json:"memstats"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		m.heap, m.stacks = v.Memstats.HeapAlloc, v.Memstats.StackInuse
	}
	if resp, err := http.Get(admin + "/debug/pprof/goroutine?debug=1"); err == nil {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		resp.Body.Close()
		if i := strings.LastIndex(line, "total "); i >= 0 {
			m.goroutines, _ = strconv.Atoi(strings.TrimSpace(line[i+len("total "):]))
		}
	}
	if pid > 0 {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			for _, l := range bytes.Split(b, []byte("\n")) {
				if f := strings.Fields(string(l)); len(f) >= 2 && f[0] == "VmRSS:" {
					kb, _ := strconv.ParseUint(f[1], 10, 64)
					m.rss = kb * 1024
				}
			}
		}
	}
	return m
}

// slowUpstream streams like a model that thinks: the first event at once,
// then one a second, until its round's release; OpenAI Chat on /v1/chat/completions and
// Anthropic Messages on /v1/messages.
func slowUpstream(round func() <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release := round()
		_, _ = io.Copy(io.Discard, r.Body)
		anthropic := strings.HasSuffix(r.URL.Path, "/v1/messages")
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		send := func(s string) { _, _ = io.WriteString(w, s); fl.Flush() }
		if anthropic {
			send("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n" +
				"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
		} else {
			send(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n")
		}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-release:
				if anthropic {
					send("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
						"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":5}}\n\n" +
						"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
				} else {
					send(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n" +
						`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}` + "\n\ndata: [DONE]\n\n")
				}
				return
			case <-tick.C:
				if anthropic {
					send("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hm \"}}\n\n")
				} else {
					send(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"hm "},"finish_reason":null}]}` + "\n\n")
				}
			}
		}
	})
}
