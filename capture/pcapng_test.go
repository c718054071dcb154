package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tcpprobe/tcpprobe/internal/testpaths"
)

// ngFile builds pcapng files block by block, in either byte order.
type ngFile struct {
	b     []byte
	order binary.AppendByteOrder
}

func (f *ngFile) block(typ uint32, body []byte) *ngFile {
	body = append(body, make([]byte, (4-len(body)%4)%4)...)
	n := uint32(12 + len(body))
	f.b = f.order.AppendUint32(f.b, typ)
	f.b = f.order.AppendUint32(f.b, n)
	f.b = append(f.b, body...)
	f.b = f.order.AppendUint32(f.b, n)
	return f
}

// section starts a section in order (the byte order of what follows).
func (f *ngFile) section(order binary.AppendByteOrder) *ngFile {
	f.order = order
	body := order.AppendUint32(nil, ngByteOrderMagic)
	body = order.AppendUint16(body, 1)
	body = order.AppendUint16(body, 0)
	body = order.AppendUint64(body, ^uint64(0)) // section length unknown
	return f.block(ngSHB, body)
}

// opt appends a pcapng option.
func (f *ngFile) opt(b []byte, code uint16, v []byte) []byte {
	b = f.order.AppendUint16(b, code)
	b = f.order.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	return append(b, make([]byte, (4-len(v)%4)%4)...)
}

// iface adds an interface; resol 0 leaves if_tsresol out, offset 0
// if_tsoffset.
func (f *ngFile) iface(link uint16, snap uint32, resol byte, offset uint64) *ngFile {
	body := f.order.AppendUint16(nil, link)
	body = f.order.AppendUint16(body, 0)
	body = f.order.AppendUint32(body, snap)
	body = f.opt(body, 2, []byte("eth0")) // if_name
	if resol != 0 {
		body = f.opt(body, 9, []byte{resol})
	}
	if offset != 0 {
		body = f.opt(body, 14, f.order.AppendUint64(nil, offset))
	}
	body = f.opt(body, 0, nil)
	return f.block(ngIDB, body)
}

// epb adds an enhanced packet block (with a comment option when comment
// is set).
func (f *ngFile) epb(id uint32, ts uint64, data []byte, orig int, comment string) *ngFile {
	body := f.order.AppendUint32(nil, id)
	body = f.order.AppendUint32(body, uint32(ts>>32))
	body = f.order.AppendUint32(body, uint32(ts))
	body = f.order.AppendUint32(body, uint32(len(data)))
	body = f.order.AppendUint32(body, uint32(orig))
	body = append(body, data...)
	body = append(body, make([]byte, (4-len(data)%4)%4)...)
	if comment != "" {
		body = f.opt(body, 1, []byte(comment))
		body = f.opt(body, 0, nil)
	}
	return f.block(ngEPB, body)
}

// pb adds an obsolete packet block.
func (f *ngFile) pb(id uint16, ts uint64, data []byte) *ngFile {
	body := f.order.AppendUint16(nil, id)
	body = f.order.AppendUint16(body, 0) // drops
	body = f.order.AppendUint32(body, uint32(ts>>32))
	body = f.order.AppendUint32(body, uint32(ts))
	body = f.order.AppendUint32(body, uint32(len(data)))
	body = f.order.AppendUint32(body, uint32(len(data)))
	return f.block(ngPB, append(body, data...))
}

// spb adds a simple packet block.
func (f *ngFile) spb(data []byte) *ngFile {
	return f.block(ngSPB, append(f.order.AppendUint32(nil, uint32(len(data))), data...))
}

type ngRecord struct {
	data       string
	ts         int64
	orig, link int
}

func (r ngRecord) String() string {
	return fmt.Sprintf("%d bytes ts %d orig %d link %d", len(r.data), r.ts, r.orig, r.link)
}

// gopacketFrames reads data with gopacket's pcapng reader, the reference:
// its frames up to its first error or the end.
func gopacketFrames(data []byte) ([]ngRecord, error) {
	r, err := pcapgo.NewNgReader(bufio.NewReader(bytes.NewReader(data)), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		return nil, err
	}
	var out []ngRecord
	for len(out) < 100000 {
		d, ci, err := r.ZeroCopyReadPacketData()
		if err != nil {
			return out, err
		}
		link := 0
		if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			link = int(l)
		}
		out = append(out, ngRecord{string(d), ci.Timestamp.UnixNano(), ci.Length, link})
	}
	return out, nil
}

