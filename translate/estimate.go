package translate

// EstimateRequestTokens is the local token count the proxy answers when the
// provider has no counting endpoint (OpenAI-compatible upstreams): about
// four characters per token over every text the model reads (system prompt,
// message text, tool calls and results, tool definitions), plus 3 tokens of
// framing per message and 85 per image (a low-detail image's cost at
// OpenAI). It is an estimate, within tens of percent for English text, and
// never 0 for a non-empty request.
func EstimateRequestTokens(r *Request) int64 {
	chars := len(r.System)
	var n int64
	for _, m := range r.Messages {
		n += 3
		for _, p := range m.Parts {
			chars += partChars(p, &n)
		}
	}
	for _, t := range r.Tools {
		chars += len(t.Name) + len(t.Description) + len(t.Parameters)
	}
	n += int64((chars + 3) / 4)
	if n == 0 {
		n = 1
	}
	return n
}

func partChars(p Part, images *int64) int {
	switch p.Type {
	case PartImage:
		*images += 85
		return 0
	case PartToolCall:
		return len(p.ToolName) + len(p.Arguments)
	case PartToolResult:
		c := 0
		for _, q := range p.Content {
			c += partChars(q, images)
		}
		return c
	}
	return len(p.Text)
}
