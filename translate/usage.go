package translate

import (
	"github.com/tidwall/gjson"
)

// ReadAnthropicUsage reads the usage of a Messages answer (or of a
// message_start / message_delta event) without decoding the rest.
// Input counts cached and cache-writing tokens too, as Usage defines it.
func ReadAnthropicUsage(body []byte) (u Usage, ok bool) {
	r := gjson.GetBytes(body, "usage")
	if !r.IsObject() {
		r = gjson.GetBytes(body, "message.usage")
		if !r.IsObject() {
			return u, false
		}
	}
	read := r.Get("cache_read_input_tokens").Int()
	u.Input = r.Get("input_tokens").Int() + read + r.Get("cache_creation_input_tokens").Int()
	u.Cached = read
	u.Output = r.Get("output_tokens").Int()
	return u, true
}

// ReadGeminiUsage reads the usageMetadata of a generateContent answer or
// stream chunk. Output counts thinking tokens, which Gemini bills as output.
func ReadGeminiUsage(body []byte) (u Usage, ok bool) {
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

// Merge updates u with the fields of v that are set, for streams whose
// usage arrives in pieces (Anthropic: input at the start, output at the end).
func (u *Usage) Merge(v Usage) {
	if v.Input != 0 {
		u.Input = v.Input
	}
	if v.Output != 0 {
		u.Output = v.Output
	}
	if v.Cached != 0 {
		u.Cached = v.Cached
	}
	if v.Reasoning != 0 {
		u.Reasoning = v.Reasoning
	}
}
