package craft

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Fragment cuts the IP datagram d into fragments of at most mtu bytes,
// with identification id: IPv4 fragments (RFC 791 3.2), or, for IPv6, a
// Fragment header after the fixed header (RFC 8200 4.5; d must carry no
// extension header). A datagram that fits comes back whole. The
// fragments' payloads are multiples of 8 bytes but the last.
func Fragment(d []byte, mtu int, id uint32) ([][]byte, error) {
	if len(d) <= mtu {
		return [][]byte{d}, nil
	}
	if len(d) < 1 {
		return nil, ErrShort
	}
	switch d[0] >> 4 {
	case 4:
		if len(d) < IPv4MinHeader {
			return nil, ErrShort
		}
		hl := int(d[0]&0x0f) * 4
		ff := binary.BigEndian.Uint16(d[ipv4FlagsFrag:])
		if ff&0x4000 != 0 {
			return nil, errors.New("fragment: the datagram says don't fragment")
		}
		if ff&0x3fff != 0 {
			return nil, errors.New("fragment: the datagram is a fragment already")
		}
		chunk := (mtu - hl) &^ 7
		if hl < IPv4MinHeader || hl > len(d) || chunk <= 0 {
			return nil, fmt.Errorf("fragment: an MTU of %d leaves no room", mtu)
		}
		var out [][]byte
		payload := d[hl:]
		for off := 0; off < len(payload); off += chunk {
			end := min(off+chunk, len(payload))
			f := make([]byte, hl+end-off)
			copy(f, d[:hl])
			copy(f[hl:], payload[off:end])
			binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
			binary.BigEndian.PutUint16(f[4:], uint16(id))
			flags := uint16(off / 8)
			if end < len(payload) {
				flags |= 0x2000 // more fragments
			}
			binary.BigEndian.PutUint16(f[ipv4FlagsFrag:], flags)
			f[ipv4Checksum], f[ipv4Checksum+1] = 0, 0
			binary.BigEndian.PutUint16(f[ipv4Checksum:], Checksum(f[:hl]))
			out = append(out, f)
		}
		return out, nil
	case 6:
		if len(d) < IPv6HeaderSize {
			return nil, ErrShort
		}
		next := d[6]
		if next == 0 || next == 43 || next == 60 || next == ipv6Fragment {
			return nil, errors.New("fragment: IPv6 extension headers are not supported")
		}
		chunk := (mtu - IPv6HeaderSize - 8) &^ 7
		if chunk <= 0 {
			return nil, fmt.Errorf("fragment: an MTU of %d leaves no room", mtu)
		}
		var out [][]byte
		payload := d[IPv6HeaderSize:]
		for off := 0; off < len(payload); off += chunk {
			end := min(off+chunk, len(payload))
			f := make([]byte, IPv6HeaderSize+8+end-off)
			copy(f, d[:IPv6HeaderSize])
			binary.BigEndian.PutUint16(f[4:], uint16(8+end-off))
			f[6] = ipv6Fragment
			h := f[IPv6HeaderSize:]
			h[0], h[1] = next, 0
			m := uint16(off) // the offset in 8-octet units, shifted by 3: off itself
			if end < len(payload) {
				m |= 1
			}
			binary.BigEndian.PutUint16(h[2:], m)
			binary.BigEndian.PutUint32(h[4:], id)
			copy(h[8:], payload[off:end])
			out = append(out, f)
		}
		return out, nil
	}
	return nil, errors.New("fragment: not an IP datagram")
}
