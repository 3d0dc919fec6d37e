package translate

import (
	"bytes"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Usage is the token count of one answer.
type Usage struct {
	Input     int64 `json:"input,omitempty"`
	Output    int64 `json:"output,omitempty"`
	Cached    int64 `json:"cached,omitempty"`    // input tokens served from a prompt cache
	Reasoning int64 `json:"reasoning,omitempty"` // output tokens spent thinking
}

// Total is input plus output tokens.
func (u Usage) Total() int64 { return u.Input + u.Output }

// OpenAIChatUsage reads the usage object of a Chat Completions answer or
// chunk. ok is false when the object has none (or it is null).
func OpenAIChatUsage(body []byte) (u Usage, ok bool) {
	r := gjson.GetBytes(body, "usage")
	if !r.IsObject() {
		return u, false
	}
	return chatUsageOf(r), true
}

// IsUsageOnlyChunk reports whether a Chat Completions stream chunk carries
// only usage (the extra chunk `stream_options.include_usage` asks for).
func IsUsageOnlyChunk(chunk []byte) bool {
	c := gjson.GetBytes(chunk, "choices")
	return (!c.Exists() || (c.IsArray() && !c.Get("0").Exists())) && gjson.GetBytes(chunk, "usage").IsObject()
}

// IsDone reports whether an SSE data payload is OpenAI's end marker.
func IsDone(data []byte) bool { return bytes.Equal(data, doneMarker) }

var doneMarker = []byte("[DONE]")

// SetModel rewrites the top-level "model" field of a request body.
func SetModel(body []byte, model string) ([]byte, error) {
	return sjson.SetBytes(body, "model", model)
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

// EstimateTokens is the admission estimate of a request's input tokens:
// about four bytes of JSON per token. It is settled with the real usage
// when the answer ends, so it only needs to be in the right range.
func EstimateTokens(body []byte) int64 {
	return int64(len(body)/4) + 1
}
