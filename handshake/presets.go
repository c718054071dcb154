package handshake

import (
	"fmt"

	"github.com/tcpprobe/tcpprobe/craft"
)

// SYNPreset returns the SYN options a common stack sends, in its order,
// with mss as the MSS value. The timestamps value is filled in when sent.
//
//	linux:   mss, sackOK, TS, nop, wscale 7
//	windows: mss, nop, wscale 8, nop, nop, sackOK
//	bsd:     mss, nop, wscale 6, nop, nop, TS, sackOK, eol (macOS/FreeBSD)
//	none:    no options
func SYNPreset(name string, mss uint16) ([]craft.Option, error) {
	switch name {
	case "linux":
		return []craft.Option{craft.MSSOption(mss), craft.SACKPermittedOption(), craft.TimestampsOption(0, 0), craft.NOPOption(), craft.WindowScaleOption(7)}, nil
	case "windows":
		return []craft.Option{craft.MSSOption(mss), craft.NOPOption(), craft.WindowScaleOption(8), craft.NOPOption(), craft.NOPOption(), craft.SACKPermittedOption()}, nil
	case "bsd":
		return []craft.Option{craft.MSSOption(mss), craft.NOPOption(), craft.WindowScaleOption(6), craft.NOPOption(), craft.NOPOption(), craft.TimestampsOption(0, 0), craft.SACKPermittedOption(), craft.EOLOption()}, nil
	case "none":
		return nil, nil
	}
	return nil, fmt.Errorf("unknown SYN option preset %q: want linux, windows, bsd or none", name)
}
