package report

import (
	"fmt"
	"io"
	"time"

	"github.com/tcpprobe/tcpprobe/send"
)

// SendLine prints one probe's outcome, hping3 style:
//
//	probe 1: 198.18.0.2:7: SYN,ACK seq=... ack=... win=65160 ttl=64 len=0 opts=[...] rtt=0.077 ms
//
// With st.Verbose, nping-style SENT and RCVD lines come first.
func SendLine(w io.Writer, r *send.Result, timeout time.Duration, st Style) {
	if st.Verbose {
		fmt.Fprintf(w, "SENT %s > %s %s\n", r.Sent.Src, r.Sent.Dst, r.Sent.Line())
		if r.Reply != nil {
			fmt.Fprintf(w, "RCVD (%.3f ms) %s > %s %s\n", r.RTTMs, r.Reply.Src, r.Reply.Dst, r.Reply.Line())
		}
	}
	if r.Status == send.NoReply {
		fmt.Fprintf(w, "probe %d: no reply from %s within %v\n", r.Probe, r.Target, timeout)
		return
	}
	extra := ""
	if r.KernelRST {
		extra = " (our kernel reset it: use --guard to keep it open)"
	}
	if r.Note != "" {
		extra += " (" + r.Note + ")"
	}
	fmt.Fprintf(w, "probe %d: %s: %s rtt=%.3f ms%s\n", r.Probe, r.Reply.Src, r.Reply.Line(), r.RTTMs, extra)
}
