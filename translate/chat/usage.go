package chat

import (
	"strconv"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// usageOf reads a Chat Completions usage object (DeepSeek's
// prompt_cache_hit_tokens counts as cached input when the standard field is
// absent).
func usageOf(r gjson.Result) translate.Usage {
	var u translate.Usage
	var hit int64
	r.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens":
			u.Input = v.Int()
		case "completion_tokens":
			u.Output = v.Int()
		case "prompt_tokens_details":
			u.Cached = v.Get("cached_tokens").Int()
		case "completion_tokens_details":
			u.Reasoning = v.Get("reasoning_tokens").Int()
		case "prompt_cache_hit_tokens":
			hit = v.Int()
		}
		return true
	})
	if u.Cached == 0 {
		u.Cached = hit
	}
	return u
}

func appendUsage(b []byte, u translate.Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, u.Input, 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, u.Output, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, u.Total(), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, u.Cached, 10)
	b = append(b, `,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, u.Reasoning, 10)
	return append(b, `,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
}

// ReadUsage reads the usage object of a Chat Completions answer or
// chunk. ok is false when the object has none (or it is null).
func ReadUsage(body []byte) (u translate.Usage, ok bool) {
	r := gjson.Get(translate.InPlace(body), "usage") // in place: only numbers are kept
	if !r.IsObject() {
		return u, false
	}
	return usageOf(r), true
}

// IsUsageOnlyChunk reports whether a Chat Completions stream chunk carries
// only usage (the extra chunk `stream_options.include_usage` asks for).
func IsUsageOnlyChunk(chunk []byte) bool {
	c := gjson.GetBytes(chunk, "choices")
	return (!c.Exists() || (c.IsArray() && !c.Get("0").Exists())) && gjson.GetBytes(chunk, "usage").IsObject()
}

// AskStreamUsage makes a streamed Chat Completions request ask for usage.
// added is true when the client had not asked, so the proxy must swallow
// the extra usage chunk rather than hand the client what it did not ask for.
func AskStreamUsage(body []byte) (out []byte, added bool, err error) {
	if gjson.GetBytes(body, "stream_options.include_usage").Bool() {
		return body, false, nil
	}
	out, err = sjson.SetBytes(body, "stream_options.include_usage", true)
	return out, err == nil, err
}
