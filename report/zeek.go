package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/tcpprobe/tcpprobe/analyze"
)

// ZeekWriter writes connections as Zeek's conn.log (TSV with the #fields
// header zeek-cut reads).
type ZeekWriter struct {
	w *bufio.Writer
}

var zeekFields = []string{"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
	"orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp", "missed_bytes", "history", "orig_pkts",
	"orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "tunnel_parents"}
var zeekTypes = []string{"time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count", "count",
	"string", "bool", "bool", "count", "string", "count", "count", "count", "count", "set[string]"}

// NewZeekWriter writes the header.
func NewZeekWriter(w io.Writer, open time.Time) *ZeekWriter {
	z := &ZeekWriter{w: bufio.NewWriter(w)}
	fmt.Fprintf(z.w, "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t%s\n",
		open.UTC().Format("2006-01-02-15-04-05"))
	z.row(append([]string{"#fields"}, zeekFields...))
	z.row(append([]string{"#types"}, zeekTypes...))
	return z
}

func (z *ZeekWriter) row(cols []string) {
	for i, c := range cols {
		if i > 0 {
			z.w.WriteByte('\t')
		}
		z.w.WriteString(c)
	}
	z.w.WriteByte('\n')
}

// Write appends one connection.
func (z *ZeekWriter) Write(c *analyze.Conn) {
	dur, ob, rb := "-", "-", "-"
	if c.DurationS > 0 {
		dur = strconv.FormatFloat(c.DurationS, 'f', 6, 64)
		ob, rb = strconv.FormatInt(c.OrigBytes, 10), strconv.FormatInt(c.RespBytes, 10)
	}
	ts := strconv.FormatFloat(float64(c.Start.UnixNano())/1e9, 'f', 6, 64)
	tunnel := "-"
	if c.Tunnel != "" {
		tunnel = c.Tunnel // Zeek names the tunnel's own connection here; we name its kind
	}
	z.row([]string{ts, c.UID, c.OrigAddr[0], c.OrigAddr[1], c.RespAddr[0], c.RespAddr[1], "tcp", "-", dur, ob, rb,
		c.ConnState, "-", "-", strconv.FormatInt(c.MissedBytes, 10), c.History,
		strconv.FormatInt(c.OrigPkts, 10), strconv.FormatInt(c.OrigIPBytes, 10),
		strconv.FormatInt(c.RespPkts, 10), strconv.FormatInt(c.RespIPBytes, 10), tunnel})
}

// Close writes the trailer and flushes.
func (z *ZeekWriter) Close(t time.Time) error {
	fmt.Fprintf(z.w, "#close\t%s\n", t.UTC().Format("2006-01-02-15-04-05"))
	return z.w.Flush()
}
