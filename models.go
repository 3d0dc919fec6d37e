package llmproxy

import (
	"encoding/json"
	"net/http"
	"time"
)

// serveModelList answers the model list in the inbound API's shape.
func (p *Proxy) serveModelList(w http.ResponseWriter, r *http.Request, a api) {
	entries := p.router.listModels(r.Context(), p.pool.Pick)
	var v any
	switch a {
	case apiAnthropic:
		type model struct {
			Type        string `json:"type"`
			ID          string `json:"id"`
			DisplayName string `json:"display_name"`
			CreatedAt   string `json:"created_at"`
		}
		list := struct {
			Data    []model `json:"data"`
			HasMore bool    `json:"has_more"`
			FirstID *string `json:"first_id"`
			LastID  *string `json:"last_id"`
		}{Data: make([]model, 0, len(entries))}
		for _, e := range entries {
			list.Data = append(list.Data, model{Type: "model", ID: e.ID, DisplayName: e.ID, CreatedAt: time.Unix(0, 0).UTC().Format(time.RFC3339)})
		}
		if n := len(list.Data); n > 0 {
			list.FirstID, list.LastID = &list.Data[0].ID, &list.Data[n-1].ID
		}
		v = list
	case apiGemini:
		type model struct {
			Name                       string   `json:"name"`
			BaseModelID                string   `json:"baseModelId"`
			DisplayName                string   `json:"displayName"`
			SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
		}
		list := struct {
			Models []model `json:"models"`
		}{Models: make([]model, 0, len(entries))}
		for _, e := range entries {
			list.Models = append(list.Models, model{Name: "models/" + e.ID, BaseModelID: e.ID, DisplayName: e.ID,
				SupportedGenerationMethods: []string{"generateContent", "streamGenerateContent", "countTokens"}})
		}
		v = list
	default:
		type model struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		}
		list := struct {
			Object string  `json:"object"`
			Data   []model `json:"data"`
		}{Object: "list", Data: make([]model, 0, len(entries))}
		for _, e := range entries {
			list.Data = append(list.Data, model{ID: e.ID, Object: "model", OwnedBy: e.Upstream})
		}
		v = list
	}
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, a, &apiError{Status: http.StatusInternalServerError, Message: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