// ourFrames reads data with Next, and again in chunks of every size in
// sizes; the two must agree.
func ourFrames(t *testing.T, data []byte, sizes ...int) ([]ngRecord, error) {
	t.Helper()
	r, err := NewFileReader(bytes.NewReader(data), "ng")
	if err != nil {
		return nil, err
	}
	var next []ngRecord
	var nextErr error
	for len(next) < 100000 {
		d, ts, orig, link, err := r.NextRawWire()
		if err != nil {
			nextErr = err
			break
		}
		next = append(next, ngRecord{string(d), ts, orig, link})
	}
	for _, size := range sizes {
		r, _ := NewFileReader(bytes.NewReader(data), "ng")
		buf := make([]byte, size)
		var got []ngRecord
		var err error
		for len(got) < 100000 {
			var c Chunk
			if c, err = r.ReadChunk(buf); err != nil {
				break
			}
			recs := r.Records(buf[:c.N])
			n := 0
			for {
				d, ts, orig, ok := recs.NextWire()
				if !ok {
					break
				}
				if n == 0 && ts != c.First && c.Frames > 0 {
					t.Fatalf("chunk of %d: first time %d, Chunk says %d", size, ts, c.First)
				}
				got = append(got, ngRecord{string(d), ts, orig, recs.Link()})
				n++
			}
			if n != c.Frames {
				t.Fatalf("chunk of %d: walked %d packets of %d", size, n, c.Frames)
			}
		}
		if len(got) != len(next) || (err == io.EOF) != (nextErr == io.EOF) {
			t.Fatalf("chunks of %d: %d frames (%v), Next: %d (%v)", size, len(got), err, len(next), nextErr)
		}
		for i := range got {
			if got[i] != next[i] {
				t.Fatalf("chunks of %d, frame %d: %v, Next: %v", size, i, got[i], next[i])
			}
		}
	}
	return next, nextErr
}

