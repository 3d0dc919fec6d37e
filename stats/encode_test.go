package stats

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"
)

// appendHour writes what json.Marshal of the records writes, and what
// Book.Usage reads back.
func TestAppendHour(t *testing.T) {
	m := map[Dims]*Counts{
		{Model: "gpt-4o", Key: "oai-0123456789abcdef", Upstream: "oai"}: {Requests: 3, Successes: 2, Failures: 1, InputTokens: 40, OutputTokens: 7},
		{Model: `we"ird <model> & ünïcode`}:                             {Requests: 1},
		{}:                                                              {Failures: 5},
	}
	var got []record
	if err := json.Unmarshal(appendHour(nil, m), &got); err != nil {
		t.Fatal(err)
	}
	var want []record
	for d, c := range m {
		want = append(want, record{Model: d.Model, Key: d.Key, Upstream: d.Upstream, Counts: *c})
	}
	for _, l := range [][]record{got, want} {
		sort.Slice(l, func(i, j int) bool { return l[i].Model+l[i].Key < l[j].Model+l[j].Key })
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for _, s := range []string{"plain", `q"uote`, "tab\t", "<html>", "ü", "\u2028"} {
		want, _ := json.Marshal(s)
		if got := AppendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
	}
}
