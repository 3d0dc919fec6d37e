package chat

import (
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Patch applies an upstream's overrides to a Chat Completions body
// in place of a decode/encode round trip: the system prompt becomes a system
// message in front, the reasoning override sets or removes reasoning_effort.
func Patch(body []byte, o translate.Overrides) ([]byte, error) {
	out := body
	if o.SystemPrompt != "" {
		if !gjson.ValidBytes(out) {
			return nil, &translate.RequestError{Message: "We could not parse the JSON body of your request: it is not valid JSON."}
		}
		msgs := gjson.GetBytes(out, "messages")
		if !msgs.IsArray() || len(msgs.Raw) < 2 {
			return nil, &translate.RequestError{Message: "Invalid 'messages': expected an array.", Param: "messages"}
		}
		sys := append([]byte(`{"role":"system","content":`), translate.AppendJSONString(nil, o.SystemPrompt)...)
		sys = append(sys, '}')
		inner := strings.TrimSpace(msgs.Raw[1 : len(msgs.Raw)-1])
		if inner != "" {
			sys = append(sys, ',')
		}
		if i := msgs.Index; i > 0 && i+len(msgs.Raw) <= len(out) && string(out[i:i+len(msgs.Raw)]) == msgs.Raw {
			n := make([]byte, 0, len(out)+len(sys))
			n = append(n, out[:i+1]...)
			n = append(n, sys...)
			n = append(n, out[i+1:]...)
			out = n
		} else {
			var err error
			out, err = sjson.SetRawBytes(out, "messages", append(append([]byte{'['}, sys...), msgs.Raw[1:]...))
			if err != nil {
				return nil, err
			}
		}
	}
	if rs := o.ReasoningOverride(); rs != nil {
		var err error
		if rs.Off {
			out, err = sjson.DeleteBytes(out, "reasoning_effort")
		} else {
			out, err = sjson.SetBytes(out, "reasoning_effort", rs.EffortLevel())
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SetModel rewrites the top-level "model" field of a request body.
func SetModel(body []byte, model string) ([]byte, error) {
	return sjson.SetBytes(body, "model", model)
}
