package translate

import (
	"fmt"
	"sort"
	"sync"
)

// A Format is one wire format: "openai-chat", "openai-responses",
// "anthropic" or "gemini". Each has a package under translate/ that
// implements the halves it has and registers itself from init, so the
// engine looks a format up by name and never switches on it. Client APIs
// and providers name the format they speak; two that name the same one
// pass bodies through untouched.
type Format interface {
	// Name is the format's registered name.
	Name() string
	// ErrorBody renders a whole error answer in this format's shape. code
	// is OpenAI's error.code where the format has one ("" = by status).
	ErrorBody(status int, message, code string) []byte
	// StreamError renders the whole SSE event (framing included) that ends
	// a stream in this format with an error. Both use one error table.
	StreamError(status int, message, code string) []byte
}

// ClientCodec is the client half of a format: what a client sends, and
// the answers and streams it reads.
type ClientCodec interface {
	Format
	// DecodeRequest decodes a generation or token-counting request.
	DecodeRequest(body []byte, o DecodeOptions) (*Request, error)
	// EncodeResponse renders a whole answer.
	EncodeResponse(r *Response) []byte
	// NewStreamEncoder renders canonical stream events for one stream.
	NewStreamEncoder(o StreamOptions) StreamEncoder
}

// DecodeOptions carry what a request's path (not its body) says.
type DecodeOptions struct {
	// Model is the model named by the path (Gemini), "" otherwise.
	Model string
	// Stream is set when the path asks for a stream (Gemini).
	Stream bool
	// Count marks a token-counting request rather than a generation.
	Count bool
}

// ProviderCodec is the provider half of a format: the requests the proxy
// sends a provider speaking it, and the answers and streams it reads back.
type ProviderCodec interface {
	Format
	// EncodeRequest renders a canonical request for the provider.
	EncodeRequest(r *Request) ([]byte, error)
	// DecodeResponse reads a whole answer.
	DecodeResponse(body []byte) (*Response, error)
	// NewStreamDecoder reads one stream into canonical events.
	NewStreamDecoder() StreamDecoder
	// NewWatch follows a same-format stream relayed untouched, for its
	// usage and its end, far cheaper than a StreamDecoder.
	NewWatch() Watch
	// SetModel rewrites the model of a same-format body (a format whose
	// model lives in the URL returns the body unchanged).
	SetModel(body []byte, model string) ([]byte, error)
	// Patch applies configured overrides to a same-format body in place.
	Patch(body []byte, o Overrides) ([]byte, error)
	// ReadUsage reads the usage of a whole answer without decoding it.
	ReadUsage(body []byte) (Usage, bool)
}

// Counter is implemented by provider codecs whose provider counts tokens.
type Counter interface {
	// EncodeCountRequest renders a canonical request for the provider's
	// token-counting endpoint.
	EncodeCountRequest(r *Request) ([]byte, error)
	// ReadCount reads the count out of that endpoint's answer.
	ReadCount(body []byte) (int64, bool)
}

// Watch follows one same-format stream (see ProviderCodec.NewWatch).
type Watch interface {
	// Observe reads one event; hadUsage reports whether it carried usage.
	Observe(ev Event) (hadUsage bool)
	// Usage is the usage reported so far.
	Usage() Usage
	// Finished reports whether the stream ended properly, or with an error.
	Finished() bool
	// Failed is the message of an error the upstream put in the stream.
	Failed() string
}

var registry = struct {
	sync.RWMutex
	m map[string]Format
}{m: map[string]Format{}}

// Register makes a format known under its Name. It panics on a repeated
// name: that is a programming error, caught by any test.
func Register(f Format) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[f.Name()]; dup {
		panic(fmt.Sprintf("translate: format %q registered twice", f.Name()))
	}
	registry.m[f.Name()] = f
}

// Lookup returns the format registered under name, or nil.
func Lookup(name string) Format {
	registry.RLock()
	defer registry.RUnlock()
	return registry.m[name]
}

// Client returns the client half of a format, or nil if it has none.
func Client(name string) ClientCodec {
	c, _ := Lookup(name).(ClientCodec)
	return c
}

// Provider returns the provider half of a format, or nil if it has none.
func Provider(name string) ProviderCodec {
	c, _ := Lookup(name).(ProviderCodec)
	return c
}

// Names lists the registered formats, sorted.
func Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.m))
	for n := range registry.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
