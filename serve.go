package llmproxy

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmproxy/caddy-llm-proxy/translate"
	"github.com/llmproxy/caddy-llm-proxy/translate/chat"
)

// endpoint is what a client request asks for.
type endpoint uint8

const (
	epUnknown endpoint = iota
	epGenerate
	epCountTokens
	epModels
)

// ServeHTTP answers the client endpoints of the four APIs. Paths are matched
// by suffix so the handler works under handle_path; it is terminal and never
// calls next.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	start := time.Now()
	a, ep, method, model, stream := classify(r)
	client, ok := p.authorize(r)
	if !ok {
		writeError(w, a, &apiError{Status: http.StatusUnauthorized, Message: "missing or invalid client key"})
		return nil
	}
	switch {
	case ep == epUnknown:
		writeError(w, a, &apiError{Status: http.StatusNotFound, Code: "unknown_url", Message: "unknown path " + r.URL.Path})
	case r.Method != method:
		writeError(w, a, &apiError{Status: http.StatusMethodNotAllowed, Message: "method not allowed; use " + method, Allow: method})
	case ep == epModels:
		p.serveModelList(w, r, a)
	default:
		c := &call{api: a, ep: ep, model: model, stream: stream}
		c.rec = requestRecord{Time: start, Client: client, API: a, Model: model}
		p.serveCall(w, r, c)
		c.rec.Latency = time.Since(start)
		p.observe(&c.rec)
	}
	return nil
}

// classify finds the API, endpoint and expected method of a request from its
// path; Gemini paths also carry the model and whether to stream.
func classify(r *http.Request) (a api, ep endpoint, method, model string, stream bool) {
	path := r.URL.Path
	a = inferAPI(r)
	switch {
	case strings.HasSuffix(path, "/v1/chat/completions"):
		return apiOpenAIChat, epGenerate, http.MethodPost, "", false
	case strings.HasSuffix(path, "/v1/responses"):
		return apiOpenAIResponses, epGenerate, http.MethodPost, "", false
	case strings.HasSuffix(path, "/v1/messages"):
		return apiAnthropic, epGenerate, http.MethodPost, "", false
	case strings.HasSuffix(path, "/v1/messages/count_tokens"):
		return apiAnthropic, epCountTokens, http.MethodPost, "", false
	case strings.HasSuffix(path, "/v1/models"):
		return a, epModels, http.MethodGet, "", false
	case strings.HasSuffix(path, "/v1beta/models"):
		return apiGemini, epModels, http.MethodGet, "", false
	}
	// /v1beta/models/{model}:{method}, the model possibly `<upstream>/<model>`.
	i := strings.Index(path, "/v1beta/models/")
	if i < 0 {
		return a, epUnknown, "", "", false
	}
	rest := path[i+len("/v1beta/models/"):]
	colon := strings.LastIndexByte(rest, ':')
	if colon <= 0 {
		return apiGemini, epUnknown, "", "", false
	}
	model = rest[:colon]
	switch rest[colon+1:] {
	case "generateContent":
		return apiGemini, epGenerate, http.MethodPost, model, false
	case "streamGenerateContent":
		return apiGemini, epGenerate, http.MethodPost, model, true
	case "countTokens":
		return apiGemini, epCountTokens, http.MethodPost, model, false
	}
	return apiGemini, epUnknown, "", "", false
}

// inferAPI picks the error shape for a request whose endpoint is unknown:
// Anthropic when it carries anthropic-version, Gemini under /v1beta/,
// OpenAI otherwise.
func inferAPI(r *http.Request) api {
	switch {
	case r.Header.Get("anthropic-version") != "":
		return apiAnthropic
	case strings.Contains(r.URL.Path, "/v1beta/"):
		return apiGemini
	}
	return apiOpenAIChat
}

// authorize checks the client key in any of the places SDKs put it,
// comparing digests in constant time. It returns the key masked, for the
// request log.
func (p *Proxy) authorize(r *http.Request) (client string, ok bool) {
	if len(p.clientKeys) == 0 {
		return "", true
	}
	k := r.Header.Get("x-api-key")
	if k == "" {
		k = r.Header.Get("x-goog-api-key")
	}
	if k == "" {
		if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
			k = auth[7:]
		}
	}
	if k == "" {
		k = r.URL.Query().Get("key")
	}
	if k == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(k))
	match := 0
	for i := range p.clientKeys {
		match |= subtle.ConstantTimeCompare(sum[:], p.clientKeys[i][:])
	}
	return maskSecret(k), match == 1
}

// readBody reads the request body up to max_body.
func (p *Proxy) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	tooLarge := &apiError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", p.maxBody)}
	if r.ContentLength > p.maxBody {
		return nil, tooLarge
	}
	body := http.MaxBytesReader(w, r.Body, p.maxBody)
	var buf []byte
	var err error
	if r.ContentLength > 0 {
		buf = make([]byte, r.ContentLength)
		_, err = io.ReadFull(body, buf)
	} else {
		buf, err = io.ReadAll(body)
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, &apiError{Status: http.StatusBadRequest, Message: "reading request body: " + err.Error()}
	}
	return buf, nil
}

