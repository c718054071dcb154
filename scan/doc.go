// Package scan probes many ports at once without keeping connection state,
// classifies each port as nmap does (open, closed, filtered, unfiltered,
// open|filtered, with the reason), and accepts only replies that carry the
// probe's cookie: the ISN of every probe is a SipHash of its 4-tuple under
// a per-run secret, so replies from elsewhere are ignored and counted.
package scan
