package fakeupstream

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// This file holds request refusals of the real APIs that depend on the model
// family (what one model accepts another refuses), and the text-only switch.
// They apply to otherwise well-formed generation requests, before the
// endpoint's own validation:
//
//   - OpenAI Chat Completions refuses reasoning_effort for the non-reasoning
//     families (gpt-4o*, chatgpt-4o*, gpt-4.1*, gpt-4, gpt-4-*, gpt-3.5*):
//     400 "Unrecognized request argument supplied: reasoning_effort";
//   - OpenAI Chat Completions refuses max_tokens or max_completion_tokens
//     above the family's output limit (gpt-4o* and gpt-4o-mini*: 16384,
//     gpt-4.1*: 32768): 400 invalid_value "max_tokens is too large: N. This
//     model supports at most L completion tokens, whereas you provided N.";
//   - Gemini refuses generationConfig.maxOutputTokens above the model's
//     output limit (gemini-2.5-*: 65536, gemini-2.0-* and gemini-1.5-*: 8192):
//     400 INVALID_ARGUMENT "Unable to submit request because it has a
//     maxOutputTokens value of N but the supported range is from 1
//     (inclusive) to L+1 (exclusive). Update the value and try again."
//
// Not emulated, for want of a reliable source: a length limit on OpenAI
// Chat's `user` field.

// SetTextOnly makes the server answer every generation with text even when
// tools are offered and the last message is the user's (as a real model does
// when it decides no tool is needed): the request is served as if its tool
// choice were "none". Off by default and after Reset.
func (s *Server) SetTextOnly(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.textOnly = on
}

// intercept applies the family refusals and the text-only switch to an
// authenticated request about to reach its endpoint handler. It returns the
// body to hand on, or done when it has answered the request itself.
func (s *Server) intercept(w http.ResponseWriter, r *http.Request, body []byte) (_ []byte, done bool) {
	s.mu.Lock()
	textOnly := s.textOnly
	s.mu.Unlock()
	root := gjson.ParseBytes(body)
	if !gjson.ValidBytes(body) || !root.IsObject() {
		return body, false
	}
	switch s.d {
	case openaiDialect:
		if r.URL.Path == "/v1/responses" {
			// Tools come top-level, in additional_tools input items, or in
			// the stored conversation a previous_response_id continues.
			if textOnly && (len(root.Get("tools").Array()) > 0 || present(root.Get("previous_response_id")) ||
				root.Get(`input.#(type=="additional_tools")`).Exists()) {
				body, _ = sjson.SetBytes(body, "tool_choice", "none")
			}
			return body, false
		}
		if r.URL.Path != "/v1/chat/completions" {
			return body, false
		}
		if e := chatFamilyRefusal(root); e != nil {
			writeError(w, *e)
			return body, true
		}
		if textOnly && len(root.Get("tools").Array()) > 0 {
			body, _ = sjson.SetBytes(body, "tool_choice", "none")
		}
	case anthropicDialect:
		if r.URL.Path != "/v1/messages" {
			return body, false
		}
		if textOnly && len(root.Get("tools").Array()) > 0 {
			body, _ = sjson.SetRawBytes(body, "tool_choice", []byte(`{"type":"none"}`))
		}
	case geminiDialect:
		model, method, _ := gemSplitPath(r.URL.Path)
		if method != "generateContent" && method != "streamGenerateContent" {
			return body, false
		}
		if e := gemFamilyRefusal(model, root); e != nil {
			writeGemError(w, *e)
			return body, true
		}
		if textOnly && len(root.Get("tools").Array()) > 0 {
			body, _ = sjson.DeleteBytes(body, "tool_config")
			body, _ = sjson.SetRawBytes(body, "toolConfig", []byte(`{"functionCallingConfig":{"mode":"NONE"}}`))
		}
	}
	return body, false
}

// chatNonReasoning reports whether an OpenAI model belongs to a family that
// takes no reasoning parameters.
func chatNonReasoning(model string) bool {
	for _, p := range []string{"gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4-", "gpt-3.5"} {
		if strings.HasPrefix(model, p) {
			return true
		}
	}
	return model == "gpt-4"
}

// chatOutputLimit is the most completion tokens an OpenAI model family
// produces; 0 if not known here.
func chatOutputLimit(model string) int {
	switch {
	case strings.HasPrefix(model, "gpt-4o"), strings.HasPrefix(model, "chatgpt-4o"):
		return 16384
	case strings.HasPrefix(model, "gpt-4.1"):
		return 32768
	}
	return 0
}

func chatFamilyRefusal(root gjson.Result) *apiError {
	model := root.Get("model").String()
	if re := root.Get("reasoning_effort"); present(re) && chatNonReasoning(model) {
		return badRequest("Unrecognized request argument supplied: reasoning_effort", "", "")
	}
	limit := chatOutputLimit(model)
	if limit == 0 {
		return nil
	}
	for _, f := range []string{"max_tokens", "max_completion_tokens"} {
		v := root.Get(f)
		if v.Type != gjson.Number || !isInteger(v) || v.Int() <= int64(limit) {
			continue
		}
		return badRequest(fmt.Sprintf("%s is too large: %d. This model supports at most %d completion tokens, whereas you provided %d.",
			f, v.Int(), limit, v.Int()), f, "invalid_value")
	}
	return nil
}

// gemOutputLimit is the most output tokens a Gemini model produces; 0 if not
// known here.
func gemOutputLimit(model string) int {
	switch {
	case strings.HasPrefix(model, "gemini-2.5-"):
		return 65536
	case strings.HasPrefix(model, "gemini-2.0-"), strings.HasPrefix(model, "gemini-1.5-"):
		return 8192
	}
	return 0
}

func gemFamilyRefusal(model string, root gjson.Result) *gemError {
	limit := gemOutputLimit(model)
	if limit == 0 {
		return nil
	}
	v := gemGet(gemGet(root, "generationConfig"), "maxOutputTokens")
	if v.Type != gjson.Number || v.Int() <= int64(limit) {
		return nil
	}
	return gemInvalid(fmt.Sprintf("Unable to submit request because it has a maxOutputTokens value of %d but the supported range "+
		"is from 1 (inclusive) to %d (exclusive). Update the value and try again.", v.Int(), limit+1))
}
