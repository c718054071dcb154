//go:build !cgo

package capture

import (
	"context"
	"errors"
)

var errNoCgo = errors.New("live capture needs libpcap: build with cgo enabled")

// Live is unavailable without cgo.
type Live struct{}

// LiveOptions tunes a live capture.
type LiveOptions struct {
	Immediate  bool
	BufferSize int
}

// OpenLiveWith is unavailable without cgo.
func OpenLiveWith(string, string, LiveOptions) (*Live, error) { return nil, errNoCgo }

// OpenLive is unavailable without cgo.
func OpenLive(string, string) (*Live, error) { return nil, errNoCgo }

// LinkType returns 0.
func (*Live) LinkType() int { return 0 }

// Next is unavailable without cgo.
func (*Live) Next(context.Context) (Frame, error) { return Frame{}, errNoCgo }

// Stats is unavailable without cgo.
func (*Live) Stats() (int, int, error) { return 0, 0, errNoCgo }

// Close does nothing.
func (*Live) Close() {}
