package analyze

import (
	"context"
	"os"
	"testing"

	"github.com/tcpprobe/tcpprobe/internal/hugepages"
)

// BenchmarkAnalyzeFile analyzes the lab capture made by bench/gen (set
// TCPPROBE_BENCH_PCAP, default /var/tmp/tcpprobe-bench.pcap) and reports
// packets per second.
func BenchmarkAnalyzeFile(b *testing.B) {
	path := os.Getenv("TCPPROBE_BENCH_PCAP")
	if path == "" {
		path = "/var/tmp/tcpprobe-bench.pcap"
	}
	if _, err := os.Stat(path); err != nil {
		b.Skip("no benchmark capture: run bench/gen")
	}
	var frames int64
	hugepages.Prefer(256 << 20)
	for b.Loop() {
		st, err := New(Config{Workers: 2}).ReadFiles(context.Background(), []string{path}, Release)
		if err != nil {
			b.Fatal(err)
		}
		frames = st.Frames
	}
	b.ReportMetric(float64(frames)*float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
}

// BenchmarkDecodeAndTrack measures the per-packet work of a worker on a
// small synthetic capture held in memory (no I/O): it must not allocate.
func BenchmarkWorkerPacket(b *testing.B) {
	data := synthPcap(b, 1)
	_ = data
	w := newWorker(Config{MaxFlows: 1000, IdleTimeout: 1 << 62}, func(*Conn) {})
	seg := buildSeg()
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		i++
		w.packet(i, i, seg)
	}
}
