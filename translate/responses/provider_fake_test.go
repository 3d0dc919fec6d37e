package responses

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
	"github.com/llmproxy/caddy-llm-proxy/translate"
	"github.com/llmproxy/caddy-llm-proxy/translate/internal/respcheck"
)

// The provider half against the strict fake Responses API: what the
// encoder writes is accepted, and a tool loop with a reasoning model keeps
// its encrypted reasoning across turns through the canonical model.

func fakeSend(t *testing.T, s *fakeupstream.Server, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/responses", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer sk-fake")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

func fakePost(t *testing.T, s *fakeupstream.Server, body []byte) []byte {
	t.Helper()
	status, out := fakeSend(t, s, body)
	if status != 200 {
		t.Fatalf("%d %s\nfor %s", status, out, body)
	}
	return out
}

func TestEncoderAgainstFake(t *testing.T) {
	s := fakeupstream.NewOpenAI(t, "sk-fake")
	for _, model := range []string{"gpt-4o", "o3-mini", "gpt-5"} {
		r := fullCanonical(model)
		r.Stream = false
		r.ResponseFormat.Strict = false
		r.User = strings.Repeat("u", 100)
		b, err := EncodeRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		// The reasoning item carries an encrypted_content the fake did not
		// issue: it refuses it, as OpenAI would. Without it, all is taken.
		if ReasoningModel(model) {
			if status, out := fakeSend(t, s, b); status != 400 || !strings.Contains(string(out), "invalid_encrypted_content") {
				t.Errorf("%s: foreign encrypted content: %d %s", model, status, out)
			}
			r.Messages[1].Parts[0].Signature = ""
			b, _ = EncodeRequest(r)
		}
		fakePost(t, s, b)
	}
}

func TestReasoningToolLoopAgainstFake(t *testing.T) {
	s := fakeupstream.NewOpenAI(t, "sk-fake")
	for _, stream := range []bool{false, true} {
		r := &translate.Request{
			Model:     "o3-mini",
			Messages:  []translate.Message{{Role: translate.RoleUser, Parts: []translate.Part{text("capital of France")}}},
			Tools:     []translate.Tool{{Name: "lookup", Parameters: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`)}},
			Reasoning: &translate.Reasoning{Effort: "low"},
			Stream:    stream,
		}
		answer := func() *translate.Response {
			b, err := EncodeRequest(r)
			if err != nil {
				t.Fatal(err)
			}
			out := fakePost(t, s, b)
			if !stream {
				resp, err := DecodeResponse(out)
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}
			respcheck.Framing(t, out, true)
			// Gather the stream into an answer, as the proxy's clients do.
			d := NewStreamDecoder()
			rd := translate.NewSSEReader(bytes.NewReader(out))
			resp := &translate.Response{}
			var evs []translate.StreamEvent
			for {
				ev, err := rd.Next()
				if err != nil {
					break
				}
				evs, _ = d.Decode(evs[:0], ev)
				for _, e := range evs {
					switch e.Type {
					case translate.EvThinking:
						resp.Parts = append(resp.Parts, translate.Part{Type: translate.PartThinking, Text: e.Text})
					case translate.EvSignature:
						if n := len(resp.Parts); n > 0 && resp.Parts[n-1].Type == translate.PartThinking {
							resp.Parts[n-1].Signature = e.Text
						} else {
							resp.Parts = append(resp.Parts, translate.Part{Type: translate.PartThinking, Signature: e.Text})
						}
					case translate.EvText:
						resp.Parts = append(resp.Parts, text(e.Text))
					case translate.EvToolStart:
						resp.Parts = append(resp.Parts, translate.Part{Type: translate.PartToolCall, ToolCallID: e.ToolCallID, ToolName: e.ToolName})
					case translate.EvToolArgs:
						resp.Parts[len(resp.Parts)-1].Arguments += e.Args
					case translate.EvFinish:
						resp.StopReason = e.StopReason
					case translate.EvUsage:
						resp.Usage.Merge(e.Usage)
					}
				}
			}
			if !d.Finished() {
				t.Fatal("stream not finished")
			}
			return resp
		}

		first := answer()
		if len(first.Parts) != 2 || first.Parts[0].Type != translate.PartThinking || OpenAIEncrypted(first.Parts[0].Signature) == "" ||
			first.Parts[1].Type != translate.PartToolCall || first.StopReason != translate.StopToolUse || first.Usage.Reasoning == 0 {
			t.Fatalf("stream %v: first answer %+v", stream, first)
		}
		r.Messages = append(r.Messages,
			translate.Message{Role: translate.RoleAssistant, Parts: first.Parts},
			translate.Message{Role: translate.RoleTool, Parts: []translate.Part{{Type: translate.PartToolResult, ToolCallID: first.Parts[1].ToolCallID,
				Content: []translate.Part{text("Paris")}}}})
		second := answer()
		var got strings.Builder
		for _, p := range second.Parts {
			if p.Type == translate.PartText {
				got.WriteString(p.Text)
			}
		}
		if got.String() != "result: Paris" || second.StopReason != translate.StopEnd {
			t.Errorf("stream %v: second answer %+v", stream, second)
		}
		// The fake verified the encrypted reasoning it was handed back.
		if !strings.Contains(string(s.LastRequest().Body), `"encrypted_content":"`+first.Parts[0].Signature+`"`) {
			t.Errorf("stream %v: reasoning not sent back: %s", stream, s.LastRequest().Body)
		}
	}
}
