package scan

import (
	"fmt"

	"github.com/tcpprobe/tcpprobe/craft"
)

// Kind is a probe kind, named as nmap's scan types.
type Kind string

// Probe kinds.
const (
	KindSYN    Kind = "syn"
	KindFIN    Kind = "fin"
	KindNULL   Kind = "null"
	KindXmas   Kind = "xmas"
	KindACK    Kind = "ack"
	KindWindow Kind = "window"
	KindCustom Kind = "custom"
)

// FlagsOf returns the TCP flags a probe kind sends.
func FlagsOf(k Kind) (craft.Flags, error) {
	switch k {
	case KindSYN:
		return craft.SYN, nil
	case KindFIN:
		return craft.FIN, nil
	case KindNULL:
		return 0, nil
	case KindXmas:
		return craft.FIN | craft.PSH | craft.URG, nil
	case KindACK, KindWindow:
		return craft.ACK, nil
	}
	return 0, fmt.Errorf("unknown probe kind %q: want syn, fin, null, xmas, ack or window", k)
}

// State is a port state with nmap's meaning.
type State string

// Port states.
const (
	Open         State = "open"
	Closed       State = "closed"
	Filtered     State = "filtered"
	Unfiltered   State = "unfiltered"
	OpenFiltered State = "open|filtered"
	NotScanned   State = "not-scanned" // the run ended before the probe was sent
)

// Answer is what came back for a probe.
type Answer struct {
	None     bool // no valid reply after the retries
	Flags    craft.Flags
	Window   uint16
	ICMP     bool
	ICMPType uint8
	ICMPCode uint8
	V6       bool
}

// filteringICMP reports the ICMP unreachable codes nmap counts as
// "filtered": v4 type 3 codes 0, 1, 2, 3, 9, 10, 13; every v6 type 1 code.
func filteringICMP(a Answer) bool {
	if a.V6 {
		return a.ICMPType == craft.ICMPv6Unreachable
	}
	if a.ICMPType != craft.ICMPv4Unreachable {
		return false
	}
	switch a.ICMPCode {
	case 0, 1, 2, 3, 9, 10, 13:
		return true
	}
	return false
}

// Classify turns a probe kind and its answer into a port state and the
// reason, as nmap reports them.
func Classify(k Kind, sent craft.Flags, a Answer) (State, string) {
	if a.ICMP {
		if !filteringICMP(a) {
			// Other ICMP messages say nothing about the port: as no answer.
			return Classify(k, sent, Answer{None: true})
		}
		if a.V6 {
			return Filtered, fmt.Sprintf("icmp6-unreach type %d code %d", a.ICMPType, a.ICMPCode)
		}
		return Filtered, fmt.Sprintf("icmp-unreach type %d code %d", a.ICMPType, a.ICMPCode)
	}
	if k == KindCustom {
		switch {
		case sent&craft.SYN != 0:
			k = KindSYN
		case sent&craft.ACK != 0:
			k = KindACK
		default:
			k = KindFIN
		}
	}
	rst := !a.None && a.Flags&craft.RST != 0
	switch k {
	case KindSYN:
		switch {
		case a.None:
			return Filtered, "no-response"
		case a.Flags.Has(craft.SYN | craft.ACK):
			return Open, "syn-ack"
		case a.Flags&craft.SYN != 0:
			return Open, "syn" // a split handshake / simultaneous open
		case rst:
			return Closed, "reset"
		}
	case KindFIN, KindNULL, KindXmas:
		switch {
		case a.None:
			return OpenFiltered, "no-response"
		case rst:
			return Closed, "reset"
		}
	case KindACK:
		switch {
		case a.None:
			return Filtered, "no-response"
		case rst:
			return Unfiltered, "reset"
		}
	case KindWindow:
		switch {
		case a.None:
			return Filtered, "no-response"
		case rst && a.Window > 0:
			return Open, fmt.Sprintf("reset win %d", a.Window)
		case rst:
			return Closed, "reset win 0"
		}
	}
	return Filtered, "unexpected " + a.Flags.String()
}
