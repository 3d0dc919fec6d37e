package gateway

import (
	"net/http"
	"slices"

	"github.com/llmproxy/caddy-llm-proxy/clientapi"
)

// serveModelList answers the model list in the client API's shape.
// A client with a models list sees only the models it may use.
func (g *Gateway) serveModelList(w http.ResponseWriter, r *http.Request, a clientapi.API, ce *clientEntry) {
	entries := g.router.listModels(r.Context(), g.pool.Pick)
	if ce != nil && len(ce.models) > 0 {
		entries = slices.DeleteFunc(entries, func(e clientapi.ModelEntry) bool { return !ce.allows(e.ID, g.isUpstream) })
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(a.ModelList(entries))
}
