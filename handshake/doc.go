// Package handshake is the workload behind `tcpprobe handshake`: one
// connection made by hand (endpoint.Conn) and walked through its life as
// RunConfig says (SYN with a preset's options, data, exchanges, one of the
// teardowns, the lost-third-ACK and lost-final-ACK experiments), with
// every segment of both sides judged by the rulebook:
//
//	res, err := handshake.Run(ctx, handshake.RunConfig{Target: addr, SYNPreset: "linux",
//		Close: endpoint.CloseConfig{Mode: endpoint.CloseActive}})
//	for _, v := range res.Rules { fmt.Println(rulebook.Rules[v.Rule].ID, v.Result) }
package handshake
