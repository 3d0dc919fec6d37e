package chat

import (
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// NewWatch follows a Chat Completions stream relayed untouched, for its
// usage and its end (see translate.WatchState).
func NewWatch() translate.Watch { return &watch{} }

type watch struct {
	translate.WatchState
	finishSeen bool // a finish_reason arrived (usage may follow)
}

func (w *watch) Observe(ev translate.Event) (hadUsage bool) {
	if w.Finished() {
		return false
	}
	if IsDone(ev.Data) {
		w.Finish()
		return false
	}
	data := translate.InPlace(ev.Data)
	if e := gjson.Get(data, "error"); e.IsObject() || gjson.Get(data, "object").Str == "error" {
		w.Fail(e.Get("message").String(), gjson.Get(data, "message").String())
		return false
	}
	usage := gjson.Get(data, "usage")
	if reason := gjson.Get(data, "choices.0.finish_reason").Str; reason != "" {
		if reason == "error" {
			w.Fail("the upstream ended the stream with an error")
			return false
		}
		w.finishSeen = true
	}
	if !usage.IsObject() {
		return false
	}
	w.MergeUsage(usageOf(usage))
	// Some servers send no [DONE] after the usage that follows the finish.
	if w.finishSeen {
		w.Finish()
	}
	return true
}
