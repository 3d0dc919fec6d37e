package gateway

import (
	"net/http"

	"github.com/llmproxy/caddy-llm-proxy/clientapi"
)

// serveModelList answers the model list in the client API's shape.
func (g *Gateway) serveModelList(w http.ResponseWriter, r *http.Request, a clientapi.API) {
	entries := g.router.listModels(r.Context(), g.pool.Pick)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(a.ModelList(entries))
}
