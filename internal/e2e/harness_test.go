package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	_ "github.com/llmproxy/caddy-llm-proxy"
	"github.com/llmproxy/caddy-llm-proxy/internal/testcaddy"
)

// The in-process Caddy of this test binary. caddytest runs one Caddy per
// process; these ports differ from the root package's (9080, admin 2999),
// and from its crash test (9180, admin 2998), whose tests may run at the
// same time.
// LLMP_TEST_PORT_OFFSET shifts them all (see testcaddy.Port).
var (
	httpPort  = testcaddy.Port(9280)
	adminPort = testcaddy.Port(2997)
	proxyBase = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	adminBase = fmt.Sprintf("http://localhost:%d", adminPort)
)

// clientKey is the llm_proxy client key every CLI presents as its API key.
const clientKey = "e2e-client-key"

func TestMain(m *testing.M) { testcaddy.Main(m, "e2e") }

// startCaddy loads config (a Caddyfile) into this process's Caddy.
func startCaddy(t *testing.T, config string) {
	t.Helper()
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{
		AdminPort:          adminPort,
		LoadRequestTimeout: 10 * time.Second,
		TestRequestTimeout: 10 * time.Second,
	})
	tester.InitServer(config, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
}

// exchange is one request a CLI sent to Caddy and what it was answered.
type exchange struct {
	Time    time.Time       `json:"-"`
	Method  string          `json:"method"`
	URI     string          `json:"uri"`
	Header  http.Header     `json:"header"`
	Body    json.RawMessage `json:"body,omitempty"`     // the request body when it is JSON
	RawBody string          `json:"raw_body,omitempty"` // otherwise
	Status  int             `json:"status"`
	// RespHeader and Response are the answer's headers and body (cut at
	// maxResponse bytes; upstream answers only when they are errors).
	RespHeader http.Header `json:"response_header,omitempty"`
	Response   string      `json:"response,omitempty"`
}

const maxResponse = 256 << 10

// journal is a list of exchanges that the tests mark and read back.
type journal struct {
	mu  sync.Mutex
	all []*exchange
}

// clientJournal holds what the CLIs sent to Caddy (the e2e_record
// handler); upstreamJournal what llm_proxy sent to the fake upstreams.
var clientJournal, upstreamJournal journal

func (j *journal) add(ex *exchange) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.all = append(j.all, ex)
}

func (j *journal) mark() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.all)
}

func (j *journal) since(mark int) []*exchange {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]*exchange(nil), j.all[mark:]...)
}

func newExchange(r *http.Request, body []byte) *exchange {
	ex := &exchange{Time: time.Now(), Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone()}
	if len(body) > 0 {
		if json.Valid(body) {
			ex.Body = json.RawMessage(body)
		} else {
			ex.RawBody = string(body)
		}
	}
	return ex
}

// recorder is the e2e_record Caddy handler: it records each request and its
// answer into clientJournal, then hands over to the next handler unchanged.
type recorder struct{}

func init() {
	caddy.RegisterModule(recorder{})
	httpcaddyfile.RegisterHandlerDirective("e2e_record", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		h.Next()
		return recorder{}, nil
	})
}

func (recorder) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.e2e_record", New: func() caddy.Module { return recorder{} }}
}

func (recorder) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ex := newExchange(r, body)
	cw := &captureWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	err = next.ServeHTTP(cw, r)
	ex.Status = cw.status
	if ex.Status == 0 {
		ex.Status = http.StatusOK
	}
	if herr, ok := err.(caddyhttp.HandlerError); ok && cw.status == 0 {
		ex.Status = herr.StatusCode
	}
	ex.Response = cw.buf.String()
	ex.RespHeader = cw.Header().Clone()
	clientJournal.add(ex)
	return err
}

// captureWriter keeps the status and the first maxResponse bytes written.
type captureWriter struct {
	*caddyhttp.ResponseWriterWrapper
	status int
	buf    bytes.Buffer
}

func (c *captureWriter) WriteHeader(status int) {
	if c.status == 0 && status >= 200 {
		c.status = status
	}
	c.ResponseWriterWrapper.WriteHeader(status)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if room := maxResponse - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return c.ResponseWriterWrapper.Write(p)
}

// ReadFrom goes through Write, so that copies are captured too.
func (c *captureWriter) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{c}, r)
}

// adminLogs is the llm_proxy admin API's recent request log of an instance,
// for failure messages.
func adminLogs(instance string, limit int) string {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("%s/llm_proxy/%s/logs?limit=%d", adminBase, instance, limit))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// tapUpstream puts a recording reverse proxy in front of a fake upstream and
// returns the URL to give llm_proxy (the fake's URL with the tap's origin):
// every request llm_proxy sends goes to upstreamJournal with its status, and
// the body of error answers.
func tapUpstream(t *testing.T, fakeURL string) string {
	t.Helper()
	target, err := url.Parse(fakeURL)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
			pr.Out.Host = target.Host
		},
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			ex, _ := resp.Request.Context().Value(tapKey{}).(*exchange)
			if ex == nil {
				return nil
			}
			ex.Status = resp.StatusCode
			ex.RespHeader = resp.Header.Clone()
			if resp.StatusCode >= 400 {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
				resp.Body.Close()
				ex.Response = string(b)
				resp.Body = io.NopCloser(bytes.NewReader(b))
			}
			return nil
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		ex := newExchange(r, body)
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tapKey{}, ex)))
		// Journaled once the answer's fields are filled in: the journal's
		// lock then orders those writes before any reader.
		upstreamJournal.add(ex)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + target.Path
}

type tapKey struct{}
