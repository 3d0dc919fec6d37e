package chat

import "testing"

// plainChunk may skip a chunk only when it surely holds no error, usage or
// finish reason, however the JSON is spaced and whatever the text says.
func TestPlainChunk(t *testing.T) {
	for _, c := range []struct {
		chunk string
		plain bool
	}{
		{`{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}`, true},
		{`{"id":"c1","choices":[{"index":0,"delta":{"content":"Hi"}}]}`, true},
		{`{"choices":[{"delta":{"content":"the \"usage\":{\"x\":1} and \"finish_reason\":\"stop\" of an error"}, "finish_reason" : null}]}`, true},
		{`{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":null}`, false},
		{`{"choices":[{"delta":{},"finish_reason" :	"length"}]}`, false},
		{`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}`, false},
		{`{"choices":[],"usage" : {"prompt_tokens":3}}`, false},
		{`{"error":{"message":"overloaded"}}`, false},
		{`{"object":"error","message":"overloaded"}`, false},
		{`{"choices":[{"delta":{"content":"x"},"finish_reason":null}],"usage"}`, false},
	} {
		if got := plainChunk([]byte(c.chunk)); got != c.plain {
			t.Errorf("plainChunk(%s) = %v, want %v", c.chunk, got, c.plain)
		}
	}
}
