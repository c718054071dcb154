// Package inject puts hand-made IP datagrams on the wire through raw
// sockets, finds the source address and interface the kernel would use for
// a destination, and reserves a source port for the life of a probe.
//
//	r, err := inject.RouteTo(dst)          // r.Src, r.Iface
//	res, err := inject.ReservePort(r.Src, 0) // res.Port is ours until Close
//	s, err := inject.NewSender(dst.Is6())
//	err = s.Send(pkt, dst)
package inject
