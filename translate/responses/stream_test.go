package responses

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

func TestStreamSDK(t *testing.T) {
	fixNow(t)
	stream := run(translate.StreamOptions{Model: "client-model"}, allEvents())
	events := checkFraming(t, stream)
	if n := len(events); n != 26 {
		t.Errorf("%d events:\n%s", n, stream)
	}
	client := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !gjson.GetBytes(body, "stream").Bool() {
			http.Error(w, "not streaming", 400)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(stream)
	})
	s := client.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{
		Model: "client-model",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("weather?")},
	})
	var text, reasoning strings.Builder
	args := map[string]*strings.Builder{}
	var final responses.Response
	var types []string
	for s.Next() {
		ev := s.Current()
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.created":
			c := ev.AsResponseCreated()
			if c.Response.Status != "in_progress" || c.Response.ID != "resp_chatcmpl-1" || c.Response.Model != "client-model" || len(c.Response.Output) != 0 {
				t.Errorf("created %s", ev.RawJSON())
			}
		case "response.output_text.delta":
			text.WriteString(ev.AsResponseOutputTextDelta().Delta)
		case "response.reasoning_summary_text.delta":
			reasoning.WriteString(ev.AsResponseReasoningSummaryTextDelta().Delta)
		case "response.output_item.added":
			if it := ev.AsResponseOutputItemAdded().Item; it.Type == "function_call" {
				args[it.ID] = &strings.Builder{}
			}
		case "response.function_call_arguments.delta":
			d := ev.AsResponseFunctionCallArgumentsDelta()
			args[d.ItemID].WriteString(d.Delta)
		case "response.completed":
			final = ev.AsResponseCompleted().Response
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != `Let me check "now".` || reasoning.String() != "The user wants weather." {
		t.Errorf("text %q reasoning %q", text.String(), reasoning.String())
	}
	if final.Status != "completed" || final.OutputText() != text.String() || len(final.Output) != 4 {
		t.Fatalf("final %s", final.RawJSON())
	}
	if rs := final.Output[0].AsReasoning(); rs.Summary[0].Text != reasoning.String() || rs.EncryptedContent != "llmproxy:sig:c2ln" {
		t.Errorf("reasoning item %s", final.Output[0].RawJSON())
	}
	for i, want := range []struct{ callID, name, args string }{{"call_a", "get_weather", `{"city":"Paris"}`}, {"call_b", "get_time", "{}"}} {
		fc := final.Output[2+i].AsFunctionCall()
		if fc.CallID != want.callID || fc.Name != want.name || fc.Arguments != want.args || args[fc.ID].String() != want.args {
			t.Errorf("call %d: %s (streamed %q)", i, final.Output[2+i].RawJSON(), args[fc.ID])
		}
	}
	u := final.Usage
	if u.InputTokens != 30 || u.InputTokensDetails.CachedTokens != 10 || u.OutputTokens != 40 || u.OutputTokensDetails.ReasoningTokens != 12 || u.TotalTokens != 70 {
		t.Errorf("usage %s", u.RawJSON())
	}
	wantTypes := "response.created response.in_progress " +
		"response.output_item.added response.reasoning_summary_part.added response.reasoning_summary_text.delta response.reasoning_summary_text.delta response.reasoning_summary_text.done response.reasoning_summary_part.done response.output_item.done " +
		"response.output_item.added response.content_part.added response.output_text.delta response.output_text.delta response.output_text.done response.content_part.done response.output_item.done " +
		"response.output_item.added response.function_call_arguments.delta response.function_call_arguments.delta response.function_call_arguments.done response.output_item.done " +
		"response.output_item.added response.function_call_arguments.delta response.function_call_arguments.done response.output_item.done " +
		"response.completed"
	if g := strings.Join(types, " "); g != wantTypes {
		t.Errorf("event types\n%s\nwant\n%s", g, wantTypes)
	}
	// The final response object is what the non-streamed encoder makes of
	// the same answer.
	whole := EncodeResponse(&translate.Response{ID: "chatcmpl-1", Model: "client-model", StopReason: translate.StopToolUse,
		Parts: []translate.Part{
			{Type: translate.PartThinking, Text: "The user wants weather.", Signature: "c2ln"},
			{Type: translate.PartText, Text: `Let me check "now".`},
			{Type: translate.PartToolCall, ToolCallID: "call_a", ToolName: "get_weather", Arguments: `{"city":"Paris"}`},
			{Type: translate.PartToolCall, ToolCallID: "call_b", ToolName: "get_time", Arguments: "{}"},
		},
		Usage: translate.Usage{Input: 30, Output: 40, Cached: 10, Reasoning: 12}})
	if final.RawJSON() != string(whole) {
		t.Errorf("streamed final\n%s\nwhole\n%s", final.RawJSON(), whole)
	}
}

