package gateway

import (
	"context"
	"sync"
	"testing"
	"time"
)

// silentBody answers reads only when told to, like an upstream that sends
// its headers and then thinks.
type silentBody struct {
	ctx  context.Context
	feed chan []byte
}

func (b *silentBody) Read(p []byte) (int, error) {
	select {
	case chunk := <-b.feed:
		return copy(p, chunk), nil
	case <-b.ctx.Done():
		return 0, b.ctx.Err()
	}
}

func (b *silentBody) Close() error { return nil }

func TestWatchdogCutsASilentUpstream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body := &silentBody{ctx: ctx, feed: make(chan []byte)}
	d := newWatchdog(body, 50*time.Millisecond, 0, cancel)
	defer d.stop()
	start := time.Now()
	// Bytes keep it alive past its bound...
	go func() {
		for range 4 {
			time.Sleep(30 * time.Millisecond)
			body.feed <- []byte("x")
		}
	}()
	buf := make([]byte, 8)
	for range 4 {
		if _, err := d.Read(buf); err != nil {
			t.Fatalf("read while the upstream talks: %v", err)
		}
	}
	// ...and silence ends it.
	_, err := d.Read(buf)
	if err == nil || !d.Expired() {
		t.Fatalf("silent upstream: err %v, expired %v", err, d.Expired())
	}
	if took := time.Since(start); took < 150*time.Millisecond || took > 2*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestWatchdogKeepsTheClientWarm(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body := &silentBody{ctx: ctx, feed: make(chan []byte)}
	d := newWatchdog(body, time.Second, 40*time.Millisecond, cancel)
	var mu sync.Mutex
	comments := 0
	d.commit(func() { mu.Lock(); comments++; mu.Unlock() })
	time.Sleep(300 * time.Millisecond)
	d.stop()
	mu.Lock()
	n := comments
	mu.Unlock()
	if n < 3 || n > 9 {
		t.Errorf("%d keepalive comments in 300ms at 40ms", n)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if comments != n {
		t.Errorf("comments after stop: %d -> %d", n, comments)
	}
	if d.Expired() {
		t.Error("expired while within idle_timeout")
	}
}
