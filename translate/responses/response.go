package responses

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// EncodeResponse writes a canonical response as a Responses API
// response object.
func EncodeResponse(r *translate.Response) []byte {
	o := object{
		id:      responseID(r.ID),
		model:   r.Model,
		created: translate.Now().Unix(),
		usage:   &r.Usage,
	}
	o.setStop(r.StopReason)
	o.completed = o.created
	var text strings.Builder
	flush := func() {
		if text.Len() == 0 {
			return
		}
		status := "completed"
		if o.status == "incomplete" {
			status = "incomplete"
		}
		o.output = append(o.output, messageItem(nil, itemID("msg_", o.id, len(o.output)), status, text.String()))
		text.Reset()
	}
	for i := range r.Parts {
		p := &r.Parts[i]
		switch p.Type {
		case translate.PartText:
			text.WriteString(p.Text)
		case translate.PartThinking:
			enc := encrypted(p.Signature, p.Redacted, p.Data, p.SignatureFormat)
			if p.Text == "" && enc == "" {
				continue
			}
			flush()
			o.output = append(o.output, reasoningItem(nil, itemID("rs_", o.id, len(o.output)), p.Text, p.Text != "", enc))
		case translate.PartToolCall:
			flush()
			n := len(o.output)
			callID := p.ToolCallID
			if callID == "" {
				callID = translate.MakeToolCallID("call_", o.id, n)
			}
			if p.ToolKind == translate.ToolCustom {
				o.output = append(o.output, customItem(nil, itemID("ctc_", o.id, n), "completed",
					translate.CustomToolInput(p.Arguments), callID, p.ToolName, p.Namespace))
				continue
			}
			args := p.Arguments
			if args == "" {
				args = "{}"
			}
			o.output = append(o.output, functionItem(nil, itemID("fc_", o.id, n), "completed", args, callID, p.ToolName, p.Namespace))
		}
	}
	flush()
	return o.append(nil)
}

// object is a Response object as the API sends it.
type object struct {
	id, model          string
	created, completed int64 // completed: 0 = null
	status             string
	incomplete         string // incomplete_details.reason
	errCode, errMsg    string
	output             [][]byte
	usage              *translate.Usage // nil = null
}

func (o *object) setStop(s translate.StopReason) {
	o.status = "completed"
	switch s {
	case translate.StopMaxTokens:
		o.status, o.incomplete = "incomplete", "max_output_tokens"
	case translate.StopContentFilter:
		o.status, o.incomplete = "incomplete", "content_filter"
	}
}

