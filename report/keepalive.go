package report

import (
	"fmt"
	"io"

	"github.com/tcpprobe/tcpprobe/endpoint"
	"github.com/tcpprobe/tcpprobe/keepalive"
)

// Keepalive prints a keepalive check: the ladder, the applicable rules and
// what was measured.
func Keepalive(w io.Writer, r *keepalive.Result, st Style) {
	fmt.Fprintf(w, "TCPPROBE keepalive (%s) %s -> %s\n\n", r.Mode, r.Local, r.Target)
	if len(r.Ladder) > 0 {
		Ladder(w, r.Ladder, st)
		fmt.Fprintln(w, "\nrules:")
		Rules(w, r.Rules, st)
	}
	fmt.Fprintln(w, "\nsummary:")
	fmt.Fprintf(w, "  outcome              %s\n", r.Outcome)
	for _, p := range r.Probes {
		state := "no answer"
		if p.Answered {
			state = fmt.Sprintf("ACK ack=%d (SND.NXT: %v, window unchanged: %v) rtt %.3f ms", p.Ack, p.AckOK, p.WindowOK, p.RTTms)
		}
		fmt.Fprintf(w, "  probe %-3d seq=%d %dB: %s\n", p.N, p.Seq, p.Bytes, state)
	}
	for _, p := range r.Peer {
		fmt.Fprintf(w, "  peer probe %-3d at %.0f ms (gap %.0f ms) %dB answered=%v\n", p.N, p.AtMs, p.GapMs, p.Bytes, p.Answered)
	}
	if r.Mode == "observe" && !r.NoPeerProbe {
		fmt.Fprintf(w, "  measured             idle %.0f ms before the first probe, %.0f ms between answered probes (Linux: the longer of idle and interval)   (Linux defaults: idle %v, interval %v)\n",
			r.IdleMs, r.IntervalMs, keepalive.LinuxIdle, keepalive.LinuxInterval)
	}
	if r.Mode == "observe-silent" && !r.NoPeerProbe {
		rst := fmt.Sprint(r.RSTAfter)
		if r.SilentGiveUp {
			rst = "false (closed silently)"
		}
		fmt.Fprintf(w, "  measured             idle %.0f ms, interval %.0f ms, probes %d, RST after giving up: %s   (Linux defaults: idle %v, interval %v, %d probes)\n",
			r.IdleMs, r.IntervalMs, r.Count, rst, keepalive.LinuxIdle, keepalive.LinuxInterval, keepalive.LinuxProbes)
	}
	for _, t := range r.Trials {
		fmt.Fprintf(w, "  trial idle %.0f ms: answered=%v\n", t.IdleMs, t.Answered)
	}
	if r.IdleTimeout != "" {
		fmt.Fprintf(w, "  path idle timeout    %s\n", r.IdleTimeout)
	}
	if r.Note != "" {
		fmt.Fprintf(w, "  note                 %s\n", r.Note)
	}
	verdict := st.Paint("32", "every applicable rule passed")
	switch n := failures(r.Rules); {
	case n > 0:
		verdict = st.Paint("1;31", fmt.Sprintf("%d rule(s) FAILED", n))
	case r.NoPeerProbe:
		verdict = "no keepalive probe seen: nothing to judge"
	case r.Outcome != endpoint.Open:
		verdict = "the connection did not open (" + string(r.Outcome) + ")"
	}
	for _, p := range r.Probes {
		if !p.Answered || !p.AckOK {
			verdict = st.Paint("1;31", "a keepalive probe went unanswered or was answered wrongly")
			break
		}
	}
	fmt.Fprintf(w, "  verdict              %s\n", verdict)
}
