// Package porttest finds free loopback ports for tests that start real
// nodes.
package porttest

import (
	"net"
	"testing"
)

// UDP returns a UDP port on 127.0.0.1 that was free a moment ago.
func UDP(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TCP returns a TCP port on 127.0.0.1 that was free a moment ago.
func TCP(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
