package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/saga"
)

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100-i) * time.Millisecond // unsorted on purpose
	}
	for _, tc := range []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample is every percentile", []time.Duration{7}, 99, 7},
		{"p50 of 1..100 is the 50th", hundred, 50, 50 * time.Millisecond},
		{"p90 of 1..100 is the 90th", hundred, 90, 90 * time.Millisecond},
		{"p99 of 1..100 is the 99th", hundred, 99, 99 * time.Millisecond},
		{"p100 is the max", hundred, 100, 100 * time.Millisecond},
		{"p0 is the min", hundred, 0, time.Millisecond},
		{"nearest rank rounds up, never interpolates", []time.Duration{1, 2, 3, 4}, 50, 2},
		{"p99 of 4 samples is the largest", []time.Duration{1, 2, 3, 4}, 99, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.ds, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.ds, tc.p, got, tc.want)
			}
		})
	}
	if hundred[0] != 100*time.Millisecond {
		t.Error("percentile sorted its caller's slice")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{1000, 1, 2}, 2}, // one wild run does not move it
	} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	if got := medianDuration([]time.Duration{never, 1, never}); got != never {
		t.Errorf("medianDuration with two nevers of three = %v, want never", got)
	}
	if got := medianDuration([]time.Duration{4, 2}); got != 3 {
		t.Errorf("medianDuration(4, 2) = %v, want 3", got)
	}
	if got := medianDuration([]time.Duration{2, never}); got != never {
		t.Errorf("medianDuration(2, never) = %v, want never", got)
	}
}

