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
	// One pass over the chunk's top-level fields: most chunks have none of
	// error, usage or a finish reason, and looking each up on its own
	// would scan the whole chunk once per field.
	var e, usage, choices gjson.Result
	var object string
	gjson.Parse(translate.InPlace(ev.Data)).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "error":
			e = v
		case "object":
			object = v.Str
		case "usage":
			usage = v
		case "choices":
			choices = v
		}
		return true
	})
	if e.IsObject() || object == "error" {
		w.Fail(e.Get("message").String(), gjson.GetBytes(ev.Data, "message").String())
		return false
	}
	if reason := choices.Get("0.finish_reason").Str; reason != "" {
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
