// Package responses is the OpenAI Responses API wire format,
// "openai-responses": clients speaking /v1/responses (the client half:
// a request decoder, response and stream encoders), and `openai_responses`
// upstreams (the provider half: a request encoder, response and stream
// decoders, a watch; see request_encode.go for its mapping notes). OpenAI
// has no token-counting endpoint, so the format is no translate.Counter.
//
// Mapping notes (where the Responses API and the canonical model differ):
//   - The proxy keeps no conversation state: previous_response_id,
//     conversation, background mode, stored prompts and item_reference
//     items are refused (400) rather than silently answered out of context.
//     An error's message starts with the parameter it names.
//   - store, metadata, truncation, include, service_tier, prompt_cache_key,
//     client_metadata, top_logprobs, max_tool_calls, stream_options,
//     text.verbosity, reasoning.summary and reasoning.context are accepted
//     and ignored; so are item ids and statuses.
//   - instructions and system/developer messages (wherever they appear in
//     input) become the system prompt, instructions first, joined by blank
//     lines.
//   - Tools (Codex CLI's shapes): function and custom tools, top-level, in
//     namespaces, or in additional_tools input items (tools declared
//     partway through the conversation: for providers, the conversation's
//     tools). A namespaced tool reaches providers as "<namespace>__<name>"
//     (Codex's default namespace "functions" adds nothing), a name some
//     provider refuses gets a valid one (translate.NameTools); a custom tool
//     (free text, or a Lark/regex grammar: Codex's exec and apply_patch)
//     becomes a function of one string argument "input", its grammar in the
//     description. Answers give calls back the client's name, namespace and
//     kind (translate.ClientTools, which the engine applies): custom tools'
//     calls come back as custom_tool_call items with
//     response.custom_tool_call_input.delta / .done events, the input
//     streamed as the provider streams the arguments. custom_tool_call and
//     custom_tool_call_output items in history are read like function calls.
//   - Hosted tools (web_search, file_search, image_generation,
//     code_interpreter, mcp, tool_search, local_shell, ...) run at the
//     client's own provider only: they are dropped, and so are the items
//     they produced (web_search_call, compaction, ...) and item types newer
//     than this proxy, each recorded in Request.Dropped for the engine to
//     log. (A same-format openai_responses upstream gets the body as is.)
//     A tool's strict and defer_loading flags are dropped; text.format's
//     strict is kept.
//   - Reasoning items come back as reasoning output items whose summary is
//     the provider's reasoning text. A provider's reasoning signature
//     (Anthropic thinking signature, Gemini thoughtSignature, redacted
//     thinking) travels in encrypted_content with a "llmproxy:" prefix, so a
//     client that sends its reasoning items back (as stateless clients do)
//     hands the provider its signature again. encrypted_content the proxy
//     did not make (OpenAI's own) means nothing to other providers and is
//     dropped.
//   - Echoed request settings in the response object (temperature, top_p,
//     tool_choice, tools, parallel_tool_calls, text) are the API defaults:
//     the proxy's response carries only what the provider answered.
//   - Errors are OpenAI's (see ErrorBody); a stream ends with
//     response.failed.
package responses

import (
	"github.com/llmproxy/caddy-llm-proxy/translate"
)

// Name is the format's registered name.
const Name = "openai-responses"

// Format is the format, both halves; it is registered under Name.
type Format struct{}

var (
	_ translate.ClientCodec   = Format{}
	_ translate.ProviderCodec = Format{}
)

func init() { translate.Register(Format{}) }

func (Format) Name() string { return Name }

func (Format) ErrorBody(status int, message, code string) []byte {
	return ErrorBody(status, message, code)
}

func (Format) StreamError(status int, message, code string) []byte {
	return StreamError(status, message, code)
}

func (Format) DecodeRequest(body []byte, _ translate.DecodeOptions) (*translate.Request, error) {
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

func (Format) SetModel(body []byte, model string) ([]byte, error) { return SetModel(body, model) }

func (Format) Patch(body []byte, o translate.Overrides) ([]byte, error) { return Patch(body, o) }

func (Format) ReadUsage(body []byte) (translate.Usage, bool) { return ReadUsage(body) }
