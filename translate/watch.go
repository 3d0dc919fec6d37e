package translate

import (
	"bytes"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
)

// StreamWatch follows a stream the proxy relays untouched (client and
// provider speak the same format): it reads the usage and tells a finished
// stream from a cut one with a few gjson lookups per event, where a
// StreamDecoder would decode every event in full. It agrees with the
// provider's StreamDecoder on both (a test runs them side by side over the
// recorded streams).
type StreamWatch struct {
	provider string
	// Usage is the usage reported so far.
	Usage Usage
	// Finished is set once the stream ended properly, or with an error.
	Finished bool
	// Failed is the message of an error the upstream put in the stream.
	Failed string

	finishSeen bool // OpenAI: a finish_reason arrived (usage may follow)
}

// NewStreamWatch watches a stream in the format of provider ("openai",
// "anthropic" or "gemini").
func NewStreamWatch(provider string) *StreamWatch {
	return &StreamWatch{provider: provider}
}

// Observe reads one event. hadUsage reports whether it carried usage.
func (w *StreamWatch) Observe(ev Event) (hadUsage bool) {
	if w.Finished {
		return false
	}
	switch w.provider {
	case "anthropic":
		return w.anthropic(ev)
	case "gemini":
		return w.gemini(ev)
	}
	return w.openai(ev)
}

func (w *StreamWatch) openai(ev Event) bool {
	if IsDone(ev.Data) {
		w.Finished = true
		return false
	}
	data := inPlace(ev.Data)
	if e := gjson.Get(data, "error"); e.IsObject() || gjson.Get(data, "object").Str == "error" {
		w.fail(e.Get("message").String(), gjson.Get(data, "message").String())
		return false
	}
	usage := gjson.Get(data, "usage")
	if reason := gjson.Get(data, "choices.0.finish_reason").Str; reason != "" {
		if reason == "error" {
			w.fail("the upstream ended the stream with an error")
			return false
		}
		w.finishSeen = true
	}
	if !usage.IsObject() {
		return false
	}
	w.Usage.Merge(chatUsageOf(usage))
	// Some servers send no [DONE] after the usage that follows the finish.
	w.Finished = w.finishSeen
	return true
}

func (w *StreamWatch) anthropic(ev Event) bool {
	typ := ev.Name
	if len(typ) == 0 {
		typ = []byte(gjson.GetBytes(ev.Data, "type").Str)
	}
	switch {
	case bytes.Equal(typ, eventMessageStart), bytes.Equal(typ, eventMessageDelta):
		u, ok := ReadAnthropicUsage(ev.Data)
		if ok {
			w.Usage.Merge(u)
		}
		return ok
	case bytes.Equal(typ, eventMessageStop):
		w.Finished = true
	case bytes.Equal(typ, eventError):
		w.fail(gjson.GetBytes(ev.Data, "error.message").Str)
	}
	return false
}

var (
	eventMessageStart = []byte("message_start")
	eventMessageDelta = []byte("message_delta")
	eventMessageStop  = []byte("message_stop")
	eventError        = []byte("error")
)

func (w *StreamWatch) gemini(ev Event) bool {
	data := inPlace(ev.Data)
	if e := gjson.Get(data, "error"); e.IsObject() {
		w.fail(e.Get("message").String())
		return false
	}
	had := gjson.Get(data, "usageMetadata").IsObject()
	if had {
		// Each chunk carries the usage so far; the last one is complete.
		u, _ := ReadGeminiUsage(ev.Data)
		w.Usage = u
	}
	if gjson.Get(data, "candidates.0.finishReason").Str != "" {
		w.Finished = true
	}
	return had
}

func (w *StreamWatch) fail(msgs ...string) {
	w.Finished = true
	w.Failed = "the upstream reported an error in the stream"
	for _, m := range msgs {
		if m != "" {
			w.Failed = strings.Clone(m) // m may point into the reader's buffer
			break
		}
	}
}

// inPlace views an event's bytes as a string without copying them. The
// results read from it are used before Observe returns, that is before the
// SSE reader reuses its buffer, except the error message, which fail copies.
func inPlace(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