func TestStreamIncompleteAndSynthesizedStart(t *testing.T) {
	fixNow(t)
	stream := run(translate.StreamOptions{Model: "m"}, []translate.StreamEvent{
		{Type: translate.EvText, Text: "cut "},
		{Type: translate.EvText, Text: "off"},
		{Type: translate.EvFinish, StopReason: translate.StopMaxTokens},
	})
	events := checkFraming(t, stream)
	last := events[len(events)-1]
	if last.Get("type").Str != "response.incomplete" || last.Get("response.status").Str != "incomplete" ||
		last.Get("response.incomplete_details.reason").Str != "max_output_tokens" || last.Get("response.output.0.status").Str != "incomplete" {
		t.Fatalf("last %s", last.Raw)
	}
	if id := events[0].Get("response.id").Str; !strings.HasPrefix(id, "resp_") || last.Get("response.id").Str != id {
		t.Fatalf("ids %q %q", id, last.Get("response.id").Str)
	}
	if last.Get("response.model").Str != "m" {
		t.Fatal(last.Raw)
	}
}

func TestStreamSignatureOnly(t *testing.T) {
	fixNow(t)
	stream := run(translate.StreamOptions{}, []translate.StreamEvent{
		{Type: translate.EvStart, ID: "g1", Model: "gemini-x"},
		{Type: translate.EvThinking, Text: "unsigned"},
		{Type: translate.EvSignature, Redacted: true, Text: "r0"},
		{Type: translate.EvText, Text: "a"},
		{Type: translate.EvSignature, Text: "thoughtsig"},
		{Type: translate.EvSignature, Redacted: true, Text: "redacted-blob"},
		{Type: translate.EvSignature, Text: ""}, // nothing to carry
		{Type: translate.EvToolStart, Index: 0, ToolCallID: "", ToolName: "f"},
		{Type: translate.EvFinish, StopReason: translate.StopToolUse},
	})
	events := checkFraming(t, stream)
	final := events[len(events)-1].Get("response")
	if final.Get("model").Str != "gemini-x" {
		t.Errorf("model %s", final.Get("model").Raw)
	}
	out := final.Get("output").Array()
	if len(out) != 6 || out[0].Get("summary.0.text").Str != "unsigned" || out[0].Get("encrypted_content").Exists() ||
		out[1].Get("encrypted_content").Str != "llmproxy:redacted:r0" ||
		out[3].Get("encrypted_content").Str != "llmproxy:sig:thoughtsig" || out[3].Get("summary").Raw != "[]" ||
		out[4].Get("encrypted_content").Str != "llmproxy:redacted:redacted-blob" ||
		out[5].Get("call_id").Str == "" || out[5].Get("arguments").Str != "{}" {
		t.Fatalf("output %s", final.Get("output").Raw)
	}
}

func TestStreamError(t *testing.T) {
	fixNow(t)
	stream := run(translate.StreamOptions{Model: "m"}, []translate.StreamEvent{
		{Type: translate.EvStart, ID: "x"},
		{Type: translate.EvText, Text: "partial"},
		{Type: translate.EvError, Text: "upstream went away", Status: 502},
		{Type: translate.EvText, Text: "more"},
		{Type: translate.EvFinish, StopReason: translate.StopEnd},
	})
	events := checkFraming(t, stream)
	last := events[len(events)-1]
	if last.Get("type").Str != "response.failed" || last.Get("response.status").Str != "failed" ||
		last.Get("response.error.code").Str != "server_error" || last.Get("response.error.message").Str != "upstream went away" {
		t.Fatalf("last %s", last.Raw)
	}
	// The SDK reads it as an event, not a transport error.
	client := testServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(stream)
	})
	s := client.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "m", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("q")}})
	var failed responses.ResponseFailedEvent
	for s.Next() {
		if s.Current().Type == "response.failed" {
			failed = s.Current().AsResponseFailed()
		}
	}
	if s.Err() != nil || failed.Response.Error.Message != "upstream went away" || failed.Response.Status != "failed" {
		t.Fatalf("err %v failed %+v", s.Err(), failed.Response.Error)
	}

	// An error before anything else still opens the response first; 429
	// is a rate limit.
	stream = run(translate.StreamOptions{Model: "m"}, []translate.StreamEvent{{Type: translate.EvError, Text: "slow down", Status: 429}})
	events = checkFraming(t, stream)
	if len(events) != 3 || events[2].Get("response.error.code").Str != "rate_limit_exceeded" {
		t.Fatalf("%s", stream)
	}
}
