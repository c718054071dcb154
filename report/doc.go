// Package report renders tcpprobe's results as text for a terminal and as
// JSON lines. The result types live in the packages that compute them; this
// package only formats.
package report
