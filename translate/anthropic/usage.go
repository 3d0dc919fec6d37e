package anthropic

import (
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// usageOf reads a usage object: Input counts cache reads and writes.
func usageOf(u gjson.Result) translate.Usage {
	read := u.Get("cache_read_input_tokens").Int()
	return translate.Usage{
		Input:  u.Get("input_tokens").Int() + read + u.Get("cache_creation_input_tokens").Int(),
		Cached: read,
		Output: u.Get("output_tokens").Int(),
	}
}

// appendUsage writes a usage object; input fields only when withInput.
func appendUsage(b []byte, u translate.Usage, withInput bool) []byte {
	b = append(b, '{')
	if withInput {
		b = append(b, `"input_tokens":`...)
		b = strconv.AppendInt(b, max(u.Input-u.Cached, 0), 10)
		b = append(b, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":`...)
		b = strconv.AppendInt(b, max(u.Cached, 0), 10)
		b = append(b, ',')
	}
	b = append(b, `"output_tokens":`...)
	b = strconv.AppendInt(b, max(u.Output, 0), 10)
	return append(b, '}')
}

// ReadUsage reads the usage of a Messages answer (or of a
// message_start / message_delta event) without decoding the rest.
// Input counts cached and cache-writing tokens too, as Usage defines it.
func ReadUsage(body []byte) (u translate.Usage, ok bool) {
	r := gjson.GetBytes(body, "usage")
	if !r.IsObject() {
		r = gjson.GetBytes(body, "message.usage")
		if !r.IsObject() {
			return u, false
		}
	}
	return usageOf(r), true
}
