package chat

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// DecodeResponse reads a whole Chat Completions answer.
func DecodeResponse(body []byte) (*translate.Response, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("chat: response is not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, fmt.Errorf("chat: response is not a JSON object")
	}
	if e := root.Get("error"); e.Exists() && e.Type != gjson.Null {
		msg, _ := errorInfo(e)
		return nil, fmt.Errorf("chat: upstream error: %s", msg)
	}
	r := &translate.Response{ID: root.Get("id").String(), Model: root.Get("model").String(), Parts: []translate.Part{}}
	choice := root.Get("choices.0")
	msg := choice.Get("message")
	if rc := msg.Get("reasoning_content"); rc.Type == gjson.String && rc.Str != "" {
		r.Parts = append(r.Parts, translate.Part{Type: translate.PartThinking, Text: rc.Str})
	} else if rc := msg.Get("reasoning"); rc.Type == gjson.String && rc.Str != "" {
		r.Parts = append(r.Parts, translate.Part{Type: translate.PartThinking, Text: rc.Str})
	}
	switch c := msg.Get("content"); {
	case c.Type == gjson.String:
		if c.Str != "" {
			r.Parts = append(r.Parts, translate.Part{Type: translate.PartText, Text: c.Str})
		}
	case c.IsArray(): // some servers answer content parts
		c.ForEach(func(_, p gjson.Result) bool {
			if t := p.Get("text"); t.Type == gjson.String && t.Str != "" {
				r.Parts = append(r.Parts, translate.Part{Type: translate.PartText, Text: t.Str})
			}
			return true
		})
	}
	if rf := msg.Get("refusal"); rf.Type == gjson.String && rf.Str != "" {
		r.Parts = append(r.Parts, translate.Part{Type: translate.PartText, Text: rf.Str})
	}
	n := 0
	msg.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
		r.Parts = append(r.Parts, toolCallPart(tc, r.ID, n))
		n++
		return true
	})
	if fc := msg.Get("function_call"); n == 0 && fc.IsObject() {
		r.Parts = append(r.Parts, toolCallPart(gjson.Parse(`{"function":`+fc.Raw+`}`), r.ID, 0))
		n++
	}
	fr := choice.Get("finish_reason").String()
	r.StopReason = stopReason(fr)
	if n > 0 && r.StopReason == translate.StopEnd {
		r.StopReason = translate.StopToolUse
	}
	if sr := choice.Get("stop_reason"); fr == "stop" && sr.Type == gjson.String && sr.Str != "" {
		// vLLM names the stop sequence that matched.
		r.StopReason, r.StopSequence = translate.StopSequence, sr.Str
	}
	if u := root.Get("usage"); u.IsObject() {
		r.Usage = usageOf(u)
	}
	return r, nil
}

func toolCallPart(tc gjson.Result, seed string, n int) translate.Part {
	p := translate.Part{Type: translate.PartToolCall, ToolCallID: tc.Get("id").String(), ToolName: tc.Get("function.name").String()}
	if p.ToolCallID == "" {
		p.ToolCallID = translate.MakeToolCallID("call_", seed, n)
	}
	switch a := tc.Get("function.arguments"); {
	case a.Type == gjson.String:
		p.Arguments = a.Str
	case a.IsObject():
		p.Arguments = a.Raw
	}
	if strings.TrimSpace(p.Arguments) == "" {
		p.Arguments = "{}"
	}
	return p
}

func stopReason(fr string) translate.StopReason {
	switch fr {
	case "length":
		return translate.StopMaxTokens
	case "tool_calls", "function_call":
		return translate.StopToolUse
	case "content_filter":
		return translate.StopContentFilter
	}
	return translate.StopEnd
}

// EncodeResponse writes a chat.completion object as OpenAI sends it.
func EncodeResponse(r *translate.Response) []byte {
	b := make([]byte, 0, 512)
	b = append(b, `{"id":`...)
	b = translate.AppendJSONString(b, completionID(r.ID))
	b = append(b, `,"object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, translate.Now().Unix(), 10)
	b = append(b, `,"model":`...)
	b = translate.AppendJSONString(b, r.Model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	text, think, calls := 0, 0, 0
	for i := range r.Parts {
		switch p := &r.Parts[i]; p.Type {
		case translate.PartText:
			text++
		case translate.PartThinking:
			if !p.Redacted && p.Text != "" {
				think++
			}
		case translate.PartToolCall:
			calls++
		}
	}
	switch {
	case text > 0:
		b = translate.AppendJSONString(b, joinText(r.Parts, ""))
	case calls > 0:
		b = append(b, "null"...)
	default:
		b = append(b, `""`...)
	}
	if think > 0 {
		b = append(b, `,"reasoning_content":`...)
		var sb strings.Builder
		for i := range r.Parts {
			if p := &r.Parts[i]; p.Type == translate.PartThinking && !p.Redacted {
				sb.WriteString(p.Text)
			}
		}
		b = translate.AppendJSONString(b, sb.String())
	}
	if calls > 0 {
		b = append(b, `,"tool_calls":[`...)
		k := 0
		for i := range r.Parts {
			p := &r.Parts[i]
			if p.Type != translate.PartToolCall {
				continue
			}
			if k > 0 {
				b = append(b, ',')
			}
			id := p.ToolCallID
			if id == "" {
				id = translate.MakeToolCallID("call_", r.ID, k)
			}
			k++
			b = append(b, `{"id":`...)
			b = translate.AppendJSONString(b, id)
			b = append(b, `,"type":"function","function":{"name":`...)
			b = translate.AppendJSONString(b, p.ToolName)
			b = append(b, `,"arguments":`...)
			args := p.Arguments
			if strings.TrimSpace(args) == "" {
				args = "{}"
			}
			b = translate.AppendJSONString(b, args)
			b = append(b, `}}`...)
		}
		b = append(b, ']')
	}
	b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":`...)
	b = translate.AppendJSONString(b, finishReason(r.StopReason, calls > 0))
	b = append(b, `}],"usage":`...)
	b = appendUsage(b, r.Usage)
	return append(b, `,"system_fingerprint":null}`...)
}

func finishReason(s translate.StopReason, toolCalls bool) string {
	switch s {
	case translate.StopMaxTokens:
		return "length"
	case translate.StopToolUse:
		return "tool_calls"
	case translate.StopContentFilter:
		return "content_filter"
	}
	if toolCalls {
		return "tool_calls"
	}
	return "stop"
}

// completionID is id with OpenAI's "chatcmpl-" prefix (a new id if empty).
func completionID(id string) string {
	if id == "" {
		return newID()
	}
	if strings.HasPrefix(id, "chatcmpl-") {
		return id
	}
	return "chatcmpl-" + id
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func newID() string {
	var raw [29]byte
	_, _ = rand.Read(raw[:])
	out := make([]byte, 0, 9+len(raw))
	out = append(out, "chatcmpl-"...)
	for _, c := range raw {
		out = append(out, idAlphabet[int(c)%len(idAlphabet)])
	}
	return string(out)
}
