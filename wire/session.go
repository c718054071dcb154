package wire

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/guard"
	"github.com/tcpprobe/tcpprobe/inject"
)

// LabOnlyEnv names the environment variable that, when set, confines
// probes to loopback and the lab's veth interfaces (tp*). The tests and the
// demo set it, so a wrong address can never leave the machine.
const LabOnlyEnv = "TCPPROBE_LAB_ONLY"

// CheckLabOnly refuses a route that leaves through anything but loopback
// or a lab interface when LabOnlyEnv is set.
func CheckLabOnly(rt inject.Route) error { return labOnly(rt) }

func labOnly(rt inject.Route) error {
	if os.Getenv(LabOnlyEnv) == "" || rt.Iface == "lo" || strings.HasPrefix(rt.Iface, "tp") {
		return nil
	}
	return fmt.Errorf("%w to probe %v through %s: %s is set, only loopback and lab interfaces are allowed", ErrRefused, rt.Dst, rt.Iface, LabOnlyEnv)
}

// Session is one probe's flow on the wire.
type Session struct {
	Local, Remote netip.AddrPort
	Route         inject.Route

	live   *capture.Live
	sender *inject.Sender
	res    *inject.Reservation
	guard  *guard.Guard
	events chan *Event
	cancel context.CancelFunc
	done   chan struct{}
	buf    [craft.MaxPacket]byte
	sendMu sync.Mutex

	recMu   sync.Mutex
	record  bool
	frames  []capture.Frame
	readErr error
	flow    atomic.Pointer[flow] // the 4-tuple the reader delivers
}

type flow struct{ local, remote netip.AddrPort }

// Open sets up the session: route, port, guard, capture and raw socket,
// in that order, undoing what was done on error.
func Open(cfg Config) (s *Session, err error) {
	remote := netip.AddrPortFrom(cfg.Remote.Addr().Unmap(), cfg.Remote.Port())
	rt, err := inject.RouteTo(remote.Addr())
	if err != nil {
		return nil, err
	}
	if err := labOnly(rt); err != nil {
		return nil, err
	}
	if cfg.Iface != "" && cfg.Iface != rt.Iface {
		return nil, fmt.Errorf("%w: the route to %v leaves through %s, not %s", ErrRefused, remote.Addr(), rt.Iface, cfg.Iface)
	}
	if cfg.Source.IsValid() {
		if err := onInterface(cfg.Source.Unmap(), rt.Iface); err != nil {
			return nil, err
		}
		rt.Src = cfg.Source.Unmap()
	}
	s = &Session{Remote: remote, Route: rt, events: make(chan *Event, 4096), done: make(chan struct{}), record: cfg.Record}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.res, err = inject.ReservePort(rt.Src, cfg.SrcPort); err != nil {
		return s, err
	}
	s.Local = netip.AddrPortFrom(rt.Src, s.res.Port)
	if cfg.Guard {
		if s.guard, err = guard.New(); err != nil {
			return s, err
		}
		if err = s.guard.DropRST(s.Local, s.Remote); err != nil {
			return s, err
		}
	}
	filterLocal := s.Local
	if cfg.Reusable {
		filterLocal = netip.AddrPortFrom(s.Local.Addr(), 0)
	}
	s.flow.Store(&flow{s.Local, s.Remote})
	if s.live, err = capture.OpenLive(rt.Iface, capture.ProbeFilter(filterLocal, s.Remote)); err != nil {
		return s, err
	}
	if s.sender, err = inject.NewSender(remote.Addr().Is6()); err != nil {
		return s, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.read(ctx)
	return s, nil
}

func (s *Session) read(ctx context.Context) {
	defer close(s.done)
	defer close(s.events)
	for {
		f, err := s.live.Next(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				s.recMu.Lock()
				s.readErr = err
				s.recMu.Unlock()
			}
			return
		}
		off, err := craft.IPOffset(f.LinkType, f.Data)
		if err != nil {
			continue
		}
		ev := &Event{Time: f.Time, Raw: f.Data[off:]}
		if ev.Pkt.Decode(ev.Raw) != nil {
			continue
		}
		fl := s.flow.Load()
		dir, ok := FlowMatches(&ev.Pkt, fl.local, fl.remote)
		if !ok {
			continue
		}
		ev.Dir = dir
		if s.record {
			s.recMu.Lock()
			s.frames = append(s.frames, f)
			s.recMu.Unlock()
		}
		select {
		case s.events <- ev:
		default: // a consumer that stopped reading loses events, not the reader
		}
	}
}

