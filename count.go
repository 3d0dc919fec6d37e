package llmproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// countTokens answers Anthropic's count_tokens and Gemini's countTokens. It
// asks the provider's counting endpoint where there is one (Anthropic,
// Gemini) and otherwise answers a local estimate (see
// translate.EstimateRequestTokens). Counting is not a generation: it uses a
// healthy key without counting toward its limits.
func (p *Proxy) countTokens(w http.ResponseWriter, r *http.Request, c *call) {
	n, err := p.upstreamCount(r.Context(), c)
	if err != nil {
		p.fail(w, c, err)
		return
	}
	var body []byte
	if c.api == apiGemini {
		body = []byte(`{"totalTokens":` + strconv.FormatInt(n, 10) + `}`)
	} else {
		body = []byte(`{"input_tokens":` + strconv.FormatInt(n, 10) + `}`)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
	c.rec.Status, c.rec.InputTokens = http.StatusOK, n
}

func (p *Proxy) upstreamCount(ctx context.Context, c *call) (int64, *apiError) {
	key := p.pool.Pick(c.route.targets)
	if key == nil {
		// No healthy key: still answer, from the local estimate.
		return p.localCount(c)
	}
	up, model := c.route.pick(key.Upstream)
	c.rec.Upstream, c.rec.UpstreamModel, c.rec.KeyID = up.name, model, key.ID
	target := up.provider.CountTokensURL(up.base, model)
	if target == "" {
		return p.localCount(c)
	}
	counter, ok := up.codec.(translate.Counter)
	if !ok {
		return p.localCount(c)
	}
	var body []byte
	var err error
	if sameFormat(c.api, up.provider.Name()) {
		body, err = c.withModel(up.codec, model)
	} else {
		req := *c.canon
		req.Model = model
		body, err = counter.EncodeCountRequest(&req)
	}
	if err != nil {
		return 0, requestError(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, &apiError{Status: http.StatusInternalServerError, Message: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	up.authorize(req.Header, key.Secret)
	resp, err := up.client.Do(req)
	if err != nil {
		return 0, &apiError{Status: http.StatusBadGateway, Message: fmt.Sprintf("upstream %q could not be reached: %s", up.name, scrub(err.Error(), key.Secret))}
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		status := resp.StatusCode
		if retryable(status) || up.provider.KeyRejected(status, out) {
			status = http.StatusBadGateway
		}
		return 0, &apiError{Status: status, Message: fmt.Sprintf("upstream %q answered %d: %s", up.name, resp.StatusCode, scrub(upstreamMessage(out), key.Secret))}
	}
	n, ok := counter.ReadCount(out)
	if !ok {
		return 0, &apiError{Status: http.StatusBadGateway, Message: fmt.Sprintf("upstream %q answered no token count", up.name)}
	}
	return n, nil
}

// localCount estimates the tokens of the request in canonical form.
func (p *Proxy) localCount(c *call) (int64, *apiError) {
	canon := c.canon
	if canon == nil {
		var err error
		if canon, err = decodeInbound(c); err != nil {
			return 0, requestError(err)
		}
	}
	return translate.EstimateRequestTokens(canon), nil
}
