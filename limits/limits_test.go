package limits

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// full sets every limit to a distinct value, through the table.
func full() Set {
	var s Set
	for i, d := range All() {
		d.Put(&s, int64(i+1)*int64(time.Millisecond))
	}
	return s
}

func TestTable(t *testing.T) {
	if got := strings.Join(Names(), " "); got != "weight rpm rpd tpm tpd interval concurrency" {
		t.Fatalf("names %q", got)
	}
	// Every row reaches its own field: the JSON tag of the field it writes
	// is its name.
	for _, d := range All() {
		var s Set
		d.Put(&s, 7)
		b, _ := json.Marshal(s)
		if want := `{"` + d.Name + `":7}`; string(b) != want {
			t.Errorf("%s writes %s, want %s", d.Name, b, want)
		}
		if d.Get(s) != 7 || Lookup(d.Name) == nil || Lookup(d.Name).Name != d.Name {
			t.Errorf("%s: get/lookup", d.Name)
		}
	}
	if Lookup("rpn") != nil {
		t.Fatal("unknown limit found")
	}
	if Lookup("weight").Cap() || !Lookup("rpm").Cap() {
		t.Fatal("weight is a share, rpm a cap")
	}
}

func TestParse(t *testing.T) {
	var s Set
	for name, text := range map[string]string{"weight": "2", "rpm": "60", "tpd": "2000000", "interval": "500ms", "concurrency": "4"} {
		if err := s.ParseOption(name, text); err != nil {
			t.Fatal(err)
		}
	}
	if s != (Set{Weight: 2, RPM: 60, TPD: 2000000, Interval: caddy.Duration(500 * time.Millisecond), Concurrency: 4}) {
		t.Fatalf("%+v", s)
	}
	for _, c := range []struct{ name, text, want string }{
		{"rpm", "0", `rpm must be a positive integer, got "0"`},
		{"weight", "-2", `weight must be a positive integer, got "-2"`},
		{"tpd", "1M", `tpd must be a positive integer, got "1M"`},
		{"concurrency", "9999999999", `concurrency must be a positive integer, got "9999999999"`},
		{"interval", "0s", `interval must be a positive duration, got "0s"`},
		{"interval", "often", `interval must be a duration like 30s or 2m, got "often"`},
	} {
		if err := s.ParseOption(c.name, c.text); err == nil || err.Error() != c.want {
			t.Errorf("%s %s: %v, want %s", c.name, c.text, err, c.want)
		}
	}
	if _, err := Lookup("rpd").Parse("9999999999"); err != nil {
		t.Errorf("rpd is 64-bit: %v", err)
	}
}

func TestCheck(t *testing.T) {
	if err := (Set{}).Check(); err != nil {
		t.Fatal(err)
	}
	if err := full().Check(); err != nil {
		t.Fatal(err)
	}
	if err := (Set{TPM: -1}).Check(); err == nil || err.Error() != "tpm must be a positive integer, got -1" {
		t.Fatal(err)
	}
	if err := (Set{Interval: caddy.Duration(-time.Second)}).Check(); err == nil || err.Error() != "interval must be a positive duration, got -1s" {
		t.Fatal(err)
	}
}

func TestMerge(t *testing.T) {
	own := Set{RPM: 10, Interval: caddy.Duration(time.Second)}
	def := Set{Weight: 3, RPM: 60, RPD: 1000}
	if got := Merge(own, def); got != (Set{Weight: 3, RPM: 10, RPD: 1000, Interval: caddy.Duration(time.Second)}) {
		t.Fatalf("%+v", got)
	}
	if got := Merge(Set{}, Set{}); got != (Set{Weight: 1}) {
		t.Fatalf("defaults: %+v", got)
	}
}

