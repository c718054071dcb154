package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/analyze"
	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/internal/netns"
	"github.com/tcpprobe/tcpprobe/internal/packettest"
	"github.com/tcpprobe/tcpprobe/internal/testpaths"
	"github.com/tcpprobe/tcpprobe/internal/tsharktest"
	"github.com/tcpprobe/tcpprobe/lab"
	"github.com/tcpprobe/tcpprobe/lab/labtest"
)

// reframed are the Zeek captures whose datagrams the tests put in other
// frames: IPv4 and IPv6, loss, retransmissions, a cut frame.
var reframed = []string{"http-get.pcap", "tcp-reassembly.pcap", "tcp-retransmit-fast009.pcap", "chksums-ip6-tcp-good-chksum.pcap"}

// reframedCapture is one of reframed, read: its frames, our per-packet
// analysis and tshark's.
type reframedCapture struct {
	name, path string
	frames     []capture.Frame
	packets    map[int64][]string
	tshark     map[int64][]string
}

func loadReframed(t *testing.T) []reframedCapture {
	t.Helper()
	tsharktest.Need(t)
	dir := testpaths.ZeekPcaps(t)
	var out []reframedCapture
	for _, name := range reframed {
		src := filepath.Join(dir, name)
		out = append(out, reframedCapture{name, src, readFrames(t, src), packetLines(t, src), tsharktest.Analysis(t, src)})
	}
	return out
}

// sameTsharkAnalysis checks that tshark's analysis of path equals want,
// its analysis of the plain capture (so tshark reads the frames the way
// they were built).
func sameTsharkAnalysis(t *testing.T, path, how string, want map[int64][]string) {
	t.Helper()
	theirs := tsharktest.Analysis(t, path)
	if len(theirs) != len(want) {
		t.Errorf("tshark analyzes %d TCP packets %s, %d without", len(theirs), how, len(want))
	}
	for frame, w := range want {
		if got := theirs[frame]; !slices.Equal(sorted(got), sorted(w)) {
			t.Errorf("tshark on frame %d: %v %s, %v without", frame, got, how, w)
		}
	}
}

// TestTunnelledCaptures wraps every IP datagram of real captures (Zeek's
// test traces) in each tunnel analyze decodes and checks, packet by packet,
// that analyze sees inside the tunnel exactly what it sees without it (and
// so agrees with tshark as much as it does on the plain capture), that
// tshark also sees through the tunnel the same packets (so the tunnels are
// built the way an independent decoder reads them), and that every
// connection names its tunnel.
func TestTunnelledCaptures(t *testing.T) {
	t.Parallel()
	for _, rc := range loadReframed(t) {
		name, frames, plainPkts, theirsPlain := rc.name, rc.frames, rc.packets, rc.tshark
		plainConns := connLines(t, rc.path)
		if len(plainPkts) == 0 || len(plainConns) == 0 {
			t.Fatalf("%s: no TCP in %d frames", name, len(frames))
		}
		for kind, encName := range packettest.Tunnels {
			t.Run(name+"/"+kind, func(t *testing.T) {
				t.Parallel()
				wrapped, ok := wrapAll(t, frames, kind)
				if !ok {
					t.Skipf("a datagram is too long for %s", kind)
				}
				out := filepath.Join(t.TempDir(), "tunnelled.pcap")
				if err := capture.WriteFile(out, craft.LinkEthernet, wrapped); err != nil {
					t.Fatal(err)
				}
				if got := packetLines(t, out); !maps2Equal(got, plainPkts) {
					t.Errorf("per-packet analysis differs inside %s:\n got %v\nwant %v", kind, got, plainPkts)
				}
				conns := connLines(t, out)
				if len(conns) != len(plainConns) {
					t.Fatalf("%d connections inside %s, %d without", len(conns), kind, len(plainConns))
				}
				for i, c := range conns {
					p := plainConns[i]
					if c.Orig != p.Orig || c.Resp != p.Resp || c.State != p.State || c.History != p.History || c.Tunnel != encName {
						t.Errorf("connection %d: %+v inside %s, %+v without", i, c, kind, p)
					}
				}
				switch kind {
				case "mpls-pw":
					return // tshark reads a pseudowire's payload only when told to (mpls.mplspref.payload)
				case "fabricpath":
					// tshark's own analysis of these frames inside FabricPath
					// disagrees with its analysis of them without it (lost
					// segments, missed duplicate ACKs): no reference here.
					return
				}
				// tshark sees through the tunnel too: its analysis inside
				// equals its analysis without.
				sameTsharkAnalysis(t, out, "inside "+kind, theirsPlain)
			})
		}
	}
}

