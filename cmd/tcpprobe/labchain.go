//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tcpprobe/tcpprobe/lab"
)

// chainOpts are lab's router-chain flags: --hops N builds a chain of N
// routers between this host and the target, --middlebox makes routers
// rewrite what they forward.
type chainOpts struct {
	hops        int
	middleboxes []string
}

// chainUp builds the chain lab: routers, middleboxes, the target's servers.
func chainUp(ctx context.Context, cfg lab.Config, co chainOpts, stdout io.Writer) error {
	if co.hops > 8 || len(cfg.Name) > 6 {
		return usageErr("--hops %d: a chain has 1-8 routers and a name of at most 6 characters (--name)", co.hops)
	}
	if cfg.Stack != lab.StackLinux || len(cfg.Profiles) > 0 {
		return usageErr("--hops builds Linux routers and a Linux target: it does not go with --stack gvisor or --profile yet")
	}
	type mb struct {
		hop     int
		actions []string
	}
	var mbs []mb
	for _, m := range co.middleboxes {
		hop, actions, err := lab.ParseMiddlebox(m)
		if err != nil {
			return usageErr("--middlebox: %v", err)
		}
		if hop > co.hops {
			return usageErr("--middlebox %s: the chain has routers 1-%d", m, co.hops)
		}
		mbs = append(mbs, mb{hop, actions})
	}
	if os.Geteuid() != 0 {
		return withCode(exitPrivilege, errors.New("lab up needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN to create namespaces and interfaces)"))
	}
	stopServer(cfg.Name)
	if old, ok := lab.FindChain(cfg.Name, cfg.Subnet); ok {
		old.Down()
	}
	c, err := lab.UpChain(cfg.Name, cfg.Subnet, co.hops)
	if err != nil {
		return err
	}
	for _, m := range mbs {
		if err := c.Middlebox(m.hop, m.actions); err != nil {
			c.Down()
			return err
		}
	}
	if err := startServer(cfg, "--hops", strconv.Itoa(co.hops)); err != nil {
		c.Down()
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for !echoAnswers(c.Target4) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			stopServer(cfg.Name)
			c.Down()
			return fmt.Errorf("lab servers did not start (see %s/lab-%s.log)", runDir, cfg.Name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(stdout, "lab %s is up: %d routers\n", cfg.Name, co.hops)
	for _, m := range co.middleboxes {
		fmt.Fprintf(stdout, "middlebox %s\n", m)
	}
	return chainStatus(cfg, stdout)
}

// chainStatus prints the chain's hops and the target's ports.
func chainStatus(cfg lab.Config, stdout io.Writer) error {
	c, ok := lab.FindChain(cfg.Name, cfg.Subnet)
	if !ok {
		fmt.Fprintf(stdout, "lab %s: not up\n", cfg.Name)
		return withCode(exitNoAnswer, errors.New(""))
	}
	state := "servers running"
	if serverPid(cfg.Name) == 0 {
		state = "servers NOT running"
	}
	fmt.Fprintf(stdout, "chain %s (%d routers), %s; host side %s\n", cfg.Name, len(c.Routers), state, c.HostLink)
	for i := range c.Routers {
		fmt.Fprintf(stdout, "  hop %d  router  %v %v\n", i+1, c.Hops4[i], c.Hops6[i])
	}
	fmt.Fprintf(stdout, "  hop %d  target  %v %v\n", len(c.Routers)+1, c.Target4, c.Target6)
	var ports []string
	for _, s := range lab.Catalog(cfg) {
		if s.Port == lab.PortDropped || s.Port == lab.PortRejected {
			continue // no firewall on a chain's target
		}
		ports = append(ports, fmt.Sprintf("%d %s", s.Port, s.Name))
	}
	fmt.Fprintf(stdout, "target ports: %s\n", strings.Join(ports, ", "))
	if state != "servers running" {
		return silent{exitNoAnswer}
	}
	return nil
}

// chainServe runs the servers of a chain's target until a signal or until
// the chain is gone.
func chainServe(ctx context.Context, cfg lab.Config) error {
	c, ok := lab.FindChain(cfg.Name, cfg.Subnet)
	if !ok {
		return fmt.Errorf("chain %s does not exist", cfg.Name)
	}
	l, err := c.Lab(cfg)
	if err != nil {
		return err
	}
	srv, err := l.StartServers(ctx)
	if err != nil {
		return err
	}
	defer srv.Close()
	untilGone(ctx, func() bool {
		_, ok := lab.FindChain(cfg.Name, cfg.Subnet)
		return ok
	})
	return nil
}

// chainDown removes the chain called cfg.Name, if there is one.
func chainDown(cfg lab.Config) bool {
	c, ok := lab.FindChain(cfg.Name, cfg.Subnet)
	if ok {
		stopServer(cfg.Name)
		c.Down()
	}
	return ok
}
