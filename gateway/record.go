package gateway

import (
	"strings"
	"time"
)

// requestRecord is what one client request did. serve.go fills one per
// request that reached routing and hands it to observe, which feeds the
// request log, the usage statistics and the metrics.
type requestRecord struct {
	Time   time.Time // when the request arrived
	Client string    // the client's name ("" when anonymous, on an open proxy)
	API    string    // the client API's name
	// Model is the model the client asked for; ModelLabel is the same when
	// it is a configured alias or model name, else the upstream's pattern
	// that admitted it, so metric labels come only from configuration.
	Model         string
	ModelLabel    string
	Upstream      string // "" when no upstream was reached
	UpstreamModel string
	// Served is the model the upstream said it served, for a successful
	// answer: what usage by model counts.
	Served       string
	KeyID        string
	Status       int // the status the client got
	Latency      time.Duration
	TTFB         time.Duration // upstream response headers of the answering attempt
	InputTokens  int64
	OutputTokens int64
	Error        string // secret-free; "" on success
	Endpoint     string // "embeddings" for an embeddings request, "" otherwise
}

// placeholderPrefix begins the placeholders a request sets.
const placeholderPrefix = "http.llm_proxy."

// placeholders are the {http.llm_proxy.*} placeholders of a finished
// request, for Caddy's replacer (so that log_append and later handlers can
// read them):
//
//	{http.llm_proxy.upstream}       the upstream that answered ("" when none)
//	{http.llm_proxy.key_id}         the key's id
//	{http.llm_proxy.model}          the model that served: the client's, or the fallback's
//	{http.llm_proxy.upstream_model} the model name the upstream got
//	{http.llm_proxy.client}         the client's name ("" when anonymous)
//	{http.llm_proxy.input_tokens}   input tokens of the answer
//	{http.llm_proxy.output_tokens}  output tokens of the answer
//
// A copy of the record's few fields, so that the replacer holding it does
// not keep the whole request (and its body) alive, nor force it onto the
// heap.
type placeholders struct {
	upstream, keyID, model, upstreamModel, client string
	in, out                                       int64
}

func (rec *requestRecord) placeholders() *placeholders {
	return &placeholders{upstream: rec.Upstream, keyID: rec.KeyID, model: rec.Model, upstreamModel: rec.UpstreamModel,
		client: rec.Client, in: rec.InputTokens, out: rec.OutputTokens}
}

// get answers one placeholder (a caddy.ReplacerFunc).
func (p *placeholders) get(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, placeholderPrefix)
	if !ok {
		return nil, false
	}
	switch name {
	case "upstream":
		return p.upstream, true
	case "key_id":
		return p.keyID, true
	case "model":
		return p.model, true
	case "upstream_model":
		return p.upstreamModel, true
	case "client":
		return p.client, true
	case "input_tokens":
		return p.in, true
	case "output_tokens":
		return p.out, true
	}
	return nil, false
}