func (o *object) append(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = translate.AppendJSONString(b, o.id)
	b = append(b, `,"object":"response","created_at":`...)
	b = strconv.AppendInt(b, o.created, 10)
	b = append(b, `,"status":"`...)
	b = append(b, o.status...)
	b = append(b, `","background":false,"completed_at":`...)
	if o.completed != 0 {
		b = strconv.AppendInt(b, o.completed, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"error":`...)
	if o.errMsg != "" || o.errCode != "" {
		b = append(b, `{"code":`...)
		b = translate.AppendJSONString(b, o.errCode)
		b = append(b, `,"message":`...)
		b = translate.AppendJSONString(b, o.errMsg)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"incomplete_details":`...)
	if o.incomplete != "" {
		b = append(b, `{"reason":`...)
		b = translate.AppendJSONString(b, o.incomplete)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"instructions":null,"max_output_tokens":null,"max_tool_calls":null,"model":`...)
	b = translate.AppendJSONString(b, o.model)
	b = append(b, `,"output":[`...)
	for i, it := range o.output {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	b = append(b, `],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"service_tier":"default","store":false,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":`...)
	if o.usage != nil {
		u := o.usage
		b = append(b, `{"input_tokens":`...)
		b = strconv.AppendInt(b, u.Input, 10)
		b = append(b, `,"input_tokens_details":{"cached_tokens":`...)
		b = strconv.AppendInt(b, u.Cached, 10)
		b = append(b, `},"output_tokens":`...)
		b = strconv.AppendInt(b, u.Output, 10)
		b = append(b, `,"output_tokens_details":{"reasoning_tokens":`...)
		b = strconv.AppendInt(b, u.Reasoning, 10)
		b = append(b, `},"total_tokens":`...)
		b = strconv.AppendInt(b, u.Total(), 10)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"user":null,"metadata":{}}`...)
	return b
}

// responseID is the response id for a provider's answer id.
func responseID(id string) string {
	if id == "" {
		var buf [24]byte
		_, _ = rand.Read(buf[:])
		return "resp_" + hex.EncodeToString(buf[:])
	}
	if strings.HasPrefix(id, "resp_") {
		return id
	}
	return "resp_" + id
}

// itemID is the id of output item n: stable for the same response id.
func itemID(prefix, respID string, n int) string {
	return translate.MakeToolCallID(prefix, respID, n)
}

// encrypted is the encrypted_content carrying a reasoning signature:
// "llmproxy:sig:" (or "llmproxy:redacted:" for redacted thinking), the
// issuer's wire format and a colon when known, and the signature.
func encrypted(sig string, redacted bool, data, format string) string {
	if format != "" {
		format += ":"
	}
	switch {
	case redacted && data != "":
		return redactedPrefix + format + data
	case sig != "":
		return sigPrefix + format + sig
	}
	return ""
}

func messageItem(b []byte, id, status, text string) []byte {
	b = append(b, `{"id":`...)
	b = translate.AppendJSONString(b, id)
	b = append(b, `,"type":"message","status":"`...)
	b = append(b, status...)
	b = append(b, `","content":[`...)
	b = outputText(b, text)
	b = append(b, `],"role":"assistant"}`...)
	return b
}

func outputText(b []byte, text string) []byte {
	b = append(b, `{"type":"output_text","annotations":[],"logprobs":[],"text":`...)
	b = translate.AppendJSONString(b, text)
	return append(b, '}')
}

func reasoningItem(b []byte, id, text string, hasSummary bool, enc string) []byte {
	b = append(b, `{"id":`...)
	b = translate.AppendJSONString(b, id)
	b = append(b, `,"type":"reasoning","summary":[`...)
	if hasSummary {
		b = summaryText(b, text)
	}
	b = append(b, ']')
	if enc != "" {
		b = append(b, `,"encrypted_content":`...)
		b = translate.AppendJSONString(b, enc)
	}
	return append(b, '}')
}

func summaryText(b []byte, text string) []byte {
	b = append(b, `{"type":"summary_text","text":`...)
	b = translate.AppendJSONString(b, text)
	return append(b, '}')
}

func functionItem(b []byte, id, status, args, callID, name, ns string) []byte {
	b = append(b, `{"id":`...)
	b = translate.AppendJSONString(b, id)
	b = append(b, `,"type":"function_call","status":"`...)
	b = append(b, status...)
	b = append(b, `","arguments":`...)
	b = translate.AppendJSONString(b, args)
	b = append(b, `,"call_id":`...)
	b = translate.AppendJSONString(b, callID)
	b = append(b, `,"name":`...)
	b = translate.AppendJSONString(b, name)
	return appendNamespace(b, ns)
}

// customItem is a custom_tool_call output item: a custom tool's call with
// its free-text input.
func customItem(b []byte, id, status, input, callID, name, ns string) []byte {
	b = append(b, `{"id":`...)
	b = translate.AppendJSONString(b, id)
	b = append(b, `,"type":"custom_tool_call","status":"`...)
	b = append(b, status...)
	b = append(b, `","call_id":`...)
	b = translate.AppendJSONString(b, callID)
	b = append(b, `,"input":`...)
	b = translate.AppendJSONString(b, input)
	b = append(b, `,"name":`...)
	b = translate.AppendJSONString(b, name)
	return appendNamespace(b, ns)
}

// appendNamespace closes a call item, with the namespace of its tool if
// the client declared one.
func appendNamespace(b []byte, ns string) []byte {
	if ns != "" {
		b = append(b, `,"namespace":`...)
		b = translate.AppendJSONString(b, ns)
	}
	return append(b, '}')
}
