//go:build cgo

package capture

import (
	"fmt"
	"sync"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// CompileFilter compiles a BPF expression (tcpdump syntax) for matching
// frames read from files; it is compiled once per link type met.
func CompileFilter(expr string) (func(data []byte, linkType int) bool, error) {
	// Check the syntax now, for Ethernet.
	if _, err := pcap.NewBPF(layers.LinkTypeEthernet, 65535, expr); err != nil {
		return nil, fmt.Errorf("filter %q: %w", expr, err)
	}
	var mu sync.Mutex
	progs := map[int]*pcap.BPF{}
	return func(data []byte, linkType int) bool {
		mu.Lock()
		defer mu.Unlock()
		p, ok := progs[linkType]
		if !ok {
			var err error
			p, err = pcap.NewBPF(layers.LinkType(linkType), 65535, expr)
			if err != nil {
				p = nil
			}
			progs[linkType] = p
		}
		if p == nil {
			return false
		}
		return p.Matches(gopacket.CaptureInfo{CaptureLength: len(data), Length: len(data)}, data)
	}, nil
}
