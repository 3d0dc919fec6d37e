package translate

// Usage is the token count of one answer.
type Usage struct {
	Input     int64 `json:"input,omitempty"`
	Output    int64 `json:"output,omitempty"`
	Cached    int64 `json:"cached,omitempty"`    // input tokens served from a prompt cache
	Reasoning int64 `json:"reasoning,omitempty"` // output tokens spent thinking
}

// Total is input plus output tokens.
func (u Usage) Total() int64 { return u.Input + u.Output }

// Merge updates u with the fields of v that are set, for streams whose
// usage arrives in pieces (Anthropic: input at the start, output at the end).
func (u *Usage) Merge(v Usage) {
	if v.Input != 0 {
		u.Input = v.Input
	}
	if v.Output != 0 {
		u.Output = v.Output
	}
	if v.Cached != 0 {
		u.Cached = v.Cached
	}
	if v.Reasoning != 0 {
		u.Reasoning = v.Reasoning
	}
}
