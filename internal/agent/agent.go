// Package agent is the wire format between `tcpprobe script` and an
// agent that makes a script's syscall lines on a TCP stack tcpprobe
// cannot reach by setns, such as tcpprobe-netstack's: JSON objects, one
// per line, over a Unix socket. A connection is one script run; when it
// ends, the agent aborts and closes every socket the run opened.
package agent

import "time"

// Hello opens a run: the addresses bind's and connect's "..." mean.
type Hello struct {
	Local  string `json:"local"`  // the target's address and port
	Peer   string `json:"peer"`   // tcpprobe's address and port
	Mapped bool   `json:"mapped"` // IPv6 sockets on an IPv4 wire
}

// Request is one syscall line (Ret is what the line expects: the number
// socket and accept give the new descriptor), or, with Abort, the order
// to abort every socket of the run at once (a call blocked on one
// returns).
type Request struct {
	Name  string   `json:"name,omitempty"`
	Args  []string `json:"args,omitempty"`
	Ret   int64    `json:"ret,omitempty"`
	Abort bool     `json:"abort,omitempty"`
}

// Reply is what the call returned and when (Unix nanoseconds). Err is set
// when the call could not be made as written.
type Reply struct {
	Ret   int64  `json:"ret"`
	Errno string `json:"errno,omitempty"`
	Start int64  `json:"start"`
	End   int64  `json:"end"`
	Err   string `json:"err,omitempty"`
}

// Times converts the reply's times.
func (r *Reply) Times() (start, end time.Time) {
	return time.Unix(0, r.Start), time.Unix(0, r.End)
}
