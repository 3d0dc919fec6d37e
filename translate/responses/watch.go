package responses

import (
	"strings"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// NewWatch follows a Responses stream relayed untouched, for its usage
// and its end (see translate.WatchState): the usage of response.completed
// / response.incomplete (which end it), response.failed and error events
// (which end it with an error). Other events are told by their name alone,
// without a look at the payload.
func NewWatch() translate.Watch { return &watch{} }

type watch struct {
	translate.WatchState
}

func (w *watch) Observe(ev translate.Event) (hadUsage bool) {
	if w.Finished() {
		return false
	}
	typ := translate.InPlace(ev.Name)
	if typ != "error" && !strings.HasPrefix(typ, "response.") {
		// No (usable) event name: the payload's type says it.
		typ = gjson.Get(translate.InPlace(ev.Data), "type").Str
	}
	switch typ {
	case "response.completed", "response.incomplete", "response.failed":
		data := translate.InPlace(ev.Data)
		u := gjson.Get(data, "response.usage")
		if u.IsObject() {
			w.SetUsage(usageOf(u))
		}
		if typ == "response.failed" {
			msg, _ := failure(gjson.Get(data, "response.error"))
			w.Fail(msg)
		} else {
			w.Finish()
		}
		return u.IsObject()
	case "error":
		msg, _ := failure(gjson.Parse(translate.InPlace(ev.Data)))
		w.Fail(msg)
	}
	return false
}
