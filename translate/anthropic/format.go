// Package anthropic is the Anthropic Messages API wire format, "anthropic"
// (POST /v1/messages and /v1/messages/count_tokens), both halves, with
// token counting.
//
// Mapping decisions where the APIs differ:
//
//   - Inbound, server tools (tools with a `type` other than "custom", such
//     as web_search_*, bash_*, text_editor_*, code_execution_*) run at
//     Anthropic only: they are dropped and recorded in Request.Dropped for
//     the engine to log. Content blocks other than text, image, tool_use,
//     tool_result, thinking, redacted_thinking and mid_conv_system
//     (document, search_result, server_tool_use, ...) are rejected with a
//     400: dropping them silently would change what the model is asked.
//     cache_control (anywhere), citations, container, mcp_servers,
//     service_tier, context_management, thinking.display and defer_loading
//     are dropped (a deferred tool is an ordinary one elsewhere, and a
//     tool_reference result reads "Tool available: <name>"). A system given
//     as an array of text blocks is joined with blank lines.
//   - Inbound, mid-conversation system messages (role "system", and
//     mid_conv_system blocks, which follow their message) become RoleSystem
//     messages in place; one with clear_at "next_user_message" that a user
//     message follows is left out, its non-text blocks are recorded as
//     dropped, and output_config.effort on one sets the effort from there
//     on (the last one wins). Outbound (a client of another API), system
//     messages are appended to the system prompt.
//   - Inbound, a user message holding tool_result blocks becomes a tool
//     message (the results) followed by a user message (its other blocks).
//   - Inbound, thinking {type: adaptive} becomes effort "medium" (or
//     output_config.effort when given: xhigh and max read as high); a bare
//     output_config.effort is an effort too; {type: disabled} turns
//     reasoning off.
//   - Outbound, messages strictly alternate user/assistant: tool results
//     open the next user message, consecutive messages of the same role are
//     merged, empty and whitespace-only text blocks are dropped, trailing
//     whitespace of a final (prefill) assistant message is trimmed, and a
//     conversation that does not start with a user message gets a first user
//     message "(conversation continues)".
//   - Outbound, tool-call ids that do not match ^[a-zA-Z0-9_-]+$ are
//     sanitized deterministically (invalid characters become '_' and a hash
//     of the original id is appended), the same way for calls and results;
//     an id used again later in the conversation (servers that number calls
//     per turn, "call_0") gets a suffix "_2", "_3"... with its results.
//     A tool result that answers no call of the assistant message before it
//     is sent as a user text block ("Result of tool call ..."); a call left
//     without a result gets an is_error tool_result saying no result was
//     recorded, since the API rejects both.
//   - Outbound, max_tokens is the client's, else min(family max, 8192); the
//     family maximum is Request.MaxOutput when the engine set it (from
//     providers' model table or the upstream's max_output_tokens), else
//     this package's own: claude-3-haiku/opus/sonnet 4096, claude-3-5-*
//     8192, claude-opus-4 and claude-opus-4-1 32000, claude-3-7-* and other
//     Claude 4+ models 64000 (unknown models: no cap). A max above it is
//     lowered to it.
//   - Outbound, reasoning becomes thinking {type: enabled, budget_tokens:
//     max(1024, budget)}; a default max_tokens gets the budget added, a
//     client's max_tokens is kept when it exceeds the budget and otherwise
//     gets the budget added (capped at the family maximum, the budget then
//     lowered below max_tokens); temperature and top_k
//     are dropped and top_p is raised to at least 0.95, as the API demands.
//     Thinking is turned off for models without extended thinking
//     (claude-3-haiku/opus/sonnet, claude-3-5-*), when tool_choice forces a
//     tool, and when the current turn (the assistant messages after the last
//     user message without tool results) does not start with a signed
//     thinking block - clients of other APIs cannot send signatures back,
//     and the API answers 400 to such a request. Thinking parts without a
//     signature (from providers without signatures), or signed by another
//     provider (Part.SignatureFormat), are dropped from history. For a model
//     that takes only an effort (Reasoning.EffortOnly, from providers.Fit:
//     Opus 4.7 and later), thinking is {type: adaptive} with
//     output_config.effort instead of a budget.
//   - Outbound, metadata.user_id over 256 bytes becomes a stable hash.
//   - Outbound, temperature is clamped to [0, 1] (OpenAI allows up to 2),
//     whitespace-only stop sequences are dropped, images in assistant
//     messages are dropped, tool_choice and disable_parallel_tool_use are
//     only sent with tools.
//   - Outbound, response_format json_object / json_schema: the Messages API
//     has no stable JSON mode, so the system prompt gets an instruction to
//     answer with only a JSON object (and the schema, when given).
//   - Responses: usage.input_tokens is the uncached part (Input - Cached),
//     cache_read_input_tokens the cached part; stop_reason "refusal" maps to
//     content_filter and back, pause_turn to end; a natural end of an answer
//     that holds tool calls is reported as tool_use.
//   - Streams: message_delta carries input_tokens and cache_read_input_tokens
//     as well as output_tokens (as the API does today), because providers
//     other than Anthropic report input usage only at the end.
package anthropic

import (
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Name is the format's registered name.
const Name = "anthropic"

// Format is the format, both halves, with token counting; it is registered
// under Name.
type Format struct{}

var (
	_ translate.ClientCodec   = Format{}
	_ translate.ProviderCodec = Format{}
	_ translate.Counter       = Format{}
)

func init() { translate.Register(Format{}) }

func (Format) Name() string { return Name }

func (Format) ErrorBody(status int, message, code string) []byte {
	return ErrorBody(status, message, code)
}

func (Format) StreamError(status int, message, code string) []byte {
	return StreamError(status, message, code)
}

// DecodeRequest decodes a Messages request, or a count_tokens one.
func (Format) DecodeRequest(body []byte, o translate.DecodeOptions) (*translate.Request, error) {
	if o.Count {
		return DecodeCountTokens(body)
	}
	return DecodeRequest(body)
}

func (Format) EncodeResponse(r *translate.Response) []byte { return EncodeResponse(r) }

func (Format) NewStreamEncoder(o translate.StreamOptions) translate.StreamEncoder {
	return NewStreamEncoder(o)
}

func (Format) EncodeRequest(r *translate.Request) ([]byte, error) { return EncodeRequest(r) }

func (Format) DecodeResponse(body []byte) (*translate.Response, error) { return DecodeResponse(body) }

func (Format) NewStreamDecoder() translate.StreamDecoder { return NewStreamDecoder() }

func (Format) NewWatch() translate.Watch { return NewWatch() }

// SetModel rewrites the body's model field.
func (Format) SetModel(body []byte, model string) ([]byte, error) {
	return sjson.SetBytes(body, "model", model)
}

func (Format) Patch(body []byte, o translate.Overrides) ([]byte, error) { return Patch(body, o) }

func (Format) ReadUsage(body []byte) (translate.Usage, bool) { return ReadUsage(body) }

func (Format) EncodeCountRequest(r *translate.Request) ([]byte, error) { return EncodeCountTokens(r) }

// ReadCount reads input_tokens, the count of /v1/messages/count_tokens's answer.
func (Format) ReadCount(body []byte) (int64, bool) {
	n := gjson.GetBytes(body, "input_tokens")
	return n.Int(), n.Type == gjson.Number
}
