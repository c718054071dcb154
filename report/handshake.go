package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/tcpprobe/tcpprobe/endpoint"
	"github.com/tcpprobe/tcpprobe/handshake"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

// Handshake prints a hand-made connection: the ladder, the rule table and
// a summary.
func Handshake(w io.Writer, r *handshake.Result, st Style) {
	fmt.Fprintf(w, "TCPPROBE handshake %s -> %s (%s), our ISN %d\n\n", r.Local, r.Target, r.Iface, r.ISN)
	Ladder(w, r.Ladder, st)
	fmt.Fprintln(w, "\nrules:")
	Rules(w, r.Rules, st)
	fmt.Fprintln(w, "\nsummary:")
	line := func(k, format string, a ...any) { fmt.Fprintf(w, "  %-22s %s\n", k, fmt.Sprintf(format, a...)) }
	line("outcome", "%s", r.Outcome)
	if r.ICMP != nil {
		line("icmp", "%s from %s", r.ICMP.Description, r.ICMP.From)
	}
	if r.HandshakeMs > 0 && r.Outcome == endpoint.Open {
		line("handshake rtt", "%.3f ms (SYN to SYN-ACK, kernel timestamps)", r.HandshakeMs)
	} else if r.HandshakeMs > 0 {
		line("answer rtt", "%.3f ms", r.HandshakeMs)
	}
	if r.SYNRetries > 0 {
		line("SYN retransmissions", "%d", r.SYNRetries)
	}
	if r.Negotiated != nil {
		n := r.Negotiated
		ws := "off"
		if n.OurWScale >= 0 && n.PeerWScale >= 0 {
			ws = fmt.Sprintf("ours %d, peer %d", n.OurWScale, n.PeerWScale)
		}
		line("peer ISN", "%d", r.PeerISN)
		line("negotiated", "mss ours %d / peer %d, window scale %s, sack %v, timestamps %v", n.OurMSS, n.PeerMSS, ws, onOff(n.SACK), onOff(n.Timestamps))
		line("peer SYN-ACK options", "%s", strings.Join(n.PeerOptions, ","))
	}
	if r.PeerTTL > 0 {
		line("peer ttl", "%d (initial %d, about %d hop(s) away)", r.PeerTTL, r.InitialTTL, r.Hops)
	}
	if r.SentBytes > 0 || r.Received > 0 {
		line("data", "sent %d bytes, received %d bytes", r.SentBytes, r.Received)
	}
	if r.ReceivedText != "" {
		line("received", "%q", r.ReceivedText)
	}
	if r.HalfCloseData > 0 {
		line("half-close", "%d bytes received after our FIN (peer in CLOSE_WAIT may still send)", r.HalfCloseData)
	}
	if x := r.SynAckRetrans; x != nil {
		line("SYN-ACK retransmissions", "%d, intervals %v ms, backoff x%.2f, RST after giving up: %v", x.Count, x.IntervalsMs, x.Backoff, x.RSTAfter)
	}
	if c := r.Close; c != nil {
		if x := c.FINRetransmissions; x != nil {
			line("FIN retransmissions", "%d from LAST_ACK, intervals %v ms, backoff x%.2f", x.Count, x.IntervalsMs, x.Backoff)
			line("peer reached CLOSED", "%v (a segment after our final ACK was answered by RST)", c.PeerClosedConfirmed)
		}
		if c.TimeWaitMs > 0 {
			line("TIME_WAIT", "%.0f ms", c.TimeWaitMs)
		}
		if c.Note != "" {
			line("close note", "%s", c.Note)
		}
	}
	if tw := r.PeerTimeWait; tw != nil {
		switch {
		case tw.Ended && tw.LastHeldMs > 0:
			line("peer TIME_WAIT", "ended between %.0f and %.0f ms after our FIN was acknowledged (%d %s probes)", tw.LastHeldMs, tw.EndedMs, tw.Probes, tw.Probe)
		case tw.Ended:
			line("peer TIME_WAIT", "ended within %.0f ms (%d %s probes, none answered until the RST)", tw.EndedMs, tw.Probes, tw.Probe)
		default:
			line("peer TIME_WAIT", "still held after %d %s probes (the last answered at %.0f ms)", tw.Probes, tw.Probe, tw.LastHeldMs)
		}
	}
	if r.ReACKedFINs > 0 {
		line("FINs in TIME_WAIT", "%d, each ACKed again", r.ReACKedFINs)
	}
	form := r.CloseForm.String()
	if r.CloseBy != "" {
		form += ", begun by " + r.CloseBy
	}
	line("teardown", "%s", form)
	line("final states", "ours %v, peer %v", r.OurState, r.PeerState)
	line("kernel RSTs dropped", "%d (guard)", r.KernelRSTs)
	if r.Error != "" {
		line("error", "%s", r.Error)
	}
	if failed := failures(r.Rules); failed == 0 {
		line("verdict", "%s", st.Paint("32", "every applicable rule passed"))
	} else {
		line("verdict", "%s", st.Paint("1;31", fmt.Sprintf("%d rule(s) failed", failed)))
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// failures counts the failed verdicts.
func failures(vs []rulebook.Verdict) int {
	n := 0
	for i := range vs {
		if vs[i].Result == rulebook.Fail {
			n++
		}
	}
	return n
}