// call is one client request on its way to an upstream.
type call struct {
	api    api
	ep     endpoint
	body   []byte // as the client sent it, plus proxy-side additions
	model  string // as the client asked for it
	stream bool
	// includeUsage: an OpenAI Chat client asked for the usage chunk.
	includeUsage bool
	// stripUsage: the proxy asked an OpenAI upstream for stream usage the
	// client did not ask for, so the extra usage chunk is swallowed.
	stripUsage bool
	route      *route
	estimate   int64
	// canon is the request in canonical form, decoded once when some
	// target speaks another format than the client.
	canon *translate.Request
	rec   requestRecord
}

// serveCall checks a generation or token-counting request and sends it on.
func (p *Proxy) serveCall(w http.ResponseWriter, r *http.Request, c *call) {
	body, aerr := p.readBody(w, r)
	if aerr == nil {
		c.body = body
		aerr = c.parse()
		c.rec.Model = c.model
	}
	if aerr == nil {
		c.route = p.router.resolve(c.model)
		if c.route == nil {
			aerr = &apiError{Status: http.StatusNotFound, Code: "model_not_found",
				Message: fmt.Sprintf("the model %q does not exist or is not served by this proxy", c.model)}
		}
	}
	if aerr == nil {
		c.rec.ModelLabel = c.route.label
		aerr = c.prepare()
	}
	if aerr != nil {
		p.fail(w, c, aerr)
		return
	}
	if c.ep == epCountTokens {
		p.countTokens(w, r, c)
		return
	}
	p.forward(w, r, c)
}

// fail answers an error and records it.
func (p *Proxy) fail(w http.ResponseWriter, c *call, e *apiError) {
	writeError(w, c.api, e)
	c.rec.Status, c.rec.Error = e.Status, e.Message
}

// parse reads what routing needs from the body, cheaply, and rejects what
// no upstream could take. Full validation happens where a body is decoded
// for translation; a same-format body is validated by its provider.
func (c *call) parse() *apiError {
	if !gjson.ValidBytes(c.body) {
		return &apiError{Status: http.StatusBadRequest, Message: "request body is not valid JSON"}
	}
	if c.api == apiGemini {
		if c.model == "" {
			return &apiError{Status: http.StatusNotFound, Message: "the path names no model"}
		}
		if c.ep == epGenerate && !gjson.GetBytes(c.body, "contents").IsArray() {
			return &apiError{Status: http.StatusBadRequest, Message: "`contents` is required and must be an array"}
		}
		return nil
	}
	f := gjson.GetManyBytes(c.body, "model", "stream", "stream_options.include_usage")
	model, stream := f[0], f[1]
	if model.Type != gjson.String || model.Str == "" {
		return &apiError{Status: http.StatusBadRequest, Message: "`model` is required and must be a string"}
	}
	if stream.Exists() && stream.Type != gjson.True && stream.Type != gjson.False {
		return &apiError{Status: http.StatusBadRequest, Message: "`stream` must be a boolean"}
	}
	c.model, c.stream, c.includeUsage = model.Str, stream.Bool(), f[2].Bool()
	var required string
	switch c.api {
	case apiOpenAIChat:
		required = "messages"
	case apiAnthropic:
		required = "messages"
		if c.ep == epGenerate && gjson.GetBytes(c.body, "max_tokens").Type != gjson.Number {
			return &apiError{Status: http.StatusBadRequest, Message: "`max_tokens` is required and must be a number"}
		}
	case apiOpenAIResponses:
		if !gjson.GetBytes(c.body, "input").Exists() {
			return &apiError{Status: http.StatusBadRequest, Message: "`input` is required"}
		}
	}
	if required != "" && !gjson.GetBytes(c.body, required).IsArray() {
		return &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf("`%s` is required and must be an array", required)}
	}
	return nil
}

// prepare decodes the request when some target needs it translated, and
// makes the same-format body ready, before any key is spent on it.
func (c *call) prepare() *apiError {
	c.estimate = translate.EstimateTokens(c.body)
	for _, u := range c.route.ups {
		if !sameFormat(c.api, u.provider.Name()) {
			canon, err := decodeInbound(c)
			if err != nil {
				return requestError(err)
			}
			c.canon = canon
			break
		}
	}
	if c.api == apiOpenAIChat && c.stream && c.ep == epGenerate {
		var err error
		if c.body, c.stripUsage, err = chat.AskStreamUsage(c.body); err != nil {
			return &apiError{Status: http.StatusBadRequest, Message: "request body: " + err.Error()}
		}
	}
	return nil
}

// requestError turns a decoder's error into a 400.
func requestError(err error) *apiError {
	msg := err.Error()
	if re, ok := errors.AsType[*translate.RequestError](err); ok && re.Param != "" {
		msg = re.Param + ": " + re.Message
	}
	return &apiError{Status: http.StatusBadRequest, Message: msg}
}
