//go:build linux

package guard

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/tcpprobe/tcpprobe/internal/privilege"
)

// TablePrefix starts the name of every table tcpprobe creates.
const TablePrefix = "tcpprobe_"

var tableSeq atomic.Uint32

// Guard owns one nftables table for the life of a probe.
type Guard struct {
	mu     sync.Mutex
	conn   *nftables.Conn
	table  *nftables.Table
	chain  *nftables.Chain
	rules  map[[2]netip.AddrPort]*nftables.Rule
	closed bool
}

// Option configures New.
type Option func(*[]nftables.ConnOption)

// InNetNS makes the guard work in the network namespace behind fd.
func InNetNS(fd int) Option {
	return func(o *[]nftables.ConnOption) { *o = append(*o, nftables.WithNetNSFd(fd)) }
}

// flushMu makes the process's guards send their nftables batches one at a
// time: with several guards made and closed at once (conform --parallel)
// the kernel was seen to refuse a rule for a table just created
// (NFT_MSG_NEWRULE: ENOENT).
var flushMu sync.Mutex

func flush(c *nftables.Conn) error {
	flushMu.Lock()
	defer flushMu.Unlock()
	return c.Flush()
}

// New creates the guard's table and output chain. It needs CAP_NET_ADMIN.
func New(opts ...Option) (*Guard, error) {
	copts := []nftables.ConnOption{nftables.AsLasting()}
	for _, o := range opts {
		o(&copts)
	}
	conn, err := nftables.New(copts...)
	if err != nil {
		return nil, privilege.Check("nftables", "CAP_NET_ADMIN", err)
	}
	g := &Guard{conn: conn, rules: map[[2]netip.AddrPort]*nftables.Rule{}}
	g.table = conn.AddTable(&nftables.Table{
		Name:   TablePrefix + strconv.Itoa(os.Getpid()) + "_" + strconv.Itoa(int(tableSeq.Add(1))),
		Family: nftables.TableFamilyINet,
		Flags:  nftables.TableFlagOwner,
	})
	prio := nftables.ChainPriority(-150)
	policy := nftables.ChainPolicyAccept
	g.chain = conn.AddChain(&nftables.Chain{
		Name:     "out",
		Table:    g.table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookOutput,
		Priority: &prio,
		Policy:   &policy,
	})
	if err := flush(conn); err != nil {
		conn.CloseLasting()
		return nil, privilege.Check("create nftables table", "CAP_NET_ADMIN", err)
	}
	return g, nil
}

// Table is the name of the guard's nftables table.
func (g *Guard) Table() string { return g.table.Name }

// DropRST drops outgoing RSTs from local to remote until Allow or Close.
func (g *Guard) DropRST(local, remote netip.AddrPort) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	if local.Addr().Is4() != remote.Addr().Is4() {
		return fmt.Errorf("guard: %v and %v are of different ip versions", local, remote)
	}
	key := [2]netip.AddrPort{local, remote}
	if _, ok := g.rules[key]; ok {
		return nil
	}
	r, err := g.addRule(&nftables.Rule{Table: g.table, Chain: g.chain, Exprs: rstRuleExprs(local, remote), UserData: ruleTag(local, remote)})
	if err != nil {
		return err
	}
	g.rules[key] = r
	return nil
}

// addRule adds r. When the kernel answers that the table or chain is not
// there (NFT_MSG_NEWRULE: ENOENT, about once in thirty test runs with
// guards made and closed in parallel; likely the kernel's cleanup of a
// closed socket's owned tables reaching a new socket that took the same
// port ID), r is sent once more; if the table is gone, it goes in one
// batch with the table, the chain and the rules already added.
func (g *Guard) addRule(r *nftables.Rule) (*nftables.Rule, error) {
	added := g.conn.AddRule(r)
	err := flush(g.conn)
	if errors.Is(err, syscall.ENOENT) {
		if _, lerr := g.conn.ListTableOfFamily(g.table.Name, g.table.Family); lerr != nil {
			// The table is gone, and its rules with it.
			g.conn.AddTable(g.table)
			g.conn.AddChain(g.chain)
			for k, old := range g.rules {
				g.rules[k] = g.conn.AddRule(&nftables.Rule{Table: g.table, Chain: g.chain, Exprs: old.Exprs, UserData: old.UserData})
			}
		}
		added = g.conn.AddRule(r)
		err = flush(g.conn)
	}
	if err != nil {
		return nil, privilege.Check("add nftables rule", "CAP_NET_ADMIN", err)
	}
	return added, nil
}

// Allow removes the rule for local→remote: our kernel may reset that flow
// again. Sessions that serve many connections call it for the old one.
func (g *Guard) Allow(local, remote netip.AddrPort) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := [2]netip.AddrPort{local, remote}
	if _, ok := g.rules[key]; !ok || g.closed {
		return nil
	}
	r, err := g.find(local, remote)
	if err != nil {
		return err
	}
	if err := g.conn.DelRule(r); err != nil {
		return err
	}
	if err := flush(g.conn); err != nil {
		return fmt.Errorf("delete nftables rule: %w", err)
	}
	delete(g.rules, key)
	return nil
}

// ruleTag is the UserData that names a rule by its flow: rules are found
// again by it (with the handle the kernel gave them), never by comparing
// their expressions.
func ruleTag(local, remote netip.AddrPort) []byte {
	return []byte(local.String() + ">" + remote.String())
}

// find returns the kernel's copy of the rule for local→remote, with its
// handle and counter.
func (g *Guard) find(local, remote netip.AddrPort) (*nftables.Rule, error) {
	rules, err := g.conn.GetRules(g.table, g.chain)
	if err != nil {
		return nil, fmt.Errorf("list nftables rules: %w", err)
	}
	tag := ruleTag(local, remote)
	for _, r := range rules {
		if bytes.Equal(r.UserData, tag) {
			return r, nil
		}
	}
	return nil, fmt.Errorf("no guard rule for %v -> %v", local, remote)
}

// DropRSTFrom drops every outgoing RST from local, to any peer (for scans,
// whose peers are many).
func (g *Guard) DropRSTFrom(local netip.AddrPort) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	_, err := g.addRule(&nftables.Rule{Table: g.table, Chain: g.chain, Exprs: rstFromPortExprs(local)})
	return err
}

// Dropped returns how many RSTs the rule for local→remote has dropped.
func (g *Guard) Dropped(local, remote netip.AddrPort) (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, err := g.find(local, remote)
	if err != nil {
		return 0, err
	}
	for _, e := range r.Exprs {
		if c, ok := e.(*expr.Counter); ok {
			return c.Packets, nil
		}
	}
	return 0, fmt.Errorf("guard rule for %v -> %v has no counter", local, remote)
}

// Close deletes the table and closes the netlink socket. It is safe to call
// more than once.
func (g *Guard) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	g.conn.DelTable(g.table)
	err := flush(g.conn)
	if cerr := g.conn.CloseLasting(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("remove nftables table %s: %w", g.table.Name, err)
	}
	return nil
}
