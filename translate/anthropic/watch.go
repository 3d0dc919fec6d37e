package anthropic

import (
	"bytes"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// NewWatch follows a Messages stream relayed untouched, for its usage and
// its end (see translate.WatchState).
func NewWatch() translate.Watch { return &watch{} }

type watch struct {
	translate.WatchState
}

var (
	eventMessageStart = []byte("message_start")
	eventMessageDelta = []byte("message_delta")
	eventMessageStop  = []byte("message_stop")
	eventError        = []byte("error")
)

func (w *watch) Observe(ev translate.Event) (hadUsage bool) {
	if w.Finished() {
		return false
	}
	typ := ev.Name
	if len(typ) == 0 {
		typ = []byte(gjson.GetBytes(ev.Data, "type").Str)
	}
	switch {
	case bytes.Equal(typ, eventMessageStart), bytes.Equal(typ, eventMessageDelta):
		u, ok := ReadUsage(ev.Data)
		if ok {
			w.MergeUsage(u)
		}
		return ok
	case bytes.Equal(typ, eventMessageStop):
		w.Finish()
	case bytes.Equal(typ, eventError):
		w.Fail(gjson.GetBytes(ev.Data, "error.message").Str)
	}
	return false
}
