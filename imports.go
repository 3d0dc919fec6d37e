package llmproxy

// The wire formats this module speaks. Client APIs (package clientapi) and
// providers (package providers) register themselves from their own init; a
// wire format is a package of its own under translate/ and is linked in
// here. Adding one is one package and one line below. Package dashboard
// is the llm_proxy_admin handler (the admin API and the web dashboard
// inside a site), linked in the same way.
import (
	_ "github.com/llmproxy/caddy-llm-proxy/dashboard"
	_ "github.com/llmproxy/caddy-llm-proxy/translate/anthropic"
	_ "github.com/llmproxy/caddy-llm-proxy/translate/chat"
	_ "github.com/llmproxy/caddy-llm-proxy/translate/gemini"
	_ "github.com/llmproxy/caddy-llm-proxy/translate/responses"
)