func readFrames(t *testing.T, path string) []capture.Frame {
	t.Helper()
	r, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []capture.Frame
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		f.Data = slices.Clone(f.Data)
		out = append(out, f)
	}
}

// wrapAll tunnels each frame's IP datagram; a frame without one stays.
func wrapAll(t *testing.T, frames []capture.Frame, kind string) ([]capture.Frame, bool) {
	out := make([]capture.Frame, 0, len(frames))
	for _, f := range frames {
		off, err := craft.IPOffset(f.LinkType, f.Data)
		if err != nil && f.LinkType == craft.LinkEthernet {
			out = append(out, f) // ARP and the like: frame numbers stay
			continue
		}
		if err != nil {
			t.Fatalf("a frame without IP: %v", err)
		}
		ip := f.Data[off:]
		w := packettest.Encapsulate(kind, ip)
		if w == nil {
			return nil, false
		}
		out = append(out, capture.Frame{Time: f.Time, Data: w, Length: len(w) + f.Length - len(f.Data), LinkType: craft.LinkEthernet})
	}
	return out, true
}

// packetLines is analyze --packets: each TCP frame's analysis flags.
func packetLines(t *testing.T, path string) map[int64][]string {
	t.Helper()
	r := tcpprobe(t, "analyze", "--packets", "-C", "--fail-on", "never", path)
	if r.code != exitOK {
		t.Fatalf("%s: exit %d %s", path, r.code, r.stderr)
	}
	out := map[int64][]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var p struct {
			Frame    int64    `json:"frame"`
			Analysis []string `json:"analysis"`
		}
		if line == "" {
			continue // a capture without TCP
		}
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		out[p.Frame] = p.Analysis
	}
	return out
}

type connLine struct {
	Orig, Resp, History, Tunnel string
	State                       string `json:"conn_state"`
}

