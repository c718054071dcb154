package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// synthPcap builds a classic pcap file of n records with sizes from 0 to
// 1600 bytes and one of nearly maxFrame, in the byte order and time
// resolution given.
func synthPcap(n int, order binary.ByteOrder, nano bool) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	h := make([]byte, 24)
	magic := uint32(magicPcapMicro)
	if nano {
		magic = magicPcapNano
	}
	order.PutUint32(h, magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], maxFrame)
	order.PutUint32(h[20:], 101) // raw IP
	b.Write(h)
	for i := range n {
		size := rng.IntN(1600)
		if i == n/2 {
			size = maxFrame - 3
		}
		r := make([]byte, 16+size)
		order.PutUint32(r, uint32(1700000000+i))
		order.PutUint32(r[4:], uint32(i%1000))
		order.PutUint32(r[8:], uint32(size))
		order.PutUint32(r[12:], uint32(size+10))
		for j := range size {
			r[16+j] = byte(i + j)
		}
		b.Write(r)
	}
	return b.Bytes()
}

type record struct {
	data []byte
	ts   int64
}

// readAll reads every record with Next, and with ReadChunk into buffers
// of the size given, and returns both with their final errors.
func readAll(t *testing.T, file []byte, chunk int) (next, chunked []record, nextErr, chunkErr error) {
	t.Helper()
	r, err := NewFileReader(bytes.NewReader(file), "a.pcap")
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := r.Next()
		if err != nil {
			nextErr = err
			break
		}
		next = append(next, record{bytes.Clone(f.Data), f.Time.UnixNano()})
	}
	r, err = NewFileReader(bytes.NewReader(file), "a.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Chunked() {
		t.Fatal("classic pcap not chunked")
	}
	buf := make([]byte, chunk)
	for {
		c, err := r.ReadChunk(buf)
		if err != nil {
			chunkErr = err
			break
		}
		recs := r.Records(buf[:c.N])
		first := len(chunked)
		for {
			d, ts, ok := recs.Next()
			if !ok {
				break
			}
			chunked = append(chunked, record{bytes.Clone(d), ts})
		}
		if got := len(chunked) - first; got != c.Frames {
			t.Fatalf("chunk says %d records, walked %d", c.Frames, got)
		}
		if c.First != chunked[first].ts || c.Last != chunked[len(chunked)-1].ts {
			t.Fatalf("chunk times %d..%d, records %d..%d", c.First, c.Last, chunked[first].ts, chunked[len(chunked)-1].ts)
		}
	}
	return
}

func TestReadChunkMatchesNext(t *testing.T) {
	for _, tc := range []struct {
		name    string
		order   binary.ByteOrder
		nano    bool
		cut     int // bytes cut off the end
		corrupt bool
		wantErr string
	}{
		{"little micro", binary.LittleEndian, false, 0, false, ""},
		{"big nano", binary.BigEndian, true, 0, false, ""},
		{"truncated", binary.LittleEndian, false, 7, false, "truncated"},
		{"corrupt length", binary.BigEndian, false, 0, true, "corrupt record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := synthPcap(3000, tc.order, tc.nano)
			file = file[:len(file)-tc.cut]
			if tc.corrupt {
				// The 2000th record's length: walk to it.
				off := 24
				for range 1999 {
					off += 16 + int(tc.order.Uint32(file[off+8:]))
				}
				tc.order.PutUint32(file[off+8:], maxFrame+1)
			}
			for _, size := range []int{MinChunk, MinChunk + 777, 1 << 20, 8 << 20} {
				next, chunked, nextErr, chunkErr := readAll(t, file, size)
				if len(next) != len(chunked) {
					t.Fatalf("chunk %d: %d records by Next, %d by ReadChunk", size, len(next), len(chunked))
				}
				for i := range next {
					if next[i].ts != chunked[i].ts || !bytes.Equal(next[i].data, chunked[i].data) {
						t.Fatalf("chunk %d: record %d differs", size, i)
					}
				}
				for _, err := range []error{nextErr, chunkErr} {
					if tc.wantErr == "" && !errors.Is(err, io.EOF) || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
						t.Errorf("chunk %d: error %v, want %q", size, err, tc.wantErr)
					}
				}
			}
		})
	}
}

func TestReadChunkSmallBuffer(t *testing.T) {
	r, err := NewFileReader(bytes.NewReader(synthPcap(10, binary.LittleEndian, false)), "a.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadChunk(make([]byte, 1000)); err == nil || !strings.Contains(err.Error(), "smaller") {
		t.Errorf("small buffer: %v", err)
	}
}
