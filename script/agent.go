package script

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/tcpprobe/tcpprobe/internal/agent"
)

// Calls makes a script's syscall lines on the target: Executor on a
// Linux lab target (sockets made in its namespace), AgentExecutor through
// an agent in the target's stack (tcpprobe-netstack).
type Calls interface {
	// SetPeer says what connect's "..." means: our address and port.
	SetPeer(netip.AddrPort)
	Exec(*Call) CallResult
	// Abort ends every socket of the run at once; a call blocked on one
	// returns.
	Abort()
	// Close releases what is left, once no call runs.
	Close()
}

// AgentExecutor makes syscall lines through an agent listening on a Unix
// socket (internal/agent's protocol): tcpprobe-netstack runs them on
// netstack's own endpoints.
type AgentExecutor struct {
	Path   string
	Local  netip.AddrPort
	Mapped bool

	peer  netip.AddrPort
	wmu   sync.Mutex // writes: Exec and Abort
	conn  net.Conn
	enc   *json.Encoder
	dec   *json.Decoder
	dialE error
}

// SetPeer sets connect's address.
func (a *AgentExecutor) SetPeer(p netip.AddrPort) { a.peer = p }

func (a *AgentExecutor) dial() error {
	if a.conn != nil || a.dialE != nil {
		return a.dialE
	}
	c, err := net.Dial("unix", a.Path)
	if err != nil {
		a.dialE = fmt.Errorf("the stack's agent: %w", err)
		return a.dialE
	}
	a.conn, a.enc, a.dec = c, json.NewEncoder(c), json.NewDecoder(bufio.NewReader(c))
	return a.enc.Encode(agent.Hello{Local: a.Local.String(), Peer: a.peer.String(), Mapped: a.Mapped})
}

// Exec sends the call and waits for its reply (one call at a time).
func (a *AgentExecutor) Exec(c *Call) CallResult {
	a.wmu.Lock()
	err := a.dial()
	if err == nil {
		err = a.enc.Encode(agent.Request{Name: c.Name, Args: c.Args, Ret: c.Ret})
	}
	a.wmu.Unlock()
	if err != nil {
		return CallResult{Err: err}
	}
	var r agent.Reply
	if err := a.dec.Decode(&r); err != nil {
		return CallResult{Err: fmt.Errorf("the stack's agent: %w", err)}
	}
	res := CallResult{Ret: r.Ret, Errno: r.Errno}
	res.Start, res.End = r.Times()
	if r.Err != "" {
		res.Err = errors.New(r.Err)
	}
	return res
}

// Abort tells the agent to abort the run's sockets.
func (a *AgentExecutor) Abort() {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	if a.enc != nil {
		a.enc.Encode(agent.Request{Abort: true})
	}
}

// Close ends the run: the agent closes what is left.
func (a *AgentExecutor) Close() {
	if a.conn != nil {
		a.conn.Close()
	}
}
