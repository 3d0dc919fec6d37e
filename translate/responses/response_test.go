package responses

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestEncodeResponseGolden(t *testing.T) {
	fixNow(t)
	r := &translate.Response{ID: "msg_01abc", Model: "client-model", StopReason: translate.StopToolUse,
		Parts: []translate.Part{
			{Type: translate.PartThinking, Text: "Let me think.", Signature: "sig=="},
			{Type: translate.PartText, Text: "Calling "},
			{Type: translate.PartText, Text: "the tool."},
			{Type: translate.PartToolCall, ToolCallID: "toolu_1", ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
		},
		Usage: translate.Usage{Input: 100, Output: 50, Cached: 20, Reasoning: 10}}
	got := string(EncodeResponse(r))
	want := `{"id":"resp_msg_01abc","object":"response","created_at":1767225600,"status":"completed","background":false,"completed_at":1767225600,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"max_tool_calls":null,"model":"client-model","output":[` +
		`{"id":"` + translate.MakeToolCallID("rs_", "resp_msg_01abc", 0) + `","type":"reasoning","summary":[{"type":"summary_text","text":"Let me think."}],"encrypted_content":"llmproxy:sig:sig=="},` +
		`{"id":"` + translate.MakeToolCallID("msg_", "resp_msg_01abc", 1) + `","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"Calling the tool."}],"role":"assistant"},` +
		`{"id":"` + translate.MakeToolCallID("fc_", "resp_msg_01abc", 2) + `","type":"function_call","status":"completed","arguments":"{\"city\":\"Paris\"}","call_id":"toolu_1","name":"get_weather"}` +
		`],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"service_tier":"default","store":false,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled",` +
		`"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":20},"output_tokens":50,"output_tokens_details":{"reasoning_tokens":10},"total_tokens":150},"user":null,"metadata":{}}`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Fatal("invalid JSON")
	}
}

// A whole round trip through openai-go: the SDK's request decodes, the
// encoded response parses into the SDK's Response with everything in place.
func TestEncodeResponseSDK(t *testing.T) {
	fixNow(t)
	canned := &translate.Response{ID: "resp_abc", Model: "client-model", StopReason: translate.StopToolUse,
		Parts: []translate.Part{
			{Type: translate.PartThinking, Text: "Thinking \"hard\"\n"},
			{Type: translate.PartText, Text: "Sure — ünïcode ✓ \u2028 <tag> \x01"},
			{Type: translate.PartToolCall, ToolCallID: "call_9", ToolName: "lookup", Arguments: `{"q":"x"}`},
			{Type: translate.PartToolCall, ToolName: "noargs"},
		},
		Usage: translate.Usage{Input: 12, Output: 34, Cached: 5, Reasoning: 6}}
	var got *translate.Request
	client := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var err error
		if got, err = DecodeRequest(body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(EncodeResponse(canned))
	})
	resp, err := client.Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "client-model",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != "client-model" || len(got.Messages) != 1 || got.Messages[0].Parts[0].Text != "hi" {
		t.Fatalf("decoded %+v", got)
	}
	if resp.ID != "resp_abc" || resp.Object != "response" || resp.Status != "completed" || resp.Model != "client-model" || resp.CreatedAt != 1767225600 {
		t.Fatalf("response %+v", resp)
	}
	if resp.OutputText() != canned.Parts[1].Text {
		t.Fatalf("output text %q", resp.OutputText())
	}
	if len(resp.Output) != 4 {
		t.Fatalf("%d output items", len(resp.Output))
	}
	rs := resp.Output[0].AsReasoning()
	if rs.Type != "reasoning" || len(rs.Summary) != 1 || rs.Summary[0].Text != canned.Parts[0].Text || !strings.HasPrefix(rs.ID, "rs_") {
		t.Fatalf("reasoning %+v", rs)
	}
	fc := resp.Output[2].AsFunctionCall()
	if fc.CallID != "call_9" || fc.Name != "lookup" || fc.Arguments != `{"q":"x"}` || fc.Status != "completed" || !strings.HasPrefix(fc.ID, "fc_") {
		t.Fatalf("function call %+v", fc)
	}
	fc = resp.Output[3].AsFunctionCall()
	if fc.CallID == "" || fc.Name != "noargs" || fc.Arguments != "{}" {
		t.Fatalf("function call %+v", fc)
	}
	u := resp.Usage
	if u.InputTokens != 12 || u.OutputTokens != 34 || u.TotalTokens != 46 || u.InputTokensDetails.CachedTokens != 5 || u.OutputTokensDetails.ReasoningTokens != 6 {
		t.Fatalf("usage %+v", u)
	}
	// Stable ids: the same answer encodes to the same bytes.
	if !bytes.Equal(EncodeResponse(canned), EncodeResponse(canned)) {
		t.Fatal("encoding is not deterministic")
	}
}

func TestEncodeResponseStatus(t *testing.T) {
	for _, tt := range []struct {
		stop            translate.StopReason
		status, reason  string
		msgStatusSuffix string
	}{
		{translate.StopEnd, "completed", "", `"status":"completed"`},
		{translate.StopSequence, "completed", "", `"status":"completed"`},
		{translate.StopMaxTokens, "incomplete", "max_output_tokens", `"status":"incomplete"`},
		{translate.StopContentFilter, "incomplete", "content_filter", `"status":"incomplete"`},
	} {
		b := EncodeResponse(&translate.Response{ID: "x", StopReason: tt.stop, Parts: []translate.Part{{Type: translate.PartText, Text: "t"}}})
		if s := gjson.GetBytes(b, "status").Str; s != tt.status {
			t.Errorf("%s: status %s", tt.stop, s)
		}
		if r := gjson.GetBytes(b, "incomplete_details.reason").Str; r != tt.reason {
			t.Errorf("%s: reason %q", tt.stop, r)
		}
		if s := gjson.GetBytes(b, "output.0.status").Raw; `"status":`+s != tt.msgStatusSuffix {
			t.Errorf("%s: message status %s", tt.stop, s)
		}
	}
	// No id from the provider: one is made up; empty parts make no items.
	b := EncodeResponse(&translate.Response{Parts: []translate.Part{{Type: translate.PartText}, {Type: translate.PartThinking}}})
	if id := gjson.GetBytes(b, "id").Str; !strings.HasPrefix(id, "resp_") || len(id) < 20 {
		t.Errorf("id %q", id)
	}
	if o := gjson.GetBytes(b, "output").Raw; o != "[]" {
		t.Errorf("output %s", o)
	}
	// Redacted thinking travels as encrypted content.
	b = EncodeResponse(&translate.Response{ID: "x", Parts: []translate.Part{{Type: translate.PartThinking, Redacted: true, Data: "opaque"}, {Type: translate.PartText, Text: "t"}}})
	if e := gjson.GetBytes(b, "output.0.encrypted_content").Str; e != "llmproxy:redacted:opaque" {
		t.Errorf("encrypted_content %q", e)
	}
	if s := gjson.GetBytes(b, "output.0.summary").Raw; s != "[]" {
		t.Errorf("summary %s", s)
	}
}
