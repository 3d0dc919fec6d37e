package responses

import (
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// SetModel rewrites the top-level "model" field of a request body.
func SetModel(body []byte, model string) ([]byte, error) {
	return sjson.SetBytes(body, "model", model)
}

// Patch applies an upstream's overrides to a Responses request body in
// place of a decode/encode round trip: the system prompt is prepended to
// instructions (joined by a blank line); a reasoning override sets
// reasoning.effort, or removes it for "off", and only for reasoning models
// (others refuse the parameter). Nothing else changes.
func Patch(body []byte, o translate.Overrides) ([]byte, error) {
	if !gjson.ValidBytes(body) {
		return nil, &translate.RequestError{Message: "We could not parse the JSON body of your request: it is not valid JSON."}
	}
	var err error
	if o.SystemPrompt != "" {
		ins := gjson.GetBytes(body, "instructions")
		switch {
		case !ins.Exists() || ins.Type == gjson.Null || (ins.Type == gjson.String && ins.Str == ""):
			body, err = sjson.SetBytes(body, "instructions", o.SystemPrompt)
		case ins.Type == gjson.String:
			body, err = sjson.SetBytes(body, "instructions", o.SystemPrompt+"\n\n"+ins.Str)
		default:
			return nil, &translate.RequestError{Message: "Invalid type for 'instructions': expected a string.", Param: "instructions"}
		}
		if err != nil {
			return nil, err
		}
	}
	rs := o.ReasoningOverride()
	if rs == nil || !ReasoningModel(gjson.GetBytes(body, "model").String()) {
		return body, nil
	}
	if rs.Off {
		if gjson.GetBytes(body, "reasoning.effort").Exists() {
			return sjson.DeleteBytes(body, "reasoning.effort")
		}
		return body, nil
	}
	if r := gjson.GetBytes(body, "reasoning"); r.Exists() && r.Type != gjson.Null && !r.IsObject() {
		return nil, &translate.RequestError{Message: "Invalid type for 'reasoning': expected an object.", Param: "reasoning"}
	}
	return sjson.SetBytes(body, "reasoning.effort", rs.EffortLevel())
}
