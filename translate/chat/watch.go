package chat

import (
	"bytes"

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
	// Most chunks carry text and nothing the watch wants; a scan for the
	// three keys tells them apart without parsing (see plainChunk).
	if plainChunk(ev.Data) {
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

// plainChunk reports whether a chunk surely holds no error, no usage and
// no finish reason: no "error" anywhere in it, and every "usage" and
// "finish_reason" key (if any) set to null. A byte scan suffices because
// a key cannot hide in a string's content: a quote there is escaped, so
// `"usage":` inside a text is `\"usage\":`. Whatever it cannot rule out
// (a key's value other than null, "error" even as a value) goes to the
// parse, so it only ever skips work, never a verdict.
func plainChunk(data []byte) bool {
	if bytes.Contains(data, errorWord) {
		return false
	}
	return allNull(data, usageKey) && allNull(data, finishKey)
}

var (
	errorWord = []byte(`"error"`)
	usageKey  = []byte(`"usage"`)
	finishKey = []byte(`"finish_reason"`)
	nullWord  = []byte("null")
)

// allNull reports whether every occurrence of key in data is a key whose
// value is null.
func allNull(data, key []byte) bool {
	for {
		i := bytes.Index(data, key)
		if i < 0 {
			return true
		}
		data = skipSpace(data[i+len(key):])
		if len(data) == 0 || data[0] != ':' {
			return false
		}
		data = skipSpace(data[1:])
		if !bytes.HasPrefix(data, nullWord) {
			return false
		}
		data = data[len(nullWord):]
	}
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
