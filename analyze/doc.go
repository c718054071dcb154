// Package analyze reconstructs every TCP connection in a capture and judges
// it with the same rulebook (rulebook.Tracker) that judges live hosts.
//
// Packets are read on one goroutine and sharded by a symmetric hash of the
// connection's 4-tuple to worker goroutines, each with its own flow table,
// so both directions of a connection meet on one worker and the analysis
// uses every core. The decode path does not allocate per packet; each
// connection costs one allocation when it first appears.
//
// Per connection it reports the handshake and teardown, both ends' state
// sequences, rule violations with packet numbers, Wireshark-style analysis
// counts (retransmissions, duplicate ACKs, keep-alives, ...), Zeek's
// conn_state and history, and Wireshark's completeness bits.
//
//	a := analyze.New(analyze.Config{Workers: 2})
//	stats, err := a.ReadFiles(ctx, []string{"trace.pcap"}, func(c *analyze.Conn) { ... })
package analyze
