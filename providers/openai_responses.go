package providers

// OpenAIResponses is OpenAI's Responses API, POST {base}/responses, and the
// services that serve it (Azure OpenAI's v1 API, vLLM and others with
// /v1/responses). Keys, models and failures are OpenAI's: it embeds OpenAI
// and differs in its name, its wire format and its endpoint.
type OpenAIResponses struct{ OpenAI }

func (OpenAIResponses) Name() string   { return "openai_responses" }
func (OpenAIResponses) Format() string { return "openai-responses" }

func (OpenAIResponses) GenerateURL(base, _ string, _ bool) string { return Join(base, "/responses") }
