package handshake

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
	*s = State(255)
	return nil
}

// Synchronized reports whether the state is one of the synchronized states
// (ESTABLISHED and later, RFC 9293 section 3.5.3).
func (s State) Synchronized() bool { return s >= Established }

// event is what happens to an endpoint, as the state diagram names it.
type event uint8

const (
	evSendSYN    event = iota // active OPEN: snd SYN
	evRecvSYN                 // rcv SYN (passive side, or simultaneous open)
	evSendSYNACK              // snd SYN,ACK
	evRecvSYNACK              // rcv SYN,ACK that acknowledges our SYN: snd ACK
	evRecvACKSYN              // rcv ACK of our SYN
	evSendFIN                 // CLOSE: snd FIN
	evRecvFIN                 // rcv FIN: snd ACK
	evRecvACKFIN              // rcv ACK of our FIN
	evTimeout                 // 2MSL timeout
	evRST                     // snd or rcv (acceptable) RST
)

// transition returns the state after ev in state s, and false when the
// diagram of RFC 9293 section 3.3.2 has no such arc.
func transition(s State, ev event) (State, bool) {
	switch ev {
	case evRST:
		// RFC 9293 section 3.10.7.4: an acceptable RST closes any
		// synchronized connection; section 3.10.7.3 / 3.10.7.4: a passive
		// SYN_RECEIVED returns to LISTEN.
		if s == SynReceived {
			return Listen, true
		}
		return Closed, true
	case evTimeout:
		if s == TimeWait {
			return Closed, true // 3.10.8: the 2MSL timer deletes the TCB
		}
	}
	switch s {
	case Closed:
		if ev == evSendSYN {
			return SynSent, true // 3.10.1 OPEN call, active
		}
	case Listen:
		switch ev {
		case evRecvSYN:
			return SynReceived, true // 3.10.7.2: rcv SYN, snd SYN,ACK
		case evSendSYN:
			return SynSent, true // 3.10.4: SEND in LISTEN turns active
		case evSendSYNACK:
			return SynReceived, true // the SYN was not seen, its answer is
		}
	case SynSent:
		switch ev {
		case evRecvSYNACK:
			return Established, true // 3.10.7.3, fifth check
		case evRecvSYN:
			return SynReceived, true // 3.10.7.3: simultaneous open
		case evSendSYN:
			return SynSent, true // retransmission
		case evSendSYNACK:
			return SynReceived, true // simultaneous open
		}
	case SynReceived:
		switch ev {
		case evRecvACKSYN:
			return Established, true // 3.10.7.4, fifth check
		case evSendFIN:
			return FinWait1, true // 3.10.4 CLOSE in SYN_RECEIVED
		case evRecvFIN:
			return CloseWait, true // 3.10.7.4, eighth check
		case evSendSYNACK, evRecvSYN:
			return SynReceived, true // retransmissions
		case evSendSYN:
			return SynReceived, true // crossing SYNs of a simultaneous open
		}
	case Established:
		switch ev {
		case evSendFIN:
			return FinWait1, true // 3.10.4 CLOSE
		case evRecvFIN:
			return CloseWait, true // 3.10.7.4, eighth check
		case evRecvACKSYN, evSendSYNACK, evRecvSYNACK:
			return Established, true // duplicates of the handshake
		}
	case FinWait1:
		switch ev {
		case evRecvACKFIN:
			return FinWait2, true
		case evRecvFIN:
			return Closing, true
		case evSendFIN:
			return FinWait1, true
		}
	case FinWait2:
		switch ev {
		case evRecvFIN:
			return TimeWait, true
		}
	case CloseWait:
		switch ev {
		case evSendFIN:
			return LastAck, true
		case evRecvFIN:
			return CloseWait, true // retransmitted FIN
		}
	case Closing:
		switch ev {
		case evRecvACKFIN:
			return TimeWait, true
		case evRecvFIN, evSendFIN:
			return Closing, true
		}
	case LastAck:
		switch ev {
		case evRecvACKFIN:
			return Closed, true
		case evRecvFIN, evSendFIN:
			return LastAck, true
		}
	case TimeWait:
		switch ev {
		case evRecvFIN, evSendFIN:
			return TimeWait, true // 3.10.7.4: a retransmitted FIN is ACKed and restarts 2MSL
		}
	}
	return s, false
}
