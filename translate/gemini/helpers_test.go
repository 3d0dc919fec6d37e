package gemini

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"google.golang.org/genai"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Signatures as Gemini sends them: standard padded base64.
var (
	sigA = base64.StdEncoding.EncodeToString([]byte("signature-A: opaque bytes \x00\x01\x02 from gemini"))
	sigB = base64.StdEncoding.EncodeToString([]byte("signature-B: another opaque blob"))
)

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameJSON compares two JSON texts by value.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want invalid JSON: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		gi, _ := json.MarshalIndent(g, "", "  ")
		wi, _ := json.MarshalIndent(w, "", "  ")
		t.Fatalf("JSON differs\n got: %s\nwant: %s", gi, wi)
	}
}

func ptrF(f float64) *float64 { return &f }

func ptrI(i int) *int { return &i }

// genaiServer serves body to Google's Go SDK and records what it sent.
func genaiServer(t *testing.T, handler http.HandlerFunc) *genai.Client {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      "test-key",
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readStream runs a recorded stream through the decoder.
func readStream(t *testing.T, raw []byte) ([]translate.StreamEvent, translate.StreamDecoder) {
	t.Helper()
	rd := translate.NewSSEReader(bytes.NewReader(raw))
	dec := NewStreamDecoder()
	var evs []translate.StreamEvent
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		evs, err = dec.Decode(evs, ev)
		if err != nil {
			t.Fatal(err)
		}
	}
	return evs, dec
}

func recorded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "streams", "gemini", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wrapped reports whether a thoughtSignature (raw bytes, as genai holds
// it) is the proxy's wrapping of another provider's signature sig of text.
func wrapped(raw []byte, format, sig, text string) bool {
	p := thoughtPart(base64.StdEncoding.EncodeToString(raw))
	return p.Signature == sig && p.Text == text && p.SignatureFormat == format
}
