package gemini

import (
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// NewWatch follows a streamGenerateContent stream relayed untouched, for
// its usage and its end (see translate.WatchState).
func NewWatch() translate.Watch { return &watch{} }

type watch struct {
	translate.WatchState
}

func (w *watch) Observe(ev translate.Event) (hadUsage bool) {
	if w.Finished() {
		return false
	}
	data := translate.InPlace(ev.Data)
	if e := gjson.Get(data, "error"); e.IsObject() {
		w.Fail(e.Get("message").String())
		return false
	}
	had := gjson.Get(data, "usageMetadata").IsObject()
	if had {
		// Each chunk carries the usage so far; the last one is complete.
		u, _ := ReadUsage(ev.Data)
		w.SetUsage(u)
	}
	if gjson.Get(data, "candidates.0.finishReason").Str != "" {
		w.Finish()
	}
	return had
}
