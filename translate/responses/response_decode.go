package responses

import (
	"fmt"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// DecodeResponse reads a whole Responses API answer (a response object):
// reasoning items become thinking parts (summary text, or raw reasoning
// text where a server sends it, with encrypted_content as the Signature),
// message items text (refusals included), function_call items tool calls.
// Other output items (hosted tool calls) have no canonical form and are
// skipped. A failed response is an error.
func DecodeResponse(body []byte) (*translate.Response, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("responses: answer is not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, fmt.Errorf("responses: answer is not a JSON object")
	}
	if r := root.Get("response"); r.IsObject() && !root.Get("output").Exists() {
		root = r // an event wrapping the response (response.completed)
	}
	status := root.Get("status").Str
	if e := root.Get("error"); e.IsObject() || status == "failed" {
		msg, _ := failure(e)
		return nil, fmt.Errorf("responses: upstream error: %s", msg)
	}
	if !root.Get("output").IsArray() {
		return nil, fmt.Errorf("responses: answer has no output array")
	}
	r := &translate.Response{ID: root.Get("id").String(), Model: root.Get("model").String(), Parts: []translate.Part{}}
	calls := 0
	root.Get("output").ForEach(func(_, it gjson.Result) bool {
		switch it.Get("type").Str {
		case "reasoning":
			p := translate.Part{Type: translate.PartThinking, Text: reasoningText(it), Signature: it.Get("encrypted_content").String()}
			if p.Text != "" || p.Signature != "" {
				r.Parts = append(r.Parts, p)
			}
		case "message":
			it.Get("content").ForEach(func(_, c gjson.Result) bool {
				var t string
				switch c.Get("type").Str {
				case "output_text", "text":
					t = c.Get("text").String()
				case "refusal":
					t = c.Get("refusal").String()
				}
				if t != "" {
					// One message's content parts are one text.
					if n := len(r.Parts); n > 0 && r.Parts[n-1].Type == translate.PartText {
						r.Parts[n-1].Text += t
					} else {
						r.Parts = append(r.Parts, translate.Part{Type: translate.PartText, Text: t})
					}
				}
				return true
			})
		case "function_call":
			p := translate.Part{Type: translate.PartToolCall, ToolCallID: it.Get("call_id").String(), ToolName: it.Get("name").String()}
			if p.ToolCallID == "" {
				p.ToolCallID = translate.MakeToolCallID("call_", r.ID, calls)
			}
			p.Arguments = it.Get("arguments").String()
			if strings.TrimSpace(p.Arguments) == "" {
				p.Arguments = "{}"
			}
			r.Parts = append(r.Parts, p)
			calls++
		}
		return true
	})
	r.StopReason = stopReason(status, root.Get("incomplete_details.reason").Str, calls > 0)
	if u := root.Get("usage"); u.IsObject() {
		r.Usage = usageOf(u)
	}
	return r, nil
}

// reasoningText is a reasoning item's summary texts joined by blank lines,
// or, without a summary, its raw reasoning_text content (gpt-oss servers).
func reasoningText(it gjson.Result) string {
	var texts []string
	for _, field := range [...]string{"summary", "content"} {
		it.Get(field).ForEach(func(_, s gjson.Result) bool {
			if t := s.Get("text").String(); t != "" {
				texts = append(texts, t)
			}
			return true
		})
		if len(texts) > 0 {
			break
		}
	}
	return strings.Join(texts, "\n\n")
}

// stopReason maps a response's status (and incomplete reason) to a
// canonical stop reason.
func stopReason(status, incomplete string, calls bool) translate.StopReason {
	if status == "incomplete" {
		if incomplete == "content_filter" {
			return translate.StopContentFilter
		}
		return translate.StopMaxTokens
	}
	if calls {
		return translate.StopToolUse
	}
	return translate.StopEnd
}

// failure reads a response's error object ({code, message}) or an error
// event: its message, and an HTTP-like status for its code.
func failure(e gjson.Result) (msg string, status int) {
	if inner := e.Get("error"); inner.IsObject() {
		e = inner
	}
	msg = e.Get("message").String()
	code := e.Get("code").String()
	if msg == "" {
		msg = code
	}
	if msg == "" {
		msg = "the upstream response failed"
	}
	switch code {
	case "rate_limit_exceeded":
		status = 429
	case "server_error", "":
		status = 500
	case "vector_store_timeout":
		status = 504
	default: // invalid_prompt, invalid_image..., the request's own fault
		status = 400
	}
	if e.Get("type").Str == "server_error" {
		status = 500
	}
	return msg, status
}