// TestPcapngAgreesWithGopacket: our pcapng reader gives gopacket's frames
// (data, time to the nanosecond, original length, each interface's link
// type) on the test captures and on files built for each feature, by
// frames and in chunks.
func TestPcapngAgreesWithGopacket(t *testing.T) {
	ip := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	odd := ip[:13]
	le, be := binary.LittleEndian, binary.BigEndian
	files := map[string][]byte{}
	for _, order := range []binary.AppendByteOrder{le, be} {
		f := (&ngFile{}).section(order).
			iface(uint16(layers.LinkTypeRaw), 65535, 0, 0).            // microseconds
			iface(uint16(layers.LinkTypeEthernet), 96, 9, 0).          // nanoseconds
			iface(uint16(layers.LinkTypeRaw), 0, 0x94, 0).             // 2^-20 s
			iface(uint16(layers.LinkTypeRaw), 0, 3, 1_600_000_000).    // milliseconds, an offset
			iface(uint16(layers.LinkTypeLinuxSLL), 262144, 0x80|30, 0) // 2^-30 s: nanoseconds rounded
		for i := range uint64(5) {
			f.epb(0, 1_700_000_000_123_456+i, ip, 20, "").
				epb(1, 1_700_000_000_123_456_789+i, odd, 60, "a comment").
				epb(2, 1_700_000_000<<20|i<<18, ip, 20, "").
				epb(3, 123_456+i, odd, 13, "").
				epb(4, 1_700_000_000<<30|i<<27, ip, 20, "")
		}
		f.pb(1, 1_700_000_001_000_000_000, ip)
		files["features "+fmt.Sprint(order)] = f.b
	}
	// Sections in both byte orders, an interface after packets, blocks
	// without packets (statistics, name resolution, a custom block).
	f := (&ngFile{}).section(le).iface(uint16(layers.LinkTypeRaw), 0, 0, 0)
	f.epb(0, 1, ip, 20, "").block(5, make([]byte, 12)).iface(uint16(layers.LinkTypeEthernet), 0, 9, 0).epb(1, 2, ip, 20, "")
	f.section(be).iface(uint16(layers.LinkTypeRaw), 0, 9, 0).block(4, []byte{0, 0, 0, 0}).block(0xbad, []byte("custom")).epb(0, 3, ip, 20, "")
	f.section(le).iface(uint16(layers.LinkTypeRaw), 0, 0, 0).epb(0, 4, odd, 20, "")
	files["sections"] = f.b
	// A decryption secrets block larger than any read buffer, between
	// packets (editcap --inject-secrets with a large key log).
	big := (&ngFile{}).section(le).iface(uint16(layers.LinkTypeRaw), 0, 0, 0).epb(0, 1, ip, 20, "")
	secrets := bytes.Repeat([]byte("CLIENT_RANDOM 00 11\n"), 150000)
	big.block(10, append(le.AppendUint32(le.AppendUint32(nil, 0x544c534b), uint32(len(secrets))), secrets...)).epb(0, 2, ip, 20, "")
	files["large secrets block"] = big.b
	files["many interfaces"] = func() []byte {
		f := (&ngFile{}).section(le)
		for i := range 300 {
			f.iface(uint16(layers.LinkTypeRaw), 0, 0, 0).epb(uint32(i), uint64(i), ip, 20, "")
		}
		return f.b
	}()
	for _, name := range []string{"tcp-retransmit-timeout.pcapng", "tcp-http-on-irc-port-missing-syn.pcapng"} {
		b, err := os.ReadFile(filepath.Join(testpaths.ZeekPcaps(t), name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	for name, data := range files {
		want, werr := gopacketFrames(data)
		if werr != io.EOF {
			t.Fatalf("%s: gopacket: %v", name, werr)
		}
		got, err := ourFrames(t, data, MinChunk, 1<<20)
		if err != io.EOF {
			t.Errorf("%s: %v after %d frames", name, err, len(got))
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d frames, gopacket %d", name, len(got), len(want))
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s, frame %d: %v, gopacket %v", name, i+1, got[i], want[i])
			}
		}
	}
}

// TestPcapngSimplePackets: a simple packet block has its interface 0's
// link type, is cut to its snap length, and has no time (0 here, where
// gopacket gives the zero time.Time).
func TestPcapngSimplePackets(t *testing.T) {
	ip := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	f := (&ngFile{}).section(binary.BigEndian).iface(uint16(layers.LinkTypeRaw), 16, 0, 0).spb(ip).spb(ip[:7])
	got, err := ourFrames(t, f.b, MinChunk)
	if err != io.EOF || len(got) != 2 {
		t.Fatalf("%d frames, %v", len(got), err)
	}
	want := []ngRecord{{string(ip[:16]), 0, 20, int(layers.LinkTypeRaw)}, {string(ip[:7]), 0, 7, int(layers.LinkTypeRaw)}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("frame %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// TestPcapngDamage: whole packets before the damage are read, then one
// error that says what is wrong.
func TestPcapngDamage(t *testing.T) {
	ip := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2}
	good := func() *ngFile {
		return (&ngFile{}).section(binary.LittleEndian).iface(uint16(layers.LinkTypeRaw), 0, 0, 0).epb(0, 1, ip, 20, "").epb(0, 2, ip, 20, "")
	}
	whole := good().b
	badLen := good().epb(0, 3, ip, 20, "").b
	binary.LittleEndian.PutUint32(badLen[len(whole)+4:], 8) // a block shorter than its header
	badIface := good().epb(7, 3, ip, 20, "").b
	badCap := good().epb(0, 3, ip, 20, "").b
	binary.LittleEndian.PutUint32(badCap[len(whole)+20:], 1000) // more than the block holds
	secrets := bytes.Repeat([]byte{'k'}, 2<<20)
	bigCut := good().block(10, append(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 0x544c534b), uint32(len(secrets))), secrets...)).b
	bigCut = bigCut[:len(bigCut)-1000] // the file ends inside a block larger than a buffer
	badMagic := good().b
	binary.LittleEndian.PutUint32(badMagic[8:], 0x12345678)
	for _, c := range []struct {
		name   string
		data   []byte
		frames int
		want   string
	}{
		{"cut in the last block", whole[:len(whole)-10], 1, "truncated file"},
		{"cut between blocks", whole, 2, ""},
		{"block length", badLen, 2, "corrupt pcapng block: length 8"},
		{"interface", badIface, 2, "interface 7 of 1"},
		{"captured length", badCap, 2, "captured length 1000"},
		{"cut in a block larger than a buffer", bigCut, 2, "truncated file"},
	} {
		got, err := ourFrames(t, c.data, MinChunk)
		if len(got) != c.frames {
			t.Errorf("%s: %d frames, want %d", c.name, len(got), c.frames)
		}
		switch {
		case c.want == "" && err != io.EOF:
			t.Errorf("%s: %v, want the end", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, io.EOF) && !strings.Contains(c.want, "truncated")):
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := NewFileReader(bytes.NewReader(badMagic), "magic"); err == nil || !strings.Contains(err.Error(), "byte-order magic") {
		t.Errorf("bad byte-order magic: %v", err)
	}
}
