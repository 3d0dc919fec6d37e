package llmproxy

// The wire formats the proxy speaks: each registers itself with translate.
import (
	_ "github.com/llmproxy/caddy-llm-proxy/translate/anthropic"
	_ "github.com/llmproxy/caddy-llm-proxy/translate/chat"
	_ "github.com/llmproxy/caddy-llm-proxy/translate/gemini"
	_ "github.com/llmproxy/caddy-llm-proxy/translate/responses"
)
