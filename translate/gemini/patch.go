package gemini

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Patch applies an upstream's overrides to a Gemini body
// bound for a Gemini upstream, changing nothing else: the system prompt
// becomes the first systemInstruction part, and a reasoning override
// replaces generationConfig.thinkingConfig.
func Patch(body []byte, o translate.Overrides) ([]byte, error) {
	rs := o.ReasoningOverride()
	if o.SystemPrompt == "" && rs == nil {
		return body, nil
	}
	root, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	if o.SystemPrompt != "" {
		if body, err = patchSystem(body, root, o.SystemPrompt); err != nil {
			return nil, err
		}
		root = gjson.ParseBytes(body)
	}
	if rs != nil {
		if body, err = patchThinking(body, root, rs); err != nil {
			return nil, err
		}
	}
	return body, nil
}

func patchSystem(body []byte, root gjson.Result, prompt string) ([]byte, error) {
	key := "systemInstruction"
	si := root.Get(key)
	if !si.Exists() && root.Get("system_instruction").Exists() {
		key = "system_instruction"
		si = root.Get(key)
	}
	part := translate.AppendJSONString([]byte(`{"text":`), prompt)
	part = append(part, '}')
	switch {
	case !si.Exists() || si.Type == gjson.Null:
		v := append(append([]byte(`{"parts":[`), part...), `]}`...)
		return sjson.SetRawBytes(body, key, v)
	case si.Type == gjson.String:
		v := append(append([]byte(`{"parts":[`), part...), `,{"text":`...)
		v = translate.AppendJSONString(v, si.Str)
		v = append(v, `}]}`...)
		return sjson.SetRawBytes(body, key, v)
	case !si.IsObject():
		return nil, badf(key, "%s must be an object", key)
	}
	parts := si.Get("parts")
	if !parts.IsArray() {
		v := append(append([]byte(`[`), part...), ']')
		return sjson.SetRawBytes(body, key+".parts", v)
	}
	v := append([]byte(`[`), part...)
	if inner := strings.TrimSpace(parts.Raw[1 : len(parts.Raw)-1]); inner != "" {
		v = append(v, ',')
		v = append(v, inner...)
	}
	v = append(v, ']')
	return sjson.SetRawBytes(body, key+".parts", v)
}

func patchThinking(body []byte, root gjson.Result, rs *translate.Reasoning) ([]byte, error) {
	key := "generationConfig"
	gc := root.Get(key)
	if !gc.Exists() && root.Get("generation_config").Exists() {
		key = "generation_config"
		gc = root.Get(key)
	}
	if gc.Exists() && gc.Type != gjson.Null && !gc.IsObject() {
		return nil, badf(key, "%s must be an object", key)
	}
	var v []byte
	if rs.Off {
		v = []byte(`{"thinkingBudget":0}`)
	} else {
		v = strconv.AppendInt([]byte(`{"thinkingBudget":`), int64(rs.BudgetTokens()), 10)
		// Whether thoughts are shown stays the client's choice.
		if inc := field(field(gc, "thinkingConfig", "thinking_config"), "includeThoughts", "include_thoughts"); inc.Exists() {
			v = append(v, `,"includeThoughts":`...)
			v = strconv.AppendBool(v, inc.Bool())
		}
		v = append(v, '}')
	}
	if !gc.IsObject() {
		return sjson.SetRawBytes(body, key, append(append([]byte(`{"thinkingConfig":`), v...), '}'))
	}
	var err error
	if gc.Get("thinking_config").Exists() {
		if body, err = sjson.DeleteBytes(body, key+".thinking_config"); err != nil {
			return nil, err
		}
	}
	return sjson.SetRawBytes(body, key+".thinkingConfig", v)
}
