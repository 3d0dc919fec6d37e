//go:build !unix || aix

package egress

import "syscall"

// canProbe: alive cannot look at a connection here without reading from
// it, so plain HTTP goes through net/http's transport.
const canProbe = false

func alive(syscall.RawConn) bool { return false }
