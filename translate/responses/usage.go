package responses

import (
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// usageOf reads a Responses usage object: input_tokens counts cached
// tokens too, output_tokens reasoning tokens too, as Usage defines them.
func usageOf(u gjson.Result) translate.Usage {
	var out translate.Usage
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "input_tokens":
			out.Input = v.Int()
		case "output_tokens":
			out.Output = v.Int()
		case "input_tokens_details":
			out.Cached = v.Get("cached_tokens").Int()
		case "output_tokens_details":
			out.Reasoning = v.Get("reasoning_tokens").Int()
		}
		return true
	})
	return out
}

// ReadUsage reads the usage of a Responses answer (a response object, or
// an event carrying one) without decoding the rest. ok is false when it
// has none (or it is null).
func ReadUsage(body []byte) (u translate.Usage, ok bool) {
	r := gjson.GetBytes(body, "usage")
	if !r.IsObject() {
		r = gjson.GetBytes(body, "response.usage")
		if !r.IsObject() {
			return u, false
		}
	}
	return usageOf(r), true
}
