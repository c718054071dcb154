// Package layout holds no code: its test enforces the dependency rules of
// ARCHITECTURE.md with `go list -deps`, so that a change that breaks the
// layout fails CI.
package layout
