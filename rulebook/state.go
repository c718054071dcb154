package rulebook

import "fmt"

// State is a TCP connection state (RFC 9293 section 3.3.2).
type State uint8

// The connection states, in the order of RFC 9293's list.
const (
	Closed State = iota
	Listen
	SynSent
	SynReceived
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
	numStates
	// Unknown is the state of an end nothing has been heard from (a
	// filtered port's peer).
	Unknown State = 255
)

var stateNames = [numStates]string{"CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED",
	"FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"}

func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// MarshalText makes states print as their names in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state name.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	if string(b) == Unknown.String() {
		*s = Unknown
		return nil
	}
	return fmt.Errorf("unknown TCP state %q", b)
}

// Synchronized reports whether the state is one of the synchronized states
// (ESTABLISHED and later, RFC 9293 section 3.5.3).
func (s State) Synchronized() bool { return s >= Established }

// Event is what happens to an endpoint, as the state diagram names it.
type Event uint8

// Events of the state diagram.
const (
	EvSendSYN    Event = iota // active OPEN: snd SYN
	EvRecvSYN                 // rcv SYN (passive side, or simultaneous open)
	EvSendSYNACK              // snd SYN,ACK
	EvRecvSYNACK              // rcv SYN,ACK that acknowledges our SYN: snd ACK
	EvRecvACKSYN              // rcv ACK of our SYN
	EvSendFIN                 // CLOSE: snd FIN
	EvRecvFIN                 // rcv FIN: snd ACK
	EvRecvACKFIN              // rcv ACK of our FIN
	EvTimeout                 // 2MSL timeout
	EvRST                     // snd or rcv (acceptable) RST
	// EvAbort ends an actively opened connection without a RST of the
	// passive kind: a RST in SYN_RECEIVED after an active OPEN (3.10.7.4
	// first check: "the connection was refused"), an ICMP hard error
	// (RFC 1122 4.2.3.9) or giving up retransmitting (RFC 9293 3.8.3).
	EvAbort
	numEvents
)

var eventNames = [numEvents]string{"send SYN", "receive SYN", "send SYN-ACK", "receive SYN-ACK", "receive ACK of SYN",
	"send FIN", "receive FIN", "receive ACK of FIN", "time out", "reset", "abort"}

func (e Event) String() string {
	if e < numEvents {
		return eventNames[e]
	}
	return "unknown event"
}

// Step returns the state after ev in state s, and false when the diagram
// of RFC 9293 section 3.3.2 has no such arc. Both the Tracker (judging a
// peer) and our own endpoint (moving itself) change states only through it.
func Step(s State, ev Event) (State, bool) {
	switch ev {
	case EvAbort:
		return Closed, true
	case EvRST:
		// RFC 9293 section 3.10.7.4: an acceptable RST closes any
		// synchronized connection; section 3.10.7.3 / 3.10.7.4: a passive
		// SYN_RECEIVED returns to LISTEN.
		if s == SynReceived {
			return Listen, true
		}
		return Closed, true
	case EvTimeout:
		if s == TimeWait {
			return Closed, true // 3.10.8: the 2MSL timer deletes the TCB
		}
	}
	switch s {
	case Closed:
		if ev == EvSendSYN {
			return SynSent, true // 3.10.1 OPEN call, active
		}
	case Listen:
		switch ev {
		case EvRecvSYN:
			return SynReceived, true // 3.10.7.2: rcv SYN, snd SYN,ACK
		case EvSendSYN:
			return SynSent, true // 3.10.4: SEND in LISTEN turns active
		case EvSendSYNACK:
			return SynReceived, true // the SYN was not seen, its answer is
		}
	case SynSent:
		switch ev {
		case EvRecvSYNACK:
			return Established, true // 3.10.7.3, fifth check
		case EvRecvSYN:
			return SynReceived, true // 3.10.7.3: simultaneous open
		case EvSendSYN:
			return SynSent, true // retransmission
		case EvSendSYNACK:
			return SynReceived, true // simultaneous open
		}
	case SynReceived:
		switch ev {
		case EvRecvACKSYN:
			return Established, true // 3.10.7.4, fifth check
		case EvSendFIN:
			return FinWait1, true // 3.10.4 CLOSE in SYN_RECEIVED
		case EvRecvFIN:
			return CloseWait, true // 3.10.7.4, eighth check
		case EvSendSYNACK, EvRecvSYN:
			return SynReceived, true // retransmissions
		case EvSendSYN:
			return SynReceived, true // crossing SYNs of a simultaneous open
		}
	case Established:
		switch ev {
		case EvSendFIN:
			return FinWait1, true // 3.10.4 CLOSE
		case EvRecvFIN:
			return CloseWait, true // 3.10.7.4, eighth check
		case EvRecvACKSYN, EvSendSYNACK, EvRecvSYNACK:
			return Established, true // duplicates of the handshake
		}
	case FinWait1:
		switch ev {
		case EvRecvACKFIN:
			return FinWait2, true
		case EvRecvFIN:
			return Closing, true
		case EvSendFIN:
			return FinWait1, true
		}
	case FinWait2:
		switch ev {
		case EvRecvFIN:
			return TimeWait, true
		}
	case CloseWait:
		switch ev {
		case EvSendFIN:
			return LastAck, true
		case EvRecvFIN:
			return CloseWait, true // retransmitted FIN
		}
	case Closing:
		switch ev {
		case EvRecvACKFIN:
			return TimeWait, true
		case EvRecvFIN, EvSendFIN:
			return Closing, true
		}
	case LastAck:
		switch ev {
		case EvRecvACKFIN:
			return Closed, true
		case EvRecvFIN, EvSendFIN:
			return LastAck, true
		}
	case TimeWait:
		switch ev {
		case EvRecvFIN, EvSendFIN:
			return TimeWait, true // 3.10.7.4: a retransmitted FIN is ACKed and restarts 2MSL
		}
	}
	return s, false
}
