package analyze

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tcpprobe/tcpprobe/internal/testpaths"
	"github.com/tcpprobe/tcpprobe/internal/tsharktest"
)

// tsharkPacketFlags runs tshark's two-pass TCP analysis over file and
// returns the flags of every TCP frame by frame number.
func tsharkPacketFlags(t *testing.T, file string) map[int64]Flag {
	t.Helper()
	res := map[int64]Flag{}
	for num, names := range tsharktest.Analysis(t, file) {
		var f Flag
		for _, n := range names {
			f |= flagByName(n)
		}
		res[num] = f
	}
	return res
}

func flagByName(n string) Flag {
	for i, name := range flagNames {
		if name == n {
			return 1 << i
		}
	}
	return 0
}

// ourPacketFlags analyzes file and returns every TCP frame's flags.
func ourPacketFlags(t *testing.T, file string) map[int64]Flag {
	t.Helper()
	var mu sync.Mutex
	res := map[int64]Flag{}
	a := New(Config{Workers: 2, IgnoreChecksums: true, OnPacket: func(p *PacketInfo) {
		mu.Lock()
		res[p.Frame] = p.Analysis
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
	for _, n := range tsharktest.AnalysisFields {
		m |= flagByName(n)
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
