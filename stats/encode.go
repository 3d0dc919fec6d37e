package stats

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Statistics are rewritten every second: with a pool of many keys an hour
// holds a row per key, so they are encoded by hand, without reflection.

// appendHour appends an hour's rows as the JSON array of records that
// Book.Usage reads back (the same as json.Marshal of []record).
func appendHour(b []byte, m map[Dims]*Counts) []byte {
	b = append(b, '[')
	first := true
	for d, c := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '{')
		sep := false
		for _, f := range [...]struct {
			name, v string
		}{{"m", d.Model}, {"k", d.Key}, {"u", d.Upstream}, {"cl", d.Client}, {"s", d.Served}} {
			if f.v == "" {
				continue
			}
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = append(b, '"')
			b = append(b, f.name...)
			b = append(b, `":`...)
			b = AppendJSONString(b, f.v)
		}
		if sep {
			b = append(b, ',')
		}
		b = append(b, `"c":{"requests":`...)
		b = strconv.AppendInt(b, c.Requests, 10)
		b = append(b, `,"successes":`...)
		b = strconv.AppendInt(b, c.Successes, 10)
		b = append(b, `,"failures":`...)
		b = strconv.AppendInt(b, c.Failures, 10)
		b = append(b, `,"input_tokens":`...)
		b = strconv.AppendInt(b, c.InputTokens, 10)
		b = append(b, `,"output_tokens":`...)
		b = strconv.AppendInt(b, c.OutputTokens, 10)
		b = append(b, "}}"...)
	}
	return append(b, ']')
}

// AppendJSONString appends s as a JSON string, as encoding/json writes it.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s) // the rare string that needs escaping
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
