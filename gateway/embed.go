package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/clientapi"
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Embeddings go the way of a generation (forward.go's attempts, retries
// and leases, counted under the key's limits) with their own body, URL and
// answer: what differs is here.

// prepareEmbed decodes an embeddings request and narrows its route to the
// upstreams that can embed it, before any key is spent on it.
func (c *call) prepareEmbed() *clientapi.Error {
	emb := translate.AsEmbedder(c.api.Format())
	if emb == nil {
		return &clientapi.Error{Status: http.StatusNotFound, Message: "this API has no embeddings"}
	}
	req, err := emb.DecodeEmbedRequest(c.body, translate.EmbedOptions{Model: c.ep.Model, Batch: c.ep.Batch})
	if err != nil {
		return requestError(err)
	}
	c.embed = req
	rt, aerr := c.embedRoute(c.route)
	if aerr != nil {
		return aerr
	}
	c.route, c.estimate = rt, translate.EstimateEmbedTokens(req)
	return nil
}

// embedRoute is rt without the upstreams that cannot embed the call's
// request: those with no embeddings API (Anthropic), and those a
// translation cannot reach (token ids to Gemini, images to OpenAI). When
// none is left, the error says why, as a 400.
func (c *call) embedRoute(rt *route) (*route, *clientapi.Error) {
	var why error
	var none []string
	keep := make([]bool, len(rt.ups))
	kept := 0
	for i, u := range rt.ups {
		switch {
		case u.embeds == nil:
			if !slices.Contains(none, u.cfg.Provider) {
				none = append(none, u.cfg.Provider)
			}
		case c.passes(u):
			keep[i] = true
		default:
			if err := u.embedder.CheckEmbed(c.embed); err != nil {
				why = err
				continue
			}
			keep[i] = true
		}
		if keep[i] {
			kept++
		}
	}
	switch {
	case kept == len(rt.ups):
		return rt, nil
	case kept > 0:
		out := &route{label: rt.label}
		for i, u := range rt.ups {
			if keep[i] {
				out.add(u, rt.models[i], rt.sets[i])
			}
		}
		return out, nil
	case why != nil:
		return nil, requestError(why)
	}
	return nil, &clientapi.Error{Status: http.StatusBadRequest, Code: "model_not_supported",
		Message: fmt.Sprintf("the model %q is served only by upstreams without an embeddings API (%s)",
			truncate(c.model, maxEcho), strings.Join(none, ", "))}
}

// embedBody is the body of one embeddings attempt: the client's own with
// the model rewritten for a same-format upstream, else translated.
func (c *call) embedBody(u *upstream, model string) ([]byte, error) {
	if u.embeds == nil {
		// embedRoute keeps such upstreams out of the route; a route made
		// another way must not reach them either.
		return nil, translate.Errorf("upstream %q has no embeddings API", u.name)
	}
	if c.passes(u) {
		if model == c.model {
			return c.body, nil
		}
		return u.embedder.SetEmbedModel(c.body, model)
	}
	req := *c.embed
	req.Model = model
	return u.embedder.EncodeEmbedRequest(&req)
}

// embedURL is the upstream's embeddings endpoint: a translated request
// always goes to the one that takes several inputs.
func (c *call) embedURL(u *upstream, base, model string) string {
	return u.embeds.EmbedURL(base, model, c.ep.Batch || !c.passes(u))
}

// embedAnswer makes an upstream's embeddings answer the client's, and
// reads its input tokens: the provider's count, else the local estimate
// (Gemini counts none), so a request with input never counts 0.
func (c *call) embedAnswer(w http.ResponseWriter, resp *http.Response, u *upstream, model string, out []byte, pass bool) ([]byte, translate.Usage, error) {
	// gjson reads past what is not JSON: never take a broken answer.
	if !gjson.ValidBytes(out) {
		return nil, translate.Usage{}, fmt.Errorf("the answer is not valid JSON")
	}
	if pass {
		usage, ok := u.embedder.ReadEmbedUsage(out)
		if !ok {
			usage = translate.Usage{Input: translate.EstimateEmbedTokens(c.embed)}
		}
		copyHeaders(w.Header(), resp.Header)
		return out, usage, nil
	}
	res, err := u.embedder.DecodeEmbedResponse(out)
	if err != nil {
		return nil, translate.Usage{}, err
	}
	if len(res.Vectors) != len(c.embed.Inputs) {
		return nil, translate.Usage{}, fmt.Errorf("%d embeddings answer %d inputs", len(res.Vectors), len(c.embed.Inputs))
	}
	if res.Model == "" {
		res.Model = model
	}
	if res.Usage.Input <= 0 {
		res.Usage.Input = translate.EstimateEmbedTokens(c.embed)
	}
	if out, err = translate.AsEmbedder(c.api.Format()).EncodeEmbedResponse(res, c.embed); err != nil {
		return nil, translate.Usage{}, err
	}
	w.Header().Set("Content-Type", "application/json")
	return out, res.Usage, nil
}
