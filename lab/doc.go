// Package lab builds the local test network tcpprobe probes: a target host
// in its own network namespace, joined to the caller's namespace by a veth
// pair, with addresses from 198.18.0.0/15 and 2001:db8::/32 and real Linux
// TCP servers inside on documented ports.
//
//	l, err := lab.Up(lab.Config{Name: "demo", Subnet: 1})
//	srv, err := l.StartServers(ctx)
//	// probe l.Target4 / l.Target6 on lab.PortEcho, lab.PortClosed, ...
//	srv.Close(); l.Down()
//
// Tests use labtest.ForTest, which does the same and tears everything down with
// t.Cleanup, also when the test fails.
package lab