func TestCapsJSON(t *testing.T) {
	s := Set{Weight: 2, RPM: 60, RPD: 1000, Interval: caddy.Duration(1500 * time.Millisecond)}
	b, err := json.Marshal(struct {
		Limits Caps `json:"limits"`
	}{s.Caps()})
	if err != nil || string(b) != `{"limits":{"rpm":60,"rpd":1000,"interval":"1.5s"}}` {
		t.Fatalf("%s %v", b, err)
	}
	if b, _ := json.Marshal(Set{Weight: 1}.Caps()); string(b) != `{}` {
		t.Fatalf("no caps: %s", b)
	}
	var c Caps
	if err := json.Unmarshal([]byte(`{"rpm":60,"rpd":1000,"interval":"1.5s","weight":9,"new":1}`), &c); err != nil || c != s.Caps() {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestReadJSON(t *testing.T) {
	iv, rpm := Lookup("interval"), Lookup("rpm")
	if v, err := iv.ReadJSON([]byte(`"500ms"`)); err != nil || v != int64(500*time.Millisecond) {
		t.Fatal(v, err)
	}
	for _, raw := range []string{`5`, `5000000000`, `true`, `null`} {
		if _, err := iv.ReadJSON([]byte(raw)); err == nil || !strings.Contains(err.Error(), "durations are strings") {
			t.Errorf("interval %s: %v", raw, err)
		}
	}
	if _, err := iv.ReadJSON([]byte(`"soon"`)); err == nil {
		t.Error("bad duration accepted")
	}
	if v, err := rpm.ReadJSON([]byte(`60`)); err != nil || v != 60 {
		t.Fatal(v, err)
	}
	if _, err := rpm.ReadJSON([]byte(`"60"`)); err == nil {
		t.Error("a string count accepted")
	}
	if err := rpm.CheckNew(0); err == nil || !strings.Contains(err.Error(), `"rpm" must be at least 1`) {
		t.Error(err)
	}
	if err := iv.CheckNew(0); err == nil || !strings.Contains(err.Error(), `"interval" must be positive`) {
		t.Error(err)
	}
	if rpm.CheckChange(0) != nil || iv.CheckChange(0) != nil {
		t.Error("0 lifts a cap")
	}
	if err := Lookup("weight").CheckChange(0); err == nil || !strings.Contains(err.Error(), "at least 1") {
		t.Error(err)
	}
	if err := rpm.CheckChange(-1); err == nil || !strings.Contains(err.Error(), "must not be negative") {
		t.Error(err)
	}
}

func TestPartial(t *testing.T) {
	w, rpm, iv := Lookup("weight"), Lookup("rpm"), Lookup("interval")
	var a, b Partial
	if !a.IsZero() || a != (Partial{}) {
		t.Fatal("zero")
	}
	a.Put(w, 2)
	b.Put(rpm, 0) // set to 0: lifts the limit
	b.Put(iv, int64(time.Second))
	m := a.Merge(b)
	if got := m.Names(); !slices.Equal(got, []string{"weight", "rpm", "interval"}) {
		t.Fatalf("names %v", got)
	}
	base := Set{Weight: 1, RPM: 10, TPM: 5}
	if got := m.Apply(base); got != (Set{Weight: 2, TPM: 5, Interval: caddy.Duration(time.Second)}) {
		t.Fatalf("apply %+v", got)
	}
	m.Clear(rpm)
	m.Clear(iv)
	if m != a {
		t.Fatalf("cleared %+v, want %+v", m, a)
	}
	if v, ok := m.Get(rpm); ok || v != 0 {
		t.Fatal("cleared limit still set")
	}
	if err := b.CheckNew(); err == nil || !strings.Contains(err.Error(), `"rpm"`) {
		t.Fatal(err)
	}
}

// The stored form is what KeySettings wrote before package limits existed:
// pointers to int, int64 and time.Duration with these tags.
func TestPartialStoredForm(t *testing.T) {
	type old struct {
		Weight      *int           `json:"weight,omitempty"`
		RPM         *int64         `json:"rpm,omitempty"`
		RPD         *int64         `json:"rpd,omitempty"`
		TPM         *int64         `json:"tpm,omitempty"`
		TPD         *int64         `json:"tpd,omitempty"`
		Interval    *time.Duration `json:"interval,omitempty"`
		Concurrency *int           `json:"concurrency,omitempty"`
	}
	w, rpm, iv := 3, int64(0), 1500*time.Millisecond
	want, _ := json.Marshal(old{Weight: &w, RPM: &rpm, Interval: &iv})

	var p Partial
	p.Put(Lookup("weight"), 3)
	p.Put(Lookup("rpm"), 0)
	p.Put(Lookup("interval"), int64(iv))
	got, err := json.Marshal(p)
	if err != nil || string(got) != string(want) {
		t.Fatalf("%s %v, want %s", got, err, want)
	}
	var back Partial
	if err := json.Unmarshal(want, &back); err != nil || back != p {
		t.Fatalf("%+v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"interval":"1.5s","rpd":null,"note":"x"}`), &back); err != nil || back.Names()[0] != "interval" || len(back.Names()) != 1 {
		t.Fatalf("%+v %v", back, err)
	}
	if b, _ := json.Marshal(Partial{}); string(b) != `{}` {
		t.Fatalf("empty: %s", b)
	}
}
