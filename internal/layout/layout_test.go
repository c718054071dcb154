package layout

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/tcpprobe/tcpprobe/"

// deps returns every package of the module with its dependencies
// (transitive, the standard library and other modules included).
func deps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, mod+"...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		m[strings.TrimPrefix(f[0], mod)] = f[1:]
	}
	if len(m) < 15 {
		t.Fatalf("go list found only %d packages", len(m))
	}
	return m
}

func has(ds []string, name string) bool {
	for _, d := range ds {
		if d == name || d == mod+name {
			return true
		}
	}
	return false
}

// TestDependencyRules: the analyzer never depends on live probing, the
// lower layers never on rendering or workloads, the rulebook only on craft.
func TestDependencyRules(t *testing.T) {
	all := deps(t)
	rules := []struct {
		pkg       string
		forbidden []string
		why       string
	}{
		{"analyze", []string{"wire", "guard", "inject", "endpoint", "report", "github.com/google/nftables", "github.com/mdlayher/netlink"},
			"a pcap analyzer needs no raw sockets, firewall or renderer"},
		{"rulebook", []string{"capture", "wire", "guard", "inject", "endpoint", "report", "ladder", "github.com/gopacket/gopacket"},
			"the rulebook is pure: it imports craft only"},
		{"ladder", []string{"capture", "wire", "guard", "inject", "endpoint", "report"}, "the ladder is data built from rulebook segments"},
		{"craft", []string{"rulebook", "capture", "wire", "report"}, "craft is the bottom layer"},
	}
	for _, low := range []string{"craft", "rulebook", "capture", "inject", "guard", "wire", "ladder", "endpoint"} {
		rules = append(rules, struct {
			pkg       string
			forbidden []string
			why       string
		}{low, []string{"report", "handshake", "keepalive", "send", "scan", "trace", "analyze", "conform", "script"}, "lower layers never import rendering or workloads"})
	}
	for _, r := range rules {
		ds, ok := all[r.pkg]
		if !ok {
			t.Errorf("package %s not found", r.pkg)
			continue
		}
		for _, f := range r.forbidden {
			if has(ds, f) {
				t.Errorf("%s depends on %s: %s", r.pkg, f, r.why)
			}
		}
	}
	// rulebook: craft and the standard library only.
	for _, d := range all["rulebook"] {
		if strings.Contains(d, ".") && d != mod+"craft" {
			t.Errorf("rulebook depends on %s: it may import craft only", d)
		}
	}
	// Nothing but the command imports report; the testing package stays
	// out of the binary.
	for pkg, ds := range all {
		if has(ds, "report") && !strings.HasPrefix(pkg, "cmd/") {
			t.Errorf("%s imports report: only cmd/ renders", pkg)
		}
	}
	if has(all["cmd/tcpprobe"], "testing") {
		t.Error("the tcpprobe binary links the testing package (test helpers belong in *test packages)")
	}
	// gVisor's netstack lives in its own command only: tcpprobe does not
	// carry it.
	for pkg, ds := range all {
		if pkg != "cmd/tcpprobe-netstack" && has(ds, "gvisor.dev/gvisor/pkg/tcpip") {
			t.Errorf("%s depends on gVisor's netstack: only cmd/tcpprobe-netstack may", pkg)
		}
	}
	if !has(all["cmd/tcpprobe-netstack"], "gvisor.dev/gvisor/pkg/tcpip") {
		t.Error("cmd/tcpprobe-netstack does not use netstack: the check above tests nothing")
	}
}
