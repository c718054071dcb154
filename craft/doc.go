// Package craft encodes and decodes IPv4, IPv6, TCP and ICMP/ICMPv6 headers
// by hand, into and out of caller-provided buffers, without allocating.
//
// A segment is built by filling in the header structs and calling
// BuildTCP4 or BuildTCP6, which writes the IP header, the TCP header with its
// options and the payload, and fills in lengths and checksums:
//
//	var buf [craft.MaxPacket]byte
//	ip := craft.IPv4{TTL: 64, Src: src, Dst: dst, Flags: craft.IPv4DontFragment}
//	tcp := craft.TCP{SrcPort: 40000, DstPort: 80, Seq: isn, Flags: craft.SYN, Window: 64240,
//		Options: []craft.Option{craft.MSSOption(1460), craft.SACKPermittedOption()}}
//	n, err := craft.BuildTCP4(buf[:], &ip, &tcp, nil)
//
// Decoding goes the other way: Packet.Decode fills a reusable Packet from
// the bytes of an IP datagram, with every field reset on each call.
package craft
