package gemini

import (
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func appendUsage(b []byte, u translate.Usage) []byte {
	b = append(b, `{"promptTokenCount":`...)
	b = strconv.AppendInt(b, u.Input, 10)
	b = append(b, `,"candidatesTokenCount":`...)
	b = strconv.AppendInt(b, max(u.Output-u.Reasoning, 0), 10)
	b = append(b, `,"totalTokenCount":`...)
	b = strconv.AppendInt(b, u.Total(), 10)
	if u.Cached > 0 {
		b = append(b, `,"cachedContentTokenCount":`...)
		b = strconv.AppendInt(b, u.Cached, 10)
	}
	if u.Reasoning > 0 {
		b = append(b, `,"thoughtsTokenCount":`...)
		b = strconv.AppendInt(b, u.Reasoning, 10)
	}
	return append(b, '}')
}

// ReadUsage reads the usageMetadata of a generateContent answer or
// stream chunk. Output counts thinking tokens, which Gemini bills as output.
func ReadUsage(body []byte) (u translate.Usage, ok bool) {
	r := gjson.GetBytes(body, "usageMetadata")
	if !r.IsObject() {
		return u, false
	}
	u.Input = r.Get("promptTokenCount").Int()
	u.Cached = r.Get("cachedContentTokenCount").Int()
	u.Reasoning = r.Get("thoughtsTokenCount").Int()
	u.Output = r.Get("candidatesTokenCount").Int() + u.Reasoning
	return u, true
}
