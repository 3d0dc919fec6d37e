// Package testcaddy is what the test packages that run a real Caddy share:
// their ports, which LLMP_TEST_PORT_OFFSET shifts, and a Caddy that keeps
// its autosaved config and data out of the user's home.
package testcaddy

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// offset is LLMP_TEST_PORT_OFFSET: several checkouts (say one per helper,
// a thousand apart) can run their tests at once on one machine.
var offset, _ = strconv.Atoi(os.Getenv("LLMP_TEST_PORT_OFFSET"))

// Port is a test's port base, shifted by LLMP_TEST_PORT_OFFSET. Each
// package that runs Caddy has bases of its own, since caddytest runs one
// Caddy per process and the packages' tests run at the same time.
func Port(base int) int { return base + offset }

// Main runs the tests of m with Caddy's config and data directories in a
// temporary directory named after name, removed afterwards, and exits.
func Main(m *testing.M, name string) {
	dir, err := os.MkdirTemp("", "llm-proxy-"+name+"-caddy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CONFIG_HOME", dir)
	os.Setenv("XDG_DATA_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