func connLines(t *testing.T, path string) []connLine {
	t.Helper()
	r := tcpprobe(t, "analyze", "--json", "-C", "--fail-on", "never", path)
	if r.code != exitOK {
		t.Fatalf("%s: exit %d %s", path, r.code, r.stderr)
	}
	var out []connLine
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var c connLine
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if c.Orig != "" {
			out = append(out, c)
		}
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func maps2Equal(a, b map[int64][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// TestAnalyzeLiveVXLAN runs a real connection through a VXLAN tunnel that
// the kernel builds between the host and the lab's target, captures the
// underlay, and checks that analyze finds the connection inside: the
// overlay's addresses, a complete close, the tunnel named.
func TestAnalyzeLiveVXLAN(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t, lab.Config{Name: "anvxlan", Subnet: 44})
	const dev = "tpvx44"
	host, target := "198.19.44.1", "198.19.44.2"
	ip := func(ns *netns.NS, args ...string) {
		t.Helper()
		var out []byte
		var err error
		if ns == nil {
			out, err = exec.Command("ip", args...).CombinedOutput()
		} else {
			var s string
			s, err = ns.Output(append([]string{"ip"}, args...)...)
			out = []byte(s)
		}
		if err != nil {
			t.Fatalf("ip %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	ip(nil, "link", "add", dev, "type", "vxlan", "id", "44", "local", l.Host4.String(), "remote", l.Target4.String(), "dstport", "4789", "dev", l.HostIface)
	t.Cleanup(func() { exec.Command("ip", "link", "del", dev).Run() })
	ip(nil, "addr", "add", host+"/24", "dev", dev)
	ip(nil, "link", "set", dev, "up")
	ip(l.NS, "link", "add", dev, "type", "vxlan", "id", "44", "local", l.Target4.String(), "remote", l.Host4.String(), "dstport", "4789")
	ip(l.NS, "addr", "add", target+"/24", "dev", dev)
	ip(l.NS, "link", "set", dev, "up")

	// dumpcap (tshark's capture engine) records the underlay; analyze reads
	// it live (-i) at the same time.
	pcap := filepath.Join(t.TempDir(), "underlay.pcapng")
	dump := exec.Command("dumpcap", "-q", "-i", l.HostIface, "-a", "duration:3", "-w", pcap)
	live := exec.Command(bin, "analyze", "--json", "-i", l.HostIface, "--duration", "3s")
	var out, errb, dumpErr strings.Builder
	live.Stdout, live.Stderr, dump.Stderr = &out, &errb, &dumpErr
	for _, c := range []*exec.Cmd{dump, live} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	}
	time.Sleep(700 * time.Millisecond) // both captures are open
	c, err := net.DialTimeout("tcp", net.JoinHostPort(target, fmt.Sprint(lab.PortEcho)), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("through the tunnel ", 200)
	c.Write([]byte(msg))
	io.ReadFull(c, make([]byte, len(msg)))
	c.Close()
	if err := live.Wait(); err != nil {
		t.Fatalf("analyze -i: %v %s", err, errb.String())
	}
	if err := dump.Wait(); err != nil {
		t.Fatalf("dumpcap: %v %s", err, dumpErr.String())
	}
	fromFile := tcpprobe(t, "analyze", "--json", pcap)
	for _, outs := range []string{out.String(), fromFile.stdout} {
		checkVXLANConn(t, outs, target, len(msg))
	}
	// tshark reads the same packets inside the same capture.
	theirs := tsharktest.Analysis(t, pcap)
	ours := packetLines(t, pcap)
	if len(theirs) == 0 || len(theirs) != len(ours) {
		t.Errorf("tshark analyzes %d TCP packets, we %d", len(theirs), len(ours))
	}
}

func checkVXLANConn(t *testing.T, out, target string, n int) {
	t.Helper()
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var conn analyze.Conn
		if err := json.Unmarshal([]byte(line), &conn); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		if !strings.HasPrefix(conn.Resp, target+":") {
			continue
		}
		found = true
		if conn.Tunnel != "vxlan" || conn.ConnState != "SF" || conn.OrigBytes != int64(n) || conn.RespBytes != int64(n) ||
			conn.Anomalies.Get(analyze.FlagBadChecksum) != 0 {
			t.Errorf("connection inside VXLAN: %+v", conn)
		}
	}
	if !found {
		t.Errorf("no connection to %s in %s", target, out)
	}
}

// linkFramings put a datagram (or, with ok false, a frame that is not IP)
// in another link layer's frame: the header to prepend, for frame i, whose
// datagram was wire bytes long on the wire (ip may be cut shorter).
var linkFramings = []struct {
	name string
	link int
	hdr  func(i int, ip []byte, wire int, ok bool) []byte
}{
	// ARCNET, BSD's link type: RFC 1201 headers, every third one an
	// exception packet; ARP (RFC 1051) for what is not IP.
	{"arcnet", craft.LinkARCNET, func(i int, ip []byte, wire int, ok bool) []byte {
		switch {
		case !ok:
			return []byte{1, 2, 241}
		case ip[0]>>4 == 6:
			return []byte{1, 2, 196, 0, 0, byte(i)}
		case i%3 == 0:
			return []byte{1, 2, 212, 0xff, 0xff, 0xff, 212, 0, 0, byte(i)}
		}
		return []byte{1, 2, 212, 0, 0, byte(i)}
	}},
	// ARCNET, Linux's: a 2-byte offset, RFC 1051 for IPv4.
	{"arcnet-linux", craft.LinkARCNETLx, func(i int, ip []byte, wire int, ok bool) []byte {
		switch {
		case !ok:
			return []byte{1, 2, 0, 0, 241}
		case ip[0]>>4 == 6:
			return []byte{1, 2, 0, 0, 196, 0, 0, byte(i)}
		}
		return []byte{1, 2, 0, 0, 240}
	}},
	// IEEE 802.11 data frames in turn plain, QoS, between distribution
	// systems (four addresses) and QoS with HT control; a beacon for what
	// is not IP. Behind radiotap too.
	{"wifi", craft.Link80211, wifiFrame},
	{"radiotap", craft.LinkRadiotap, func(i int, ip []byte, wire int, ok bool) []byte {
		return append([]byte{0, 0, 8, 0, 0, 0, 0, 0}, wifiFrame(i, ip, wire, ok)...)
	}},
	// NFLOG: the header, a prefix TLV, a hardware-type TLV, then the
	// payload TLV (lengths little-endian, as on x86 and arm64 Linux).
	{"nflog", craft.LinkNFLOG, func(i int, ip []byte, wire int, ok bool) []byte {
		fam := byte(2)
		if ok && ip[0]>>4 == 6 {
			fam = 10
		}
		h := []byte{fam, 0, 0, 1, 12, 0, 10, 0, 't', 'c', 'p', 'p', 'r', 'o', 'b', 0, 6, 0, 5, 0, 0, 1, 0, 0}
		if !ok {
			return append(h, 4, 0, 11, 0) // a uid TLV, no payload: not IP
		}
		return append(h, byte(wire+4), byte((wire+4)>>8), 9, 0) // (as long as the packet was: the snap length cuts the TLV)
	}},
}

// wifiFrame is an IEEE 802.11 header for frame i, with LLC/SNAP.
func wifiFrame(i int, ip []byte, _ int, ok bool) []byte {
	addrs := []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 3}
	if !ok {
		return append(append([]byte{0x80, 0, 0, 0}, addrs...), 0, 0) // a beacon's header
	}
	var h []byte
	switch i % 4 {
	case 0:
		h = append(append([]byte{0x08, 0x01, 0, 0}, addrs...), 0, 0)
	case 1:
		h = append(append([]byte{0x88, 0x02, 0, 0}, addrs...), 0, 0, 0, 0)
	case 2:
		h = append(append(append([]byte{0x08, 0x03, 0, 0}, addrs...), 0, 0), 2, 0, 0, 0, 0, 4)
	default:
		h = append(append([]byte{0x88, 0x81, 0, 0}, addrs...), 0, 0, 0, 0, 0, 0, 0, 0)
	}
	if ip[0]>>4 == 6 {
		return append(h, 0xaa, 0xaa, 0x03, 0, 0, 0, 0x86, 0xdd)
	}
	return append(h, 0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00)
}

// TestLinkTypeCaptures: the datagrams of four Zeek captures framed in
// ARCNET (BSD's and Linux's), IEEE 802.11 (also behind radiotap) and NFLOG
// give the per-packet analysis of the plain captures, and tshark reads the
// same TCP packets in them.
func TestLinkTypeCaptures(t *testing.T) {
	t.Parallel()
	for _, rc := range loadReframed(t) {
		name, frames, plain, theirsPlain := rc.name, rc.frames, rc.packets, rc.tshark
		for _, fr := range linkFramings {
			t.Run(name+"/"+fr.name, func(t *testing.T) {
				t.Parallel()
				out := make([]capture.Frame, len(frames))
				for i, f := range frames {
					off, err := craft.IPOffset(f.LinkType, f.Data)
					if err != nil {
						off = 0
					}
					hdr := fr.hdr(i, f.Data[off:], f.Length-off, err == nil)
					data := append(hdr, f.Data[off:]...)
					// The original length too: some frames were cut by the snap length.
					out[i] = capture.Frame{Time: f.Time, Data: data, Length: len(hdr) + f.Length - off, LinkType: fr.link}
				}
				path := filepath.Join(t.TempDir(), fr.name+".pcap")
				if err := capture.WriteFile(path, fr.link, out); err != nil {
					t.Fatal(err)
				}
				if got := packetLines(t, path); !maps2Equal(got, plain) {
					t.Errorf("per-packet analysis differs over %s:\n got %v\nwant %v", fr.name, got, plain)
				}
				cut := slices.ContainsFunc(frames, func(f capture.Frame) bool { return f.Length > len(f.Data) })
				if fr.link == craft.LinkNFLOG && cut {
					return // tshark 4.0 reads no packet whose NFLOG payload the snap length cut
				}
				sameTsharkAnalysis(t, path, "over "+fr.name, theirsPlain)
			})
		}
	}
}