func TestParseStatCPU(t *testing.T) {
	// A real line from a Go process, with utime=1234 and stime=567; the
	// command name holds a space and a ')' to check fields are counted
	// from the last one.
	stat := "4242 (saga board) x) S 1 4242 4242 0 -1 4194560 9000 0 0 0 1234 567 0 0 20 0 7 0 100 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got != 1234+567 {
		t.Errorf("parseStatCPU = %d ticks, want %d", got, 1234+567)
	}
	if _, err := parseStatCPU("4242 (short) S 1 2"); err == nil {
		t.Error("parseStatCPU took a truncated line")
	}
	if _, err := parseStatCPU("no name at all"); err == nil {
		t.Error("parseStatCPU took a line without a command name")
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tsagaboard\nVmPeak:\t 1300000 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   30000 kB\n"
	got, err := parseStatusKB(status, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	if got != 40960<<10 {
		t.Errorf("VmHWM = %d bytes, want %d", got, 40960<<10)
	}
	if _, err := parseStatusKB(status, "VmSwap"); err == nil {
		t.Error("parseStatusKB found a line that is not there")
	}
	// meminfo has the same shape.
	if got, _ := parseStatusKB("MemTotal:       24641536 kB\nMemFree: 1 kB\n", "MemTotal"); got != 24641536<<10 {
		t.Errorf("MemTotal = %d", got)
	}
}

func TestParseCPUModel(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC   7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	if got := parseCPUModel(info); got != "AMD EPYC 7B13" {
		t.Errorf("parseCPUModel = %q", got)
	}
	if got := parseCPUModel("processor: 0\n"); got != "unknown CPU" {
		t.Errorf("parseCPUModel without a model = %q", got)
	}
}

func TestConfirmedIDs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame string
		want  []string
	}{
		{"no confirmation skips the frame", `<li id="booking-a1" data-status="pending">`, nil},
		{"one card", `<div hx-swap-oob="true"><li id="booking-a1" class="card" data-status="confirmed">A1</li></div>`, []string{"a1"}},
		{"attributes in either order", `<li data-status="confirmed" id="booking-b2">`, []string{"b2"}},
		{"several cards, mixed statuses",
			`<li id="booking-a" data-status="confirmed"></li><li id="booking-b" data-status="compensated"></li><li id="booking-c" data-status="confirmed"></li>`,
			[]string{"a", "c"}},
		{"a status on another element does not count", `<li id="booking-a" data-status="pending"><span data-status="confirmed"></span></li>`, nil},
		{"data-id is not id", `<li data-id="booking-x" data-status="confirmed">`, nil},
		{"multi-line tag", "<li\n\tid=\"booking-m\"\n\tdata-status=\"confirmed\">", []string{"m"}},
		{"an unterminated tag is ignored", `<li id="booking-z" data-status="confirmed"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := confirmedIDs([]byte(tc.frame)); !slices.Equal(got, tc.want) {
				t.Errorf("confirmedIDs(%q) = %q, want %q", tc.frame, got, tc.want)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 50000: "50,000", 1234567: "1,234,567", -2500: "-2,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCeilingBodyIsASagaMessageOfTheRightSize(t *testing.T) {
	b := ceilingBody(1234)
	if len(b) != ceilingSize {
		t.Errorf("ceiling body is %d bytes, want %d", len(b), ceilingSize)
	}
	if _, err := saga.DecodeEnvelope(b); err != nil {
		t.Errorf("ceiling body is not a valid saga message: %v\n%s", err, b)
	}
}

func TestMsFormatsByMagnitude(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1500 * time.Microsecond: "1.50 ms",
		42 * time.Millisecond:   "42.0 ms",
		1234 * time.Millisecond: "1234 ms",
		never:                   "never",
	} {
		if got := ms(d); got != want {
			t.Errorf("ms(%d) = %q, want %q", d, got, want)
		}
	}
}

func TestBrokerPIDFindsTheLocalNode(t *testing.T) {
	pid := brokerPID("amqp://guest:guest@localhost:5672/")
	if pid == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("no beam.smp found, though CI runs RabbitMQ on this machine")
		}
		t.Skip("no RabbitMQ node runs on this machine")
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmd), "rabbit") {
		t.Errorf("pid %d does not look like a RabbitMQ node: %q, %v", pid, cmd, err)
	}
	// Other nodes may run beside it (a test's, a cluster's): the one read
	// must be the one clients reach on AMQP's port, as ss tells it.
	if out, err := exec.Command("ss", "-Hltnp", "sport = :5672").Output(); err == nil {
		if want := fmt.Sprintf("pid=%d,", pid); !strings.Contains(string(out), want) {
			t.Errorf("pid %d is a RabbitMQ node, but ss says another listens on 5672: %s", pid, out)
		}
	}
	if d, err := cpuTime(pid); err != nil || d <= 0 {
		t.Errorf("the node's CPU time = %v, %v; want a running total", d, err)
	}
	// Nothing listens on port 1: no process is the broker there, even
	// with the machine's node (and tests' own nodes) running.
	if other := brokerPID("amqp://guest:guest@127.0.0.1:1/"); other != 0 {
		t.Errorf("brokerPID for a port nothing listens on = %d, want 0", other)
	}
	if cpuSince()() != 0 {
		t.Error("with no broker to read, the broker's CPU must read 0, not a guess")
	}
}

func TestCompareReadsSetupsAndRefusesWhatItCannotRun(t *testing.T) {
	got, err := parseSetups("nodes=1, nodes=3 ,store=postgres+payments=2,tap=stream")
	if err != nil {
		t.Fatal(err)
	}
	want := []Setup{
		{Name: "nodes=1", Nodes: 1, Store: "sqlite"},
		{Name: "nodes=3", Nodes: 3, Store: "sqlite"},
		{Name: "store=postgres+payments=2", Nodes: 1, Store: "postgres", Payments: 2},
		{Name: "tap=stream", Nodes: 1, Store: "sqlite", Tap: "stream"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseSetups = %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"nodes=2", "store=mysql", "payments=0", "payments=x", "tap=fast", "colour=red", "nodes"} {
		if _, err := parseSetups(bad); err == nil || !strings.HasPrefix(err.Error(), "-compare: ") {
			t.Errorf("parseSetups(%q) = %v, want a sentence starting with -compare:", bad, err)
		}
	}
}
