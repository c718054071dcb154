package main

import "testing"

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`GET / HTTP/1.0\r\n\r\n`: "GET / HTTP/1.0\r\n\r\n",
		`a\tb\\c`:                "a\tb\\c",
		`\x00\xff`:               "\x00\xff",
		`\q \x4 end\`:            `\q \x4 end\`,
		"plain":                  "plain",
	} {
		if got := string(unescape(in)); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
