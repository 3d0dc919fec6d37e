package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

func TestRedisStore(t *testing.T) {
	m := miniredis.RunT(t)
	r, err := OpenRedis("redis://"+m.Addr(), "p:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Save(map[string][]byte{"key/a": []byte("1"), "key/b": []byte("2"), "other/c": []byte("3"), "key/sub/d": []byte("4")}); err != nil {
		t.Fatal(err)
	}
	if err := r.Save(map[string][]byte{"key/a": nil, "key/b": []byte("22")}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Load("key/")
	if err != nil || len(got) != 1 || string(got["key/b"]) != "22" {
		t.Fatalf("Load(key/) = %q %v", got, err)
	}
	if got, err := r.Load("key"); err != nil || len(got) != 2 || string(got["key/sub/d"]) != "4" {
		t.Fatalf("Load(key) = %q %v", got, err)
	}
	if got, err := r.Get([]string{"key/b", "key/a", "other/c"}); err != nil || len(got) != 2 || string(got["other/c"]) != "3" {
		t.Fatalf("Get = %q %v", got, err)
	}
	if !m.Exists("p:rec:key/") || m.Exists("key/") {
		t.Fatal("records are not under the prefix")
	}

	// Counters add up across calls (as across instances).
	at := time.Now().Add(time.Hour)
	for range 2 {
		if err := r.AddCounts(map[string]map[string]int64{"stats/x/h1": {"a": 2, "b": 1}}, map[string]time.Time{"stats/x/h1": at}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := r.LoadCounts([]string{"stats/x/h1", "stats/x/h2"})
	if err != nil || len(c) != 1 || c["stats/x/h1"]["a"] != 4 || c["stats/x/h1"]["b"] != 2 {
		t.Fatalf("LoadCounts = %v %v", c, err)
	}
	if ttl := m.TTL("p:cnt:stats/x/h1"); ttl <= 0 {
		t.Fatalf("counter hash TTL %v", ttl)
	}
}

func TestRedisPublish(t *testing.T) {
	m := miniredis.RunT(t)
	a, _ := OpenRedis("redis://"+m.Addr(), "p:", nil)
	defer a.Close()
	b, _ := OpenRedis("redis://"+m.Addr(), "p:", nil)
	defer b.Close()
	got := make(chan Message, 4)
	subscribed := make(chan struct{}, 4)
	b.Subscribe(func(msg Message) { got <- msg }, func() { subscribed <- struct{}{} })
	select {
	case <-subscribed:
	case <-time.After(5 * time.Second):
		t.Fatal("not subscribed")
	}
	if err := a.Publish("keys default id1,id2"); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-got:
		if msg.Origin != a.Origin || msg.Body != "keys default id1,id2" || msg.Version != 1 {
			t.Fatalf("%+v", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
	if v, err := b.Version(); err != nil || v != 1 {
		t.Fatalf("Version = %d %v", v, err)
	}
}

// An unreachable server makes calls fail at once with ErrDown, and the
// store comes back by itself when the server does.
func TestRedisDownAndUp(t *testing.T) {
	m := miniredis.RunT(t)
	addr := m.Addr()
	r, err := OpenRedis("redis://"+addr, "p:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	up := make(chan struct{}, 1)
	r.OnUp(func() { up <- struct{}{} })
	m.Close()
	if err := r.Save(map[string][]byte{"k/a": []byte("1")}); !errors.Is(err, ErrDown) || !r.Down() {
		t.Fatalf("Save with the server gone: %v (down %v)", err, r.Down())
	}
	began := time.Now()
	if _, err := r.Load("k/"); !errors.Is(err, ErrDown) || time.Since(began) > 50*time.Millisecond {
		t.Fatalf("Load while down: %v after %s", err, time.Since(began))
	}
	if err := m.StartAddr(addr); err != nil {
		t.Fatal(err)
	}
	select {
	case <-up:
	case <-time.After(5 * time.Second):
		t.Fatal("the store did not come back up")
	}
	if err := r.Save(map[string][]byte{"k/a": []byte("1")}); err != nil {
		t.Fatal(err)
	}
}

func TestRedisURLs(t *testing.T) {
	for url, want := range map[string]string{
		"redis://localhost:6379":            "",
		"rediss://user:pw@redis.example/3":  "",
		"http://localhost:6379":             "must start with redis:// or rediss://",
		"redis://":                          "no host",
		"redis://u:topsecret@host:notaport": "invalid redis URL",
	} {
		_, err := RedisOptions(url)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", url, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "topsecret") {
			t.Errorf("%s: the error shows the password: %v", url, err)
		}
	}
}
