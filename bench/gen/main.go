//go:build linux

// Command gen makes a large capture of real Linux TCP traffic for the
// analyze benchmark: it builds a lab, lowers the veth MTU so bulk
// transfers make many packets, drops a little of them with nftables so
// there are retransmissions, runs many short connections and a few bulk
// ones through the lab's servers, and records everything on the host side
// of the veth.
//
//	go run ./bench/gen -out /var/tmp/tcpprobe-bench.pcap -packets 2000000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/lab"
)

func main() {
	out := flag.String("out", "/var/tmp/tcpprobe-bench.pcap", "capture file to write")
	target := flag.Int64("packets", 2_000_000, "stop once this many packets are captured")
	short := flag.Int("short", 20000, "short echo connections")
	subnet := flag.Int("subnet", 202, "lab subnet")
	flag.Parse()
	if err := run(*out, *target, *short, *subnet); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out string, target int64, short, subnet int) error {
	l, err := lab.Up(lab.Config{Name: "benchgen", Subnet: subnet})
	if err != nil {
		return err
	}
	defer l.Down()
	srv, err := l.StartServers(context.Background())
	if err != nil {
		return err
	}
	defer srv.Close()
	for _, c := range [][]string{{"ip", "link", "set", l.HostIface, "mtu", "300"}} {
		if b, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", c, b)
		}
	}
	if err := l.NS.Run("ip", "link", "set", "eth0", "mtu", "300"); err != nil {
		return err
	}
	if err := l.NS.Run("nft", "add", "rule", "inet", "tplab", "in", "tcp", "dport", "9", "meta", "length", "gt", "100", "numgen", "random", "mod", "200", "==", "0", "drop"); err != nil {
		return err
	}
	live, err := capture.OpenLiveWith(l.HostIface, "tcp", capture.LiveOptions{BufferSize: 256 << 20})
	if err != nil {
		return err
	}
	w, err := capture.CreateFile(out, live.LinkType())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var captured atomic.Int64
	done := make(chan error, 1)
	go func() {
		for {
			f, err := live.Next(ctx)
			if err != nil {
				done <- nil
				return
			}
			if err := w.Write(f); err != nil {
				done <- err
				return
			}
			captured.Add(1)
		}
	}()
	echo := netip.AddrPortFrom(l.Target4, lab.PortEcho).String()
	discard := netip.AddrPortFrom(l.Target4, lab.PortDiscard).String()
	// Short connections, 32 at a time.
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 100)
			for range jobs {
				c, err := net.DialTimeout("tcp", echo, time.Second)
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(2 * time.Second))
				c.Write(buf)
				io.ReadFull(c, buf)
				c.Close()
			}
		}()
	}
	for i := 0; i < short; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	// Bulk transfers until the capture holds enough packets.
	chunk := make([]byte, 1<<20)
	for captured.Load() < target {
		var bw sync.WaitGroup
		for range 4 {
			bw.Add(1)
			go func() {
				defer bw.Done()
				c, err := net.Dial("tcp", discard)
				if err != nil {
					return
				}
				for i := 0; i < 16 && captured.Load() < target; i++ {
					c.Write(chunk)
				}
				c.Close()
			}()
		}
		bw.Wait()
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		w.Abort()
		return err
	}
	recv, dropped, _ := live.Stats()
	live.Close()
	if err := w.Close(); err != nil {
		return err
	}
	fmt.Printf("%s: %d packets captured (kernel: %d received, %d dropped)\n", out, captured.Load(), recv, dropped)
	return nil
}
