// Package handshake holds tcpprobe's one rulebook: the TCP states of
// RFC 9293, a Tracker that infers both endpoints' states from the segments
// of one connection as seen on the wire and checks every rule as it goes,
// and Endpoint, our side of a connection driven by hand over a raw socket.
//
// Live probing (tcpprobe handshake, keepalive) and capture analysis
// (tcpprobe analyze) feed segments to the same Tracker, so a host is
// judged by the same code whether it is probed or only observed:
//
//	var t handshake.Tracker
//	t.Init(handshake.TrackerConfig{Record: true})
//	for each segment s of the connection { t.Observe(&s) }
//	for _, v := range t.Verdicts() { fmt.Println(handshake.Rules[v.Rule].ID, v.Result) }
package handshake
