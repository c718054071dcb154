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
func SendLine(w io.Writer, r *send.Result, timeout time.Duration) {
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
