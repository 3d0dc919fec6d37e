package anthropic

import (
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Patch applies an upstream's overrides to a Messages (or
// count_tokens) body, touching nothing else but what the API then demands:
// a system prompt is prepended (to a string system, or as a new first text
// block); a reasoning override sets or removes thinking, keeps max_tokens
// above budget_tokens, and with thinking on drops temperature and top_k and
// raises top_p to 0.95. Thinking is not forced on where the API would
// refuse it (models without extended thinking, a forced tool_choice, or a
// current tool turn that does not start with a thinking block).
func Patch(body []byte, o translate.Overrides) ([]byte, error) {
	var err error
	if o.SystemPrompt != "" {
		sys := gjson.GetBytes(body, "system")
		switch {
		case !sys.Exists() || sys.Type == gjson.Null || (sys.Type == gjson.String && sys.Str == ""):
			body, err = sjson.SetBytes(body, "system", o.SystemPrompt)
		case sys.Type == gjson.String:
			body, err = sjson.SetBytes(body, "system", o.SystemPrompt+"\n\n"+sys.Str)
		case sys.IsArray():
			blk := translate.AppendJSONString([]byte(`{"type":"text","text":`), o.SystemPrompt)
			blk = append(blk, '}')
			arr := append([]byte{'['}, blk...)
			if len(sys.Array()) > 0 {
				arr = append(arr, ',')
				arr = append(arr, sys.Raw[strings.IndexByte(sys.Raw, '[')+1:]...)
			} else {
				arr = append(arr, ']')
			}
			body, err = sjson.SetRawBytes(body, "system", arr)
		default:
			return nil, fieldErr("system", "Input should be a valid string or a list of text blocks")
		}
		if err != nil {
			return nil, err
		}
	}
	rs := o.ReasoningOverride()
	if rs == nil {
		return body, nil
	}
	if rs.Off {
		if gjson.GetBytes(body, "thinking").Exists() {
			return sjson.DeleteBytes(body, "thinking")
		}
		return body, nil
	}
	budget := max(1024, rs.BudgetTokens())
	family := familyMax(gjson.GetBytes(body, "model").String())
	if family != 0 && family < 32000 {
		return body, nil
	}
	if tc := gjson.GetBytes(body, "tool_choice.type").Str; tc == "any" || tc == "tool" {
		return body, nil
	}
	if !rawTurnStartsWithThinking(gjson.GetBytes(body, "messages")) {
		return body, nil
	}
	if mt := gjson.GetBytes(body, "max_tokens"); mt.Exists() {
		cur := int(min(max(mt.Int(), 0), math.MaxInt32))
		newMax, b := maxTokens(cur, family, budget)
		if b == 0 {
			return body, nil
		}
		budget = b
		if newMax != cur {
			if body, err = sjson.SetBytes(body, "max_tokens", newMax); err != nil {
				return nil, err
			}
		}
	}
	thinking := strconv.AppendInt([]byte(`{"type":"enabled","budget_tokens":`), int64(budget), 10)
	thinking = append(thinking, '}')
	if body, err = sjson.SetRawBytes(body, "thinking", thinking); err != nil {
		return nil, err
	}
	for _, k := range []string{"temperature", "top_k"} {
		if gjson.GetBytes(body, k).Exists() {
			if body, err = sjson.DeleteBytes(body, k); err != nil {
				return nil, err
			}
		}
	}
	if p := gjson.GetBytes(body, "top_p"); p.Type == gjson.Number && p.Num < 0.95 {
		if body, err = sjson.SetBytes(body, "top_p", 0.95); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// rawTurnStartsWithThinking is turnStartsWithThinking on a raw
// messages array.
func rawTurnStartsWithThinking(msgs gjson.Result) bool {
	arr := msgs.Array()
	k := -1
	for i := len(arr) - 1; i >= 0; i-- {
		if arr[i].Get("role").Str != "user" {
			continue
		}
		hasResult := false
		arr[i].Get("content").ForEach(func(_, b gjson.Result) bool {
			hasResult = b.Get("type").Str == "tool_result"
			return !hasResult
		})
		if !hasResult {
			k = i
			break
		}
	}
	for i := k + 1; i < len(arr); i++ {
		if arr[i].Get("role").Str == "assistant" {
			t := arr[i].Get("content.0.type").Str
			return t == "thinking" || t == "redacted_thinking"
		}
	}
	return true
}
