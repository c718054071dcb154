package capture

import (
	"fmt"
	"io"
)

// stream is what both file readers (pcapfast.go, pcapngfast.go) keep over
// the file: bytes read and not yet handed out are buf[off:end].
type stream struct {
	r    io.Reader
	name string
	buf  []byte
	off  int
	end  int
	eof  bool
	err  error // found by a chunk read after some records: returned by the next
	skip int64 // bytes of the file to pass over before the next chunk
}

func newStream(r io.Reader, name string) stream {
	return stream{r: r, name: name, buf: make([]byte, 512<<10)}
}

// fill makes at least n bytes available from off.
func (s *stream) fill(n int) error {
	if s.end-s.off >= n {
		return nil
	}
	if s.off > 0 {
		copy(s.buf, s.buf[s.off:s.end])
		s.end -= s.off
		s.off = 0
	}
	if n > len(s.buf) {
		nb := make([]byte, n)
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for s.end < n {
		if s.eof {
			if s.end == 0 {
				return io.EOF
			}
			return io.ErrUnexpectedEOF
		}
		m, err := s.r.Read(s.buf[s.end:])
		s.end += m
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

// startChunk begins a chunk read into dst (at least MinChunk bytes): the
// buffered bytes, then bytes read straight from the file into dst, until
// dst is full or the file ends. fromBuf reports that dst holds buffered
// bytes only (more stay buffered). A read error is kept for the next call:
// the chunk goes on with the n bytes it has.
func (s *stream) startChunk(dst []byte) (n int, fromBuf bool, err error) {
	if s.err != nil {
		return 0, false, s.err
	}
	if len(dst) < MinChunk {
		return 0, false, fmt.Errorf("%s: chunk buffer of %d bytes is smaller than a record can be", s.name, len(dst))
	}
	for s.skip > 0 {
		if s.off < s.end {
			k := int(min(s.skip, int64(s.end-s.off)))
			s.off += k
			s.skip -= int64(k)
			continue
		}
		if s.eof {
			s.err = fmt.Errorf("%s: truncated file: %w", s.name, io.ErrUnexpectedEOF)
			return 0, false, s.err
		}
		m, rerr := s.r.Read(s.buf)
		s.off, s.end = 0, m
		if rerr == io.EOF {
			s.eof = true
		} else if rerr != nil {
			s.err = fmt.Errorf("%s: %w", s.name, rerr)
			return 0, false, s.err
		}
	}
	n = copy(dst, s.buf[s.off:s.end])
	s.off += n
	fromBuf = s.off < s.end
	if !fromBuf {
		s.off, s.end = 0, 0
		for n < len(dst) && !s.eof {
			m, rerr := s.r.Read(dst[n:])
			n += m
			if rerr == io.EOF {
				s.eof = true
			} else if rerr != nil {
				s.err = fmt.Errorf("%s: %w", s.name, rerr)
				break
			}
		}
	}
	return n, fromBuf, nil
}

// endChunk ends a chunk read that took dst[:used] of the n bytes
// startChunk gave: the rest is kept for the next call. took says whether
// the chunk holds anything; a chunk that holds nothing returns the error
// met, io.EOF at the end of the file, or a truncated file when a cut
// record is all that is left.
func (s *stream) endChunk(dst []byte, used, n int, fromBuf, took bool) error {
	if s.err == nil {
		rest := dst[used:n]
		if fromBuf {
			s.off -= len(rest)
		} else {
			if len(rest) > len(s.buf) {
				s.buf = make([]byte, len(rest))
			}
			s.end = copy(s.buf, rest)
		}
		if !took && s.eof {
			if len(rest) == 0 {
				return io.EOF
			}
			s.err = fmt.Errorf("%s: truncated file: %w", s.name, io.ErrUnexpectedEOF)
			s.off, s.end = 0, 0
		}
	}
	if !took {
		return s.err
	}
	return nil
}
