package gateway

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/llmproxy/caddy-llm-proxy/clientapi"
	"github.com/llmproxy/caddy-llm-proxy/providers"
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// countTokens answers a client API's token-counting endpoint. It asks the
// provider's counting endpoint where there is one and otherwise answers a
// local estimate (see translate.EstimateRequestTokens). Counting is not a
// generation: it uses a healthy key without counting toward its limits.
func (g *Gateway) countTokens(w http.ResponseWriter, r *http.Request, c *call) {
	counting, ok := c.api.(clientapi.Counting)
	if !ok {
		g.fail(w, c, &clientapi.Error{Status: http.StatusNotFound, Message: "this API has no token counting"})
		return
	}
	n, err := g.upstreamCount(r, c)
	if err != nil {
		g.fail(w, c, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(counting.CountAnswer(n))
	c.rec.Status, c.rec.InputTokens = http.StatusOK, n
}

func (g *Gateway) upstreamCount(r *http.Request, c *call) (int64, *clientapi.Error) {
	key := g.pool.Pick(c.route.targets)
	if key == nil {
		// No healthy key: still answer, from the local estimate.
		return g.localCount(c)
	}
	up, model, set := c.route.pick(key.Upstream)
	c.rec.Upstream, c.rec.UpstreamModel, c.rec.KeyID = up.name, model, key.ID
	target := up.provider.CountTokensURL(up.baseFor(key), model)
	counter, ok := up.codec.(translate.Counter)
	if target == "" || !ok {
		return g.localCount(c)
	}
	var body []byte
	var err error
	if c.passes(up) {
		body, err = c.withModel(up, model)
	} else {
		req := *c.canon
		req.Model = model
		providers.Fit(&req, set.maxOutput)
		body, err = counter.EncodeCountRequest(&req)
	}
	if err != nil {
		return 0, requestError(err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	status, out, err := up.fetch(ctx, outbound{method: http.MethodPost, url: target, body: body, pass: c.passed(r, up)}, key, 1<<20)
	if err != nil {
		return 0, &clientapi.Error{Status: http.StatusBadGateway, Message: fmt.Sprintf("upstream %q could not be reached: %s", up.name, scrub(err.Error(), key.Secret))}
	}
	if status != http.StatusOK {
		st := status
		if up.provider.Classify(status, out).Retryable() {
			st = http.StatusBadGateway
		}
		return 0, &clientapi.Error{Status: st, Message: fmt.Sprintf("upstream %q answered %d: %s", up.name, status, scrub(upstreamMessage(out), key.Secret))}
	}
	n, ok := counter.ReadCount(out)
	if !ok {
		return 0, &clientapi.Error{Status: http.StatusBadGateway, Message: fmt.Sprintf("upstream %q answered no token count", up.name)}
	}
	return n, nil
}

// localCount estimates the tokens of the request in canonical form.
func (g *Gateway) localCount(c *call) (int64, *clientapi.Error) {
	canon := c.canon
	if canon == nil {
		var err error
		if canon, err = c.decode(); err != nil {
			return 0, requestError(err)
		}
	}
	return translate.EstimateRequestTokens(canon), nil
}