// Rebind moves a Reusable session to a new source port: a new reservation
// and guard rule; the capture and the raw socket stay. Events and recorded
// frames of the old port are dropped.
func (s *Session) Rebind() error {
	res, err := inject.ReservePort(s.Local.Addr(), 0)
	if err != nil {
		return err
	}
	local := netip.AddrPortFrom(s.Local.Addr(), res.Port)
	if s.guard != nil {
		if err := s.guard.DropRST(local, s.Remote); err != nil {
			res.Close()
			return err
		}
		if err := s.guard.Allow(s.Local, s.Remote); err != nil {
			res.Close()
			return err
		}
	}
	s.res.Close()
	s.res, s.Local = res, local
	s.flow.Store(&flow{local, s.Remote})
	for {
		select {
		case <-s.events:
			continue
		default:
		}
		break
	}
	s.recMu.Lock()
	s.frames = s.frames[:0]
	s.recMu.Unlock()
	return nil
}

// fill gives seg the session's addresses and ports where it has none.
func (s *Session) fill(seg *craft.Segment) {
	if !seg.Src.IsValid() {
		seg.Src = s.Local.Addr()
	}
	if !seg.Dst.IsValid() {
		seg.Dst = s.Remote.Addr()
	}
	if seg.TCP.SrcPort == 0 {
		seg.TCP.SrcPort = s.Local.Port()
	}
	if seg.TCP.DstPort == 0 {
		seg.TCP.DstPort = s.Remote.Port()
	}
}

// Send fills in the addresses and ports of seg (when zero) and puts it on
// the wire.
func (s *Session) Send(seg *craft.Segment) error {
	s.fill(seg)
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	n, err := seg.Encode(s.buf[:])
	if err != nil {
		return fmt.Errorf("build segment: %w", err)
	}
	return s.sender.Send(s.buf[:n], seg.Dst)
}

// SendFragmented puts seg on the wire as IP fragments that fit the route
// interface's MTU (a segment larger than the link, as a script may ask
// for; the peer reassembles it) and returns the whole datagram as built.
func (s *Session) SendFragmented(seg *craft.Segment) ([]byte, error) {
	s.fill(seg)
	ifc, err := net.InterfaceByName(s.Route.Iface)
	if err != nil {
		return nil, err
	}
	if seg.ID == 0 {
		seg.ID = uint16(rand.Uint32()) | 1 // every fragment carries it
	}
	b := make([]byte, craft.MaxPacket)
	n, err := seg.Encode(b)
	if err != nil {
		return nil, fmt.Errorf("build segment: %w", err)
	}
	frags, err := craft.Fragment(b[:n], ifc.MTU, uint32(seg.ID)|uint32(rand.Uint32())<<16)
	if err != nil {
		return nil, err
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	for _, f := range frags {
		if err := s.sender.Send(f, seg.Dst); err != nil {
			return nil, err
		}
	}
	return b[:n], nil
}

// SendDatagram puts a whole IP datagram of our own making (an ICMP error,
// say) on the wire towards the session's remote address.
func (s *Session) SendDatagram(b []byte) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.sender.Send(b, s.Remote.Addr())
}

// Next returns the next captured event, or an error when ctx ends first
// (context.DeadlineExceeded for a timeout) or the capture failed.
func (s *Session) Next(ctx context.Context) (*Event, error) {
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.recMu.Lock()
			defer s.recMu.Unlock()
			if s.readErr != nil {
				return nil, s.readErr
			}
			return nil, errors.New("capture closed")
		}
		return ev, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// LinkType is the captured frames' link-layer type.
func (s *Session) LinkType() int { return s.live.LinkType() }

// Frames returns the frames recorded so far (Config.Record).
func (s *Session) Frames() []capture.Frame {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return append([]capture.Frame(nil), s.frames...)
}

// GuardDropped is how many kernel RSTs the guard dropped (0 without guard).
func (s *Session) GuardDropped() uint64 {
	if s.guard == nil {
		return 0
	}
	n, _ := s.guard.Dropped(s.Local, s.Remote)
	return n
}

// WritePcap writes the recorded frames to path atomically.
func (s *Session) WritePcap(path string) error {
	return capture.WriteFile(path, s.LinkType(), s.Frames())
}

// Close stops the capture and releases the raw socket, the guard's table
// and the port, in reverse order of Open. It is safe to call twice.
func (s *Session) Close() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
	if s.live != nil {
		s.live.Close()
		s.live = nil
	}
	if s.sender != nil {
		s.sender.Close()
		s.sender = nil
	}
	if s.guard != nil {
		s.guard.Close()
		s.guard = nil
	}
	if s.res != nil {
		s.res.Close()
		s.res = nil
	}
}

// onInterface checks that a is an address of iface: a source the route
// allows (no spoofing through a raw socket).
func onInterface(a netip.Addr, iface string) error {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	addrs, _ := ifc.Addrs()
	for _, x := range addrs {
		if p, err := netip.ParsePrefix(x.String()); err == nil && p.Addr().Unmap() == a {
			return nil
		}
	}
	if iface == "lo" && a.IsLoopback() {
		return nil // all of 127.0.0.0/8 is lo's
	}
	return fmt.Errorf("%w: source %v is not an address of %s, the interface the route takes", ErrRefused, a, iface)
}
