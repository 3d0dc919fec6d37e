//go:build unix && !aix

package egress

import "syscall"

const canProbe = true

// alive reports whether an idle connection is still open: a read that
// peeks and does not wait finds nothing to read. The server's close (or
// anything it sends unasked, such as a 408 before it closes) makes it
// readable.
func alive(rc syscall.RawConn) bool {
	if rc == nil {
		return false
	}
	var (
		buf  [1]byte
		rerr error
	)
	if err := rc.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}); err != nil {
		return false
	}
	return rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
}
