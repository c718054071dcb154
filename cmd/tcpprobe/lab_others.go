//go:build !linux

package main

import (
	"context"
	"errors"
	"io"
)

func init() {
	register(command{name: "lab", summary: "build or remove the local lab (linux only)", run: func(context.Context, []string, io.Writer) error {
		return withCode(exitPrivilege, errors.New("the lab needs linux network namespaces: not supported on this operating system"))
	}})
	register(command{name: "script", summary: "run packetdrill scripts against a live host (linux only)", run: func(context.Context, []string, io.Writer) error {
		return withCode(exitPrivilege, errors.New("raw sockets and the lab need linux: not supported on this operating system"))
	}})
}

func writeFileAtomic(string, []byte) error { return errors.New("not supported") }
