package gateway

import (
	"time"
)

// requestRecord is what one client request did. serve.go fills one per
// request that reached routing and hands it to observe, which feeds the
// request log, the usage statistics and the metrics.
type requestRecord struct {
	Time   time.Time // when the request arrived
	Client string    // the client key, masked ("" when the proxy is open)
	API    string    // the client API's name
	// Model is the model the client asked for; ModelLabel is the same when
	// it is a configured alias or model name, else the upstream's pattern
	// that admitted it, so metric labels come only from configuration.
	Model         string
	ModelLabel    string
	Upstream      string // "" when no upstream was reached
	UpstreamModel string
	KeyID         string
	Status        int // the status the client got
	Latency       time.Duration
	TTFB          time.Duration // upstream response headers of the answering attempt
	InputTokens   int64
	OutputTokens  int64
	Error         string // secret-free; "" on success
	Endpoint      string // "embeddings" for an embeddings request, "" otherwise
}
