// Package guard keeps the kernel from resetting connections that tcpprobe
// drives by hand. The kernel has no socket for a hand-made connection, so it
// answers the peer's SYN-ACK or data with a RST; a Guard installs an
// nftables table (over netlink, no nft binary needed) with a rule per
// 4-tuple that drops those outgoing RSTs.
//
// The table carries the owner flag: it belongs to the Guard's netlink
// socket, so the kernel deletes it when the process exits for any reason,
// SIGKILL included. Close deletes it at once.
//
//	g, err := guard.New()
//	defer g.Close()
//	err = g.DropRST(local, remote)
//
// The equivalent nft commands are
//
//	nft add table inet tcpprobe_PID_N '{ flags owner; }'
//	nft add chain inet tcpprobe_PID_N out '{ type filter hook output priority -150; }'
//	nft add rule inet tcpprobe_PID_N out meta mark != 0x74707262 ip saddr L ip daddr R tcp sport LP tcp dport RP tcp flags rst counter drop
package guard

import "errors"

// ErrClosed is returned when a rule is added to a guard already closed.
var ErrClosed = errors.New("guard closed")
