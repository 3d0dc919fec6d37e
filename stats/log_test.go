package stats

import (
	"fmt"
	"testing"
)

func TestLog(t *testing.T) {
	r := NewLog(3)
	if got := r.Newest(10); len(got) != 0 {
		t.Fatalf("empty log: %+v", got)
	}
	for i := range 5 {
		r.Add(Entry{Status: 200 + i})
	}
	statuses := func(es []Entry) []int {
		var out []int
		for _, e := range es {
			out = append(out, e.Status)
		}
		return out
	}
	if got := fmt.Sprint(statuses(r.Newest(10))); got != "[204 203 202]" {
		t.Fatalf("newest first, last 3: %s", got)
	}
	if got := fmt.Sprint(statuses(r.Newest(2))); got != "[204 203]" {
		t.Fatalf("limit 2: %s", got)
	}
	r.Resize(5)
	r.Add(Entry{Status: 205})
	if got := fmt.Sprint(statuses(r.Newest(10))); got != "[205 204 203 202]" {
		t.Fatalf("grown: %s", got)
	}
	r.Resize(2)
	if got := fmt.Sprint(statuses(r.Newest(10))); got != "[205 204]" {
		t.Fatalf("shrunk: %s", got)
	}
	r.Add(Entry{Status: 206})
	if got := fmt.Sprint(statuses(r.Newest(10))); got != "[206 205]" {
		t.Fatalf("after shrink: %s", got)
	}
}

func TestLogSharedAcrossReload(t *testing.T) {
	name := t.Name()
	a, err := AcquireLog(name, 4)
	if err != nil {
		t.Fatal(err)
	}
	a.Add(Entry{Status: 200})
	b, _ := AcquireLog(name, 8) // the new config, before the old one goes
	ReleaseLog(name)
	if a != b || len(b.Newest(10)) != 1 || len(b.buf) != 8 {
		t.Fatal("the request log did not carry over a reload")
	}
	ReleaseLog(name)
	c, _ := AcquireLog(name, 8)
	defer ReleaseLog(name)
	if len(c.Newest(10)) != 0 {
		t.Fatal("a log outlived its last handler")
	}
}
