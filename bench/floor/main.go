// Command floor measures the kernel's share of a full-range SYN scan: it
// sends one SYN to each of the 65535 ports of a lab host through a raw
// socket in sendmmsg batches of 64, as fast as the kernel takes them, and
// captures nothing. Over veth the send call also runs the target's side
// (the target answers each SYN with a RST or SYN-ACK in the same softirq),
// so its duration is the least any scanner on this machine can take.
// Used by bench/scan.sh. It floods, so it only sends through loopback or a
// lab interface, whatever the environment says.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/guard"
	"github.com/tcpprobe/tcpprobe/inject"
	"github.com/tcpprobe/tcpprobe/wire"
)

func main() {
	target := flag.String("target", "", "lab host address")
	flag.Parse()
	if err := run(*target); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(target string) error {
	dst, err := netip.ParseAddr(target)
	if err != nil {
		return err
	}
	rt, err := inject.RouteTo(dst)
	if err != nil {
		return err
	}
	os.Setenv(wire.LabOnlyEnv, "1")
	if err := wire.CheckLabOnly(rt); err != nil {
		return err
	}
	res, err := inject.ReservePort(rt.Src, 0)
	if err != nil {
		return err
	}
	defer res.Close()
	g, err := guard.New() // our kernel's RSTs to the SYN-ACKs stay home
	if err != nil {
		return err
	}
	defer g.Close()
	if err := g.DropRSTFrom(netip.AddrPortFrom(rt.Src, res.Port)); err != nil {
		return err
	}
	s, err := inject.NewSender(dst.Is6())
	if err != nil {
		return err
	}
	defer s.Close()
	const batch = 64
	bufs := make([][craft.IPv6HeaderSize + craft.TCPMaxHeader]byte, batch)
	b := inject.NewBatch(batch)
	start := time.Now()
	for port := 1; port <= 65535; {
		for j := 0; j < batch && port <= 65535; j++ {
			seg := craft.Segment{Src: rt.Src, Dst: dst, TTL: 64,
				TCP: craft.TCP{SrcPort: res.Port, DstPort: uint16(port), Seq: craft.Seq(port), Flags: craft.SYN, Window: 1024}}
			n, err := seg.Encode(bufs[j][:])
			if err != nil {
				return err
			}
			b.Add(bufs[j][:n], dst)
			port++
		}
		if err := s.SendBatch(b); err != nil {
			return err
		}
	}
	el := time.Since(start)
	fmt.Printf("%.3f s %.0f SYNs/s\n", el.Seconds(), 65535/el.Seconds())
	return nil
}
