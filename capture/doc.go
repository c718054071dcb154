// Package capture reads packets: live from an interface through libpcap,
// with a BPF filter and kernel timestamps, and from pcap and pcapng files
// (optionally gzip-compressed); and writes what a probe sent and received
// as a pcap file that Wireshark and tshark open.
//
//	live, err := capture.OpenLive("lo", capture.ProbeFilter(local, remote))
//	defer live.Close()
//	for f, err := live.Next(ctx); err == nil; f, err = live.Next(ctx) { ... }
package capture
