package scan

import (
	"context"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
	"github.com/tcpprobe/tcpprobe/inject"
)

// batchSize is how many probes go to the kernel in one sendmmsg call.
const batchSize = 64

func (s *Scanner) sendAll(ctx context.Context, sender *inject.Sender, todo []int32, sent *int, total int, start time.Time) error {
	batch := inject.NewBatch(batchSize)
	bufs := make([][craft.IPv6HeaderSize + craft.TCPMaxHeader]byte, batchSize)
	interval := time.Second / time.Duration(s.cfg.Rate)
	next := time.Now()
	lastProgress := time.Now()
	for i := 0; i < len(todo); {
		if ctx.Err() != nil {
			return nil
		}
		// Rate: as many probes as the elapsed time allows, at most a batch.
		now := time.Now()
		if now.Before(next) {
			time.Sleep(next.Sub(now))
			now = time.Now()
		}
		n := min(batchSize, len(todo)-i, max(1, int(now.Sub(next)/interval)+1))
		s.mu.Lock()
		for j := 0; j < n; j++ {
			k := s.key(todo[i+j])
			seg := s.probe(k)
			l, err := seg.Encode(bufs[j][:])
			if err != nil {
				s.mu.Unlock()
				return err
			}
			batch.Add(bufs[j][:l], k.dst)
			if st := &s.states[todo[i+j]]; st.sentAt == 0 {
				st.sentAt = now.UnixNano()
				st.sends = 1
			} else if st.sends < 255 {
				st.sends++
			}
		}
		s.mu.Unlock()
		if err := sender.SendBatch(batch); err != nil {
			return err
		}
		s.mu.Lock()
		s.lastSent = time.Now()
		s.mu.Unlock()
		i += n
		*sent += n
		next = next.Add(time.Duration(n) * interval)
		if s.cfg.Progress != nil && time.Since(lastProgress) > 200*time.Millisecond {
			lastProgress = time.Now()
			s.mu.Lock()
			answered := s.answered
			s.mu.Unlock()
			s.cfg.Progress(*sent, total, answered, time.Since(start))
		}
	}
	return nil
}

// probe builds the probe for k.
func (s *Scanner) probe(k probeKey) craft.Segment {
	c := s.cookie(k.dst, k.port)
	seg := craft.Segment{Src: s.src, Dst: k.dst, TTL: s.cfg.TTL,
		TCP: craft.TCP{SrcPort: s.sport, DstPort: k.port, Seq: c, Flags: s.flags, Window: 1024}}
	if s.flags&craft.ACK != 0 {
		seg.TCP.Ack = c
	}
	if s.flags&craft.SYN != 0 {
		seg.TCP.Options = []craft.Option{craft.MSSOption(1460)}
	}
	return seg
}
