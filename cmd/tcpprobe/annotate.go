package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tcpprobe/tcpprobe/analyze"
	"github.com/tcpprobe/tcpprobe/capture"
	"github.com/tcpprobe/tcpprobe/rulebook"
)

// annotator writes the captures again as one pcapng file with tcpprobe's
// verdict on every TCP packet as the packet's comment (Wireshark shows it
// as frame.comment). It runs in step with the analysis: with one worker
// packets are reported in frame order, so a second reader of the same file
// copies every frame up to the reported one, which gets the comment. Memory
// stays that of one frame whatever the capture's size.
type annotator struct {
	files []string
	out   *capture.NgWriter
	cur   int // index of the file r reads; -1 before the first
	r     *capture.FileReader
	frame int64 // frames of r written
	err   error
	line  strings.Builder
}

func newAnnotator(path string, files []string) (*annotator, error) {
	w, err := capture.CreateNgFile(path)
	if err != nil {
		return nil, err
	}
	return &annotator{files: files, out: w, cur: -1}, nil
}

// packet writes the frames up to p's, then p's with its comment.
func (a *annotator) packet(p *analyze.PacketInfo) {
	if a.err != nil {
		return
	}
	for a.cur < p.File {
		if a.err = a.nextFile(); a.err != nil {
			return
		}
	}
	for a.frame < p.Frame-1 {
		if a.err = a.copyFrame(""); a.err != nil {
			return
		}
	}
	a.err = a.copyFrame(a.comment(p))
}

// nextFile copies what is left of the current file and opens the next.
func (a *annotator) nextFile() error {
	if a.r != nil {
		for {
			err := a.copyFrame("")
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
		}
		a.r.Close()
		a.r = nil
	}
	a.cur++
	if a.cur >= len(a.files) {
		return io.EOF
	}
	r, err := capture.OpenFile(a.files[a.cur])
	if err != nil {
		return err
	}
	a.r, a.frame = r, 0
	return nil
}

// copyFrame writes the next frame of the current file. A file cut short
// ends where its last whole frame ends, as the analysis did.
func (a *annotator) copyFrame(comment string) error {
	f, err := a.r.Next()
	if err != nil {
		if !errors.Is(err, io.EOF) {
			err = io.EOF // cut short: reported by the analysis already
		}
		return err
	}
	a.frame++
	return a.out.Write(f, comment)
}

// finish copies every frame not yet written and commits the file.
func (a *annotator) finish() error {
	for a.err == nil {
		a.err = a.nextFile()
	}
	if !errors.Is(a.err, io.EOF) {
		a.out.Abort()
		return fmt.Errorf("--write-pcapng: %w", a.err)
	}
	return a.out.Close()
}

// abort removes the partial file.
func (a *annotator) abort() {
	if a.r != nil {
		a.r.Close()
	}
	a.out.Abort()
}

// comment is one packet's verdict: its connection and direction, both
// ends' states after it, tshark's analysis flags, the rules it broke.
//
//	tcpprobe CAjwX5rNJIo7DYtEav orig->resp | orig ESTABLISHED, resp ESTABLISHED | retransmission | violates data-advances-ack (RFC 9293 3.4)
func (a *annotator) comment(p *analyze.PacketInfo) string {
	b := &a.line
	b.Reset()
	b.WriteString("tcpprobe ")
	b.WriteString(p.Conn)
	if p.Orig {
		b.WriteString(" orig->resp")
	} else {
		b.WriteString(" resp->orig")
	}
	fmt.Fprintf(b, " | orig %s, resp %s", p.OrigState, p.RespState)
	if names := p.Analysis.Names(); len(names) > 0 {
		b.WriteString(" | ")
		b.WriteString(strings.Join(names, ", "))
	}
	if p.Violated != 0 {
		b.WriteString(" | violates")
		sep := " "
		for r := range rulebook.NumRules {
			if p.Violated&(1<<r) != 0 {
				fmt.Fprintf(b, "%s%s (%s)", sep, rulebook.Rules[r].ID, rulebook.Rules[r].Ref)
				sep = ", "
			}
		}
	}
	return b.String()
}
