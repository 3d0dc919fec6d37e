package gemini

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// DecodeResponse reads a generateContent answer.
func DecodeResponse(body []byte) (*translate.Response, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("gemini: response is not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, fmt.Errorf("gemini: response is not a JSON object")
	}
	if e := root.Get("error"); e.Exists() {
		return nil, fmt.Errorf("gemini: error %d: %s", e.Get("code").Int(), e.Get("message").String())
	}
	r := &translate.Response{
		ID:    root.Get("responseId").String(),
		Model: root.Get("modelVersion").String(),
		Parts: []translate.Part{},
	}
	r.Usage, _ = ReadUsage(body)
	cand := root.Get("candidates.0")
	if !cand.Exists() {
		r.StopReason = translate.StopEnd
		if field(root.Get("promptFeedback"), "blockReason", "block_reason").String() != "" {
			r.StopReason = translate.StopContentFilter
		}
		return r, nil
	}
	seed := idSeed(r.ID, cand.Raw)
	calls := 0
	cand.Get("content.parts").ForEach(func(_, p gjson.Result) bool {
		var sig translate.Part
		if s := p.Get("thoughtSignature").String(); s != "" {
			sig = thoughtPart(s)
		}
		if t := p.Get("text"); t.Exists() {
			if p.Get("thought").Bool() {
				if t.Str != "" || sig.Signature != "" {
					sig.Type = translate.PartThinking
					if t.Str != "" {
						sig.Text = t.Str
					}
					r.Parts = append(r.Parts, sig)
				}
				return true
			}
			r.Parts = addSignature(r.Parts, sig)
			if t.Str != "" {
				r.Parts = append(r.Parts, translate.Part{Type: translate.PartText, Text: t.Str})
			}
			return true
		}
		r.Parts = addSignature(r.Parts, sig)
		if fc := p.Get("functionCall"); fc.IsObject() {
			id := fc.Get("id").String()
			if id == "" {
				id = translate.MakeToolCallID("call_", seed, calls)
			}
			calls++
			r.Parts = append(r.Parts, translate.Part{Type: translate.PartToolCall, ToolCallID: id, ToolName: fc.Get("name").String(), Arguments: argsOf(fc.Get("args"))})
		}
		return true
	})
	r.StopReason = stopReason(cand.Get("finishReason").String(), calls > 0)
	return r, nil
}

// idSeed seeds the made-up tool-call ids of one answer: its responseId,
// else something unique to this answer.
func idSeed(responseID, raw string) string {
	if responseID != "" {
		return responseID
	}
	return strconv.FormatInt(translate.Now().UnixNano(), 10) + ":" + raw
}

func argsOf(a gjson.Result) string {
	if a.IsObject() {
		return a.Raw
	}
	return "{}"
}

// stopReason maps a finishReason; STOP with function calls is a tool use.
func stopReason(fr string, calls bool) translate.StopReason {
	switch fr {
	case "MAX_TOKENS":
		return translate.StopMaxTokens
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
		"IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "LANGUAGE":
		return translate.StopContentFilter
	}
	if calls {
		return translate.StopToolUse
	}
	return translate.StopEnd
}

func finishReason(s translate.StopReason) string {
	switch s {
	case translate.StopMaxTokens:
		return "MAX_TOKENS"
	case translate.StopContentFilter:
		return "SAFETY"
	}
	return "STOP"
}

// EncodeResponse writes r as a generateContent answer.
func EncodeResponse(r *translate.Response) []byte {
	b := make([]byte, 0, 256+len(r.ID)+len(r.Model)+translate.PartsSize(r.Parts))
	b = append(b, `{"candidates":[{"content":{`...)
	parts, _ := appendResponseParts(nil, r.Parts)
	if len(parts) > 0 {
		b = append(b, `"parts":[`...)
		b = append(b, parts...)
		b = append(b, `],`...)
	}
	b = append(b, `"role":"model"},"finishReason":"`...)
	b = append(b, finishReason(r.StopReason)...)
	b = append(b, `","index":0}],"usageMetadata":`...)
	b = appendUsage(b, r.Usage)
	if r.Model != "" {
		b = append(b, `,"modelVersion":`...)
		b = translate.AppendJSONString(b, r.Model)
	}
	if r.ID != "" {
		b = append(b, `,"responseId":`...)
		b = translate.AppendJSONString(b, r.ID)
	}
	return append(b, '}')
}

// appendResponseParts writes answer parts, comma separated: thinking as
// thought parts, and each signature on the part after it (on an empty text
// part when none follows). It reports how many parts it wrote.
func appendResponseParts(b []byte, parts []translate.Part) ([]byte, int) {
	sig := ""
	n := 0
	for i := range parts {
		p := &parts[i]
		switch p.Type {
		case translate.PartThinking:
			if p.Redacted {
				continue
			}
			if p.Text != "" {
				b = appendTextPart(b, &n, p.Text, true, &sig)
			}
			if s := wrapSignature(p.SignatureFormat, p.Signature, p.Text); s != "" {
				sig = s
			}
		case translate.PartText:
			if p.Text != "" {
				b = appendTextPart(b, &n, p.Text, false, &sig)
			}
		case translate.PartToolCall:
			b = appendCallPart(b, &n, p.ToolCallID, p.ToolName, []byte(p.Arguments), &sig)
		}
	}
	if sig != "" {
		b = appendTextPart(b, &n, "", false, &sig)
	}
	return b, n
}

func appendTextPart(b []byte, n *int, text string, thought bool, sig *string) []byte {
	if *n > 0 {
		b = append(b, ',')
	}
	*n++
	b = append(b, `{"text":`...)
	b = translate.AppendJSONString(b, text)
	if thought {
		b = append(b, `,"thought":true`...)
	}
	if *sig != "" {
		b = append(b, `,"thoughtSignature":`...)
		b = translate.AppendJSONString(b, *sig)
		*sig = ""
	}
	return append(b, '}')
}

func appendCallPart(b []byte, n *int, id, name string, args []byte, sig *string) []byte {
	if *n > 0 {
		b = append(b, ',')
	}
	*n++
	b = append(b, `{"functionCall":{`...)
	if id != "" {
		b = append(b, `"id":`...)
		b = translate.AppendJSONString(b, id)
		b = append(b, ',')
	}
	b = append(b, `"name":`...)
	b = translate.AppendJSONString(b, name)
	b = append(b, `,"args":`...)
	args = bytes.TrimSpace(args)
	if len(args) > 0 && gjson.ValidBytes(args) && gjson.ParseBytes(args).IsObject() {
		b = compact(b, args)
	} else {
		b = append(b, `{}`...)
	}
	b = append(b, '}')
	if *sig != "" {
		b = append(b, `,"thoughtSignature":`...)
		b = translate.AppendJSONString(b, *sig)
		*sig = ""
	}
	return append(b, '}')
}
