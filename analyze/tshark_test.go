package analyze

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tcpprobe/tcpprobe/internal/testpaths"
	"github.com/tcpprobe/tcpprobe/internal/tsharktest"
)

// tsharkFlags maps our flags to tshark's tcp.analysis fields.
var tsharkFlags = []struct {
	field string
	flag  Flag
}{
	{"tcp.analysis.retransmission", FlagRetransmission},
	{"tcp.analysis.fast_retransmission", FlagFastRetransmission},
	{"tcp.analysis.spurious_retransmission", FlagSpuriousRetransmission},
	{"tcp.analysis.out_of_order", FlagOutOfOrder},
	{"tcp.analysis.lost_segment", FlagLostSegment},
	{"tcp.analysis.duplicate_ack", FlagDuplicateACK},
	{"tcp.analysis.zero_window", FlagZeroWindow},
	{"tcp.analysis.keep_alive", FlagKeepAlive},
	{"tcp.analysis.keep_alive_ack", FlagKeepAliveACK},
	{"tcp.analysis.window_full", FlagWindowFull},
	{"tcp.analysis.ack_lost_segment", FlagACKedUnseen},
}

// tsharkPacketFlags runs tshark's two-pass TCP analysis over file and
// returns the flags of every TCP frame by frame number.
func tsharkPacketFlags(t *testing.T, file string) map[int64]Flag {
	t.Helper()
	args := []string{"-n", "-2", "-r", file, "-o", "tcp.relative_sequence_numbers:FALSE", "-o", "tcp.analyze_sequence_numbers:TRUE",
		"-o", "tcp.check_checksum:FALSE", "-Y", "tcp", "-T", "fields", "-E", "separator=|", "-e", "frame.number"}
	for _, f := range tsharkFlags {
		args = append(args, "-e", f.field)
	}
	cmd := exec.Command(tsharktest.Need(t), args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", file, err)
	}
	res := map[int64]Flag{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		cols := strings.Split(line, "|")
		num, err := strconv.ParseInt(cols[0], 10, 64)
		if err != nil {
			continue
		}
		var f Flag
		for i, tf := range tsharkFlags {
			if i+1 < len(cols) && cols[i+1] != "" {
				f |= tf.flag
			}
		}
		res[num] = f
	}
	return res
}

// ourPacketFlags analyzes file and returns every TCP frame's flags.
func ourPacketFlags(t *testing.T, file string) map[int64]Flag {
	t.Helper()
	var mu sync.Mutex
	res := map[int64]Flag{}
	a := New(Config{Workers: 2, IgnoreChecksums: true, OnPacket: func(_ int, num int64, f Flag) {
		mu.Lock()
		res[num] = f
		mu.Unlock()
	}})
	if _, err := a.ReadFiles(context.Background(), []string{file}, func(*Conn) {}); err != nil {
		t.Fatal(err)
	}
	return res
}

// compared is the mask of flags compared with tshark.
func compared() Flag {
	var m Flag
	for _, f := range tsharkFlags {
		m |= f.flag
	}
	return m
}

// agreement compares per-packet flags and returns the share of packets on
// which every compared flag agrees, with the disagreements.
func agreement(ours, theirs map[int64]Flag) (float64, []string) {
	mask := compared()
	var nums []int64
	for n := range theirs {
		nums = append(nums, n)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	agree := 0
	var diffs []string
	for _, n := range nums {
		o, th := ours[n]&mask, theirs[n]&mask
		if o == th {
			agree++
			continue
		}
		diffs = append(diffs, fmt.Sprintf("frame %d: ours %v, tshark %v", n, o.Names(), th.Names()))
	}
	if len(nums) == 0 {
		return 100, nil
	}
	return 100 * float64(agree) / float64(len(nums)), diffs
}

// TestTsharkAgreementShared compares per-packet analysis flags with
// tshark -2 on every shared capture.
func TestTsharkAgreementShared(t *testing.T) {
	dir := testpaths.ZeekPcaps(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	total, agreeing := 0, 0.0
	for _, f := range files {
		theirs := tsharkPacketFlags(t, f)
		ours := ourPacketFlags(t, f)
		pct, diffs := agreement(ours, theirs)
		total += len(theirs)
		agreeing += pct * float64(len(theirs)) / 100
		if len(diffs) > 0 {
			t.Logf("%s: %.1f%% of %d packets agree; %s", filepath.Base(f), pct, len(theirs), strings.Join(diffs[:min(len(diffs), 5)], "; "))
		}
	}
	pct := 100 * agreeing / float64(total)
	t.Logf("overall: %.2f%% of %d TCP packets agree with tshark on every analysis flag", pct, total)
	if pct < 99 {
		t.Errorf("agreement with tshark %.2f%%, want at least 99%%", pct)
	}
}
