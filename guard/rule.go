//go:build linux

package guard

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/tcpprobe/tcpprobe/inject"
)

// rstRuleExprs returns the expressions of
//
//	meta mark != 0x74707262 ip saddr L ip daddr R tcp sport LP tcp dport RP tcp flags & rst != 0 counter drop
//
// (ip6 saddr/daddr for IPv6) in an inet-family table. The mark exempts the
// RSTs tcpprobe itself sends (inject.Mark).
func rstRuleExprs(local, remote netip.AddrPort) []expr.Any {
	return rstExprs(local, remote, true)
}

// rstFromPortExprs matches every RST from local (any peer), for scans:
//
//	meta mark != 0x74707262 ip saddr L tcp sport LP tcp flags & rst != 0 counter drop
func rstFromPortExprs(local netip.AddrPort) []expr.Any {
	return rstExprs(local, netip.AddrPort{}, false)
}

func rstExprs(local, remote netip.AddrPort, withRemote bool) []expr.Any {
	proto := byte(unix.NFPROTO_IPV4)
	srcOff, addrLen := uint32(12), uint32(4)
	if local.Addr().Is6() {
		proto, srcOff, addrLen = unix.NFPROTO_IPV6, 8, 16
	}
	dstOff := srcOff + addrLen
	port := func(p uint16) []byte { return binary.BigEndian.AppendUint16(nil, p) }
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, inject.Mark)},
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: srcOff, Len: addrLen},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: local.Addr().AsSlice()},
	}
	if withRemote {
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: dstOff, Len: addrLen},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: remote.Addr().AsSlice()})
	}
	e = append(e,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port(local.Port())})
	if withRemote {
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port(remote.Port())})
	}
	return append(e,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x04}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0}},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop})
}
