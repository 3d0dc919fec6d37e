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

// RequestSize guesses the encoded size of r in any provider's format, so an
// encoder can size its buffer once.
func RequestSize(r *Request) int {
	n := len(r.System)
	for i := range r.Messages {
		for j := range r.Messages[i].Parts {
			p := &r.Messages[i].Parts[j]
			n += 32 + len(p.Text) + len(p.Data) + len(p.URL) + len(p.Arguments) + len(p.Signature)
			for k := range p.Content {
				n += 32 + len(p.Content[k].Text) + len(p.Content[k].Data) + len(p.Content[k].URL)
			}
		}
	}
	for i := range r.Tools {
		n += 64 + len(r.Tools[i].Name) + len(r.Tools[i].Description) + len(r.Tools[i].Parameters)
	}
	return n
}

// PartsSize guesses the encoded size of answer parts in any client's
// format (signatures may be re-encoded as base64, hence the 4/3).
func PartsSize(parts []Part) int {
	n := 0
	for i := range parts {
		p := &parts[i]
		n += 64 + len(p.Text) + len(p.Arguments) + len(p.Signature)*4/3 + len(p.Data) + len(p.ToolName) + len(p.ToolCallID)
	}
	return n
}

// EstimateTokens is the admission estimate of a request's input tokens:
// about four bytes of JSON per token. It is settled with the real usage
// when the answer ends, so it only needs to be in the right range.
func EstimateTokens(body []byte) int64 {
	return int64(len(body)/4) + 1
}
