package agent

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Symbols are the constants a script's syscall lines name, with Linux's
// values (what both executors expect).
var Symbols = map[string]int64{
	"AF_INET": unix.AF_INET, "AF_INET6": unix.AF_INET6, "SOCK_STREAM": unix.SOCK_STREAM,
	"SOCK_NONBLOCK": unix.SOCK_NONBLOCK, "IPPROTO_TCP": unix.IPPROTO_TCP, "IPPROTO_IP": unix.IPPROTO_IP,
	"IPPROTO_IPV6": unix.IPPROTO_IPV6, "SOL_SOCKET": unix.SOL_SOCKET, "SOL_TCP": unix.SOL_TCP,
	"SO_REUSEADDR": unix.SO_REUSEADDR, "SO_REUSEPORT": unix.SO_REUSEPORT, "SO_KEEPALIVE": unix.SO_KEEPALIVE,
	"SO_RCVBUF": unix.SO_RCVBUF, "SO_SNDBUF": unix.SO_SNDBUF, "SO_LINGER": unix.SO_LINGER,
	"SO_RCVLOWAT": unix.SO_RCVLOWAT, "SO_OOBINLINE": unix.SO_OOBINLINE,
	"TCP_NODELAY": unix.TCP_NODELAY, "TCP_MAXSEG": unix.TCP_MAXSEG, "TCP_CORK": unix.TCP_CORK,
	"TCP_KEEPIDLE": unix.TCP_KEEPIDLE, "TCP_KEEPINTVL": unix.TCP_KEEPINTVL, "TCP_KEEPCNT": unix.TCP_KEEPCNT,
	"TCP_SYNCNT": unix.TCP_SYNCNT, "TCP_LINGER2": unix.TCP_LINGER2, "TCP_DEFER_ACCEPT": unix.TCP_DEFER_ACCEPT,
	"TCP_WINDOW_CLAMP": unix.TCP_WINDOW_CLAMP, "TCP_QUICKACK": unix.TCP_QUICKACK,
	"TCP_USER_TIMEOUT": unix.TCP_USER_TIMEOUT, "TCP_FASTOPEN": unix.TCP_FASTOPEN,
	"TCP_NOTSENT_LOWAT": unix.TCP_NOTSENT_LOWAT, "TCP_CONGESTION": unix.TCP_CONGESTION,
	"IP_TOS": unix.IP_TOS, "IPV6_TCLASS": unix.IPV6_TCLASS,
	"SHUT_RD": unix.SHUT_RD, "SHUT_WR": unix.SHUT_WR, "SHUT_RDWR": unix.SHUT_RDWR,
	"F_GETFL": unix.F_GETFL, "F_SETFL": unix.F_SETFL, "O_RDWR": unix.O_RDWR, "O_NONBLOCK": unix.O_NONBLOCK,
	"MSG_DONTWAIT": unix.MSG_DONTWAIT, "MSG_PEEK": unix.MSG_PEEK, "MSG_OOB": unix.MSG_OOB,
	"MSG_WAITALL": unix.MSG_WAITALL,
}

// Int evaluates "3", "0x10", "SOCK_STREAM|SOCK_NONBLOCK", "[1]".
func Int(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	var v int64
	for _, part := range strings.Split(s, "|") {
		part = strings.TrimSpace(part)
		if x, ok := Symbols[part]; ok {
			v |= x
			continue
		}
		x, err := strconv.ParseInt(part, 0, 64)
		if err != nil {
			return 0, fmt.Errorf("argument %q: want a number or a known constant", s)
		}
		v |= x
	}
	return v, nil
}

// Linger reads "{onoff=1, linger=0}" (packetdrill's linger syntax; the
// struct's field names l_onoff/l_linger are accepted too).
func Linger(s string) (on, linger int32, err error) {
	s = strings.Trim(strings.TrimSpace(s), "{}")
	seen := 0
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, perr := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if !ok || perr != nil {
			return 0, 0, fmt.Errorf("linger %q: want {onoff=N, linger=N}", s)
		}
		switch strings.TrimPrefix(strings.TrimSpace(k), "l_") {
		case "onoff":
			on = int32(n)
		case "linger":
			linger = int32(n)
		default:
			return 0, 0, fmt.Errorf("linger %q: want {onoff=N, linger=N}", s)
		}
		seen++
	}
	if seen != 2 {
		return 0, 0, fmt.Errorf("linger %q: want {onoff=N, linger=N}", s)
	}
	return on, linger, nil
}
