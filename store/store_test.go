package store

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestStores(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) Store{
		"memory": func(*testing.T) Store { return NewMemory() },
		"badger": func(t *testing.T) Store {
			s, err := OpenBadger(filepath.Join(t.TempDir(), "db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			err := s.Save(map[string][]byte{"key/a": []byte("1"), "key/b": []byte("2"), "other/c": []byte("3")})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Save(map[string][]byte{"key/a": nil, "key/b": []byte("22")}); err != nil {
				t.Fatal(err)
			}
			got, err := s.Load("key/")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || string(got["key/b"]) != "22" {
				t.Fatalf("Load = %q", got)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

// A directory another Badger holds is refused with a hint at the usual
// cause, and is free again once that one is closed.
func TestBadgerLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	a, err := OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := OpenBadger(dir, nil); err == nil {
		b.Close()
		t.Fatal("a second open of a locked directory succeeded")
	} else if !strings.Contains(err.Error(), "another running Caddy") {
		t.Fatalf("lock error without a hint: %v", err)
	}
	if err := a.Save(map[string][]byte{"k": []byte("v")}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b, err := OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := b.Load(""); err != nil || string(got["k"]) != "v" {
		t.Fatalf("%q %v", got, err)
	}
}
