package llmproxy

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/llmproxy/caddy-llm-proxy/internal/fakeupstream"
)

// socks5Server is a minimal SOCKS5 server (no auth, CONNECT only) that
// counts the connections it relays.
func socks5Server(t *testing.T) (addr string, conns *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 262)
				// Greeting: VER NMETHODS METHODS...; answer "no auth".
				if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != 5 {
					return
				}
				if _, err := io.ReadFull(c, buf[:buf[1]]); err != nil {
					return
				}
				_, _ = c.Write([]byte{5, 0})
				// Request: VER CMD RSV ATYP DST.ADDR DST.PORT.
				if _, err := io.ReadFull(c, buf[:4]); err != nil || buf[1] != 1 {
					return
				}
				var host string
				switch buf[3] {
				case 1:
					_, _ = io.ReadFull(c, buf[:4])
					host = net.IP(buf[:4]).String()
				case 3:
					_, _ = io.ReadFull(c, buf[:1])
					n := int(buf[0])
					_, _ = io.ReadFull(c, buf[:n])
					host = string(buf[:n])
				default:
					return
				}
				_, _ = io.ReadFull(c, buf[:2])
				port := binary.BigEndian.Uint16(buf[:2])
				up, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(int(port))))
				if err != nil {
					_, _ = c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
					return
				}
				defer up.Close()
				conns.Add(1)
				_, _ = c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
				go func() { _, _ = io.Copy(up, c) }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String(), conns
}

func TestUpstreamThroughSocks5Proxy(t *testing.T) {
	up := fakeupstream.NewOpenAI(t, "sk-socks-0001")
	addr, conns := socks5Server(t)
	startCaddy(t, fmt.Sprintf(`
	llm_proxy {
		name %s
		storage memory
		upstream oai {
			provider openai
			base_url %s
			key sk-socks-0001
			proxy socks5://%s
		}
	}`, instanceName(t), up.URL, addr))
	for range 3 {
		if res := postChat(t, chatBody("gpt-4o", "through socks")); res.status != 200 {
			t.Fatalf("%d %s", res.status, res.body)
		}
	}
	if conns.Load() == 0 || up.Requests("sk-socks-0001") != 3 {
		t.Errorf("socks5 relayed %d connections; upstream saw %d requests", conns.Load(), up.Requests("sk-socks-0001"))
	}
}
