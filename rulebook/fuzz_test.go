package rulebook

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/tcpprobe/tcpprobe/craft"
)

// FuzzTracker feeds arbitrary segment sequences to the tracker: it must
// not panic, states stay valid, and every failed rule has a detail and
// evidence.
func FuzzTracker(f *testing.F) {
	// Each 12-byte record: role|flags(2) seq(4) ack(4) len(1) opts(1).
	rec := func(r Role, fl craft.Flags, seq, ack uint32, n, opts byte) []byte {
		b := make([]byte, 12)
		b[0] = byte(r)
		binary.BigEndian.PutUint16(b[1:], uint16(fl))
		binary.BigEndian.PutUint32(b[3:], seq)
		binary.BigEndian.PutUint32(b[7:], ack)
		b[11] = n
		return append(b, opts)[:12]
	}
	var seed []byte
	seed = append(seed, rec(Client, craft.SYN, 100, 0, 0, 0)...)             // SYN
	seed = append(seed, rec(Server, craft.SYN|craft.ACK, 500, 101, 0, 0)...) // SYN-ACK
	seed = append(seed, rec(Client, craft.ACK, 101, 501, 0, 0)...)           // ACK
	seed = append(seed, rec(Client, craft.FIN|craft.ACK, 101, 501, 0, 0)...) // FIN
	seed = append(seed, rec(Server, craft.FIN|craft.ACK, 501, 102, 0, 0)...) // FIN-ACK
	seed = append(seed, rec(Client, craft.ACK, 102, 502, 0, 0)...)           // last ACK
	f.Add(seed)
	f.Add(rec(Server, craft.RST|craft.ACK, 0, 1, 0, 0)) // a lone RST
	f.Fuzz(func(t *testing.T, data []byte) {
		var tr Tracker
		tr.Init(TrackerConfig{Record: len(data) < 600, MidStream: len(data)%2 == 1})
		now := time.Unix(0, 0)
		for i := 0; i+12 <= len(data); i += 12 {
			d := data[i : i+12]
			now = now.Add(time.Duration(d[11]) * 100 * time.Millisecond)
			s := Seg{Num: i/12 + 1, Time: now, From: Role(d[0] & 1), Flags: craft.Flags(binary.BigEndian.Uint16(d[1:]) & 0x1ff),
				Seq: craft.Seq(binary.BigEndian.Uint32(d[3:])), Ack: craft.Seq(binary.BigEndian.Uint32(d[7:])), Len: int(d[11] & 0x7), WScale: -1}
			if d[0]&2 != 0 {
				s.HasTS, s.TSval, s.TSecr = true, uint32(i), uint32(d[10])
			}
			if d[0]&4 != 0 {
				s.MSS = uint16(d[9]) << 4
			}
			tr.Observe(&s)
			for _, st := range s.StateAfter {
				if st >= numStates {
					t.Fatalf("invalid state %d", st)
				}
			}
		}
		for _, v := range tr.Verdicts() {
			if v.Result == Fail && (v.Detail == "" || len(v.Evidence()) == 0) {
				t.Fatalf("rule %s failed without detail or evidence", Rules[v.Rule].ID)
			}
		}
		tr.CloseForm()
	})
}
