package main

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat. It is 100 on every Linux we know of, but getconf is the
// only portable way to ask.
var clockTicks = func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
}()

// parseStatCPU returns utime+stime in clock ticks from the text of
// /proc/<pid>/stat. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStatCPU(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc: stat has no command name: %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state), so utime (field 14) is f[11], stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("proc: stat has %d fields after the name, want at least 13", len(f))
	}
	utime, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc: utime %q: %w", f[11], err)
	}
	stime, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc: stime %q: %w", f[12], err)
	}
	return utime + stime, nil
}

// cpuTime returns the CPU time a process has used so far, user and system.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("proc: read stat: %w", err)
	}
	ticks, err := parseStatCPU(string(b))
	if err != nil {
		return 0, err
	}
	return time.Duration(ticks) * time.Second / time.Duration(clockTicks), nil
}

// parseStatusKB returns the value of a "Key:   123 kB" line of
// /proc/<pid>/status (or /proc/meminfo) in bytes.
func parseStatusKB(status, key string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != key {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc: %s %q: %w", key, f[0], err)
		}
		if len(f) > 1 && f[1] != "kB" {
			return 0, fmt.Errorf("proc: %s is in %q, want kB", key, f[1])
		}
		return n << 10, nil
	}
	return 0, fmt.Errorf("proc: no %s line", key)
}

// peakRSS returns the high-water mark of a process's resident memory.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("proc: read status: %w", err)
	}
	return parseStatusKB(string(b), "VmHWM")
}

// Machine describes where the figures were measured; they mean little
// without it.
type Machine struct {
	CPUs     int
	Model    string
	MemBytes int64
	RabbitMQ string
	Go       string
}

func (m Machine) String() string {
	return fmt.Sprintf("%d × %s, %.1f GiB RAM, RabbitMQ %s, %s", m.CPUs, m.Model, float64(m.MemBytes)/(1<<30), m.RabbitMQ, m.Go)
}

// parseCPUModel returns the first "model name" of /proc/cpuinfo.
func parseCPUModel(cpuinfo string) string {
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "unknown CPU"
}

// describeMachine gathers what it can; a missing piece reads "unknown"
// rather than stopping the benchmark.
func describeMachine(ctx context.Context) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Model: "unknown CPU", RabbitMQ: "unknown", Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.Model = parseCPUModel(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemBytes, _ = parseStatusKB(string(b), "MemTotal")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "rabbitmqctl", "version").Output(); err == nil {
		m.RabbitMQ = strings.TrimSpace(string(out))
	}
	return m
}

// brokerPID finds the Erlang VM, beam.smp, that listens on the AMQP
// port of amqpURL, to read its CPU time: the broker's work per booking is
// half of what a booking costs on one machine. Several nodes may run here
// (tests start their own), and their command lines do not name them, so
// the listening socket is what tells them apart. 0 when there is none to
// read (the broker is elsewhere, or /proc cannot be read).
func brokerPID(amqpURL string) int {
	port := 5672
	if u, err := url.Parse(amqpURL); err == nil && u.Port() != "" {
		port, _ = strconv.Atoi(u.Port())
	}
	inodes := listenInodes(port)
	if len(inodes) == 0 {
		return 0
	}
	for _, pid := range pidsNamed("beam.smp") {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err == nil && inodes[link] {
				return pid
			}
		}
	}
	return 0
}

// listenInodes returns the sockets listening on port, as the fd links name
// them ("socket:[inode]"), from /proc/net/tcp and tcp6.
func listenInodes(port int) map[string]bool {
	out := map[string]bool{}
	hexPort := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fs := strings.Fields(line)
			if len(fs) < 10 || !strings.HasSuffix(fs[1], hexPort) || fs[3] != "0A" {
				continue
			}
			out["socket:["+fs[9]+"]"] = true
		}
	}
	return out
}

// cpuSince returns a function that reports the CPU the processes pids have
// used together since cpuSince was called; 0 when there are none or one
// cannot be read.
func cpuSince(pids ...int) func() time.Duration {
	total := func() (time.Duration, error) {
		var sum time.Duration
		for _, pid := range pids {
			d, err := cpuTime(pid)
			if err != nil {
				return 0, err
			}
			sum += d
		}
		return sum, nil
	}
	t0, err := total()
	if len(pids) == 0 || err != nil {
		return func() time.Duration { return 0 }
	}
	return func() time.Duration {
		t1, err := total()
		if err != nil {
			return 0
		}
		return t1 - t0
	}
}

// cpuOfNamed returns a function that reports the CPU used since it was
// called by every process named comm: PostgreSQL's server and its
// backends, which are processes of their own beside sagaboard's. A backend
// started since counts from 0; one that exited since is lost, which a
// connection pool, keeping its backends, makes rare.
func cpuOfNamed(comm string) func() time.Duration {
	read := func() map[int]time.Duration {
		out := map[int]time.Duration{}
		for _, pid := range pidsNamed(comm) {
			if d, err := cpuTime(pid); err == nil {
				out[pid] = d
			}
		}
		return out
	}
	t0 := read()
	return func() time.Duration {
		var sum time.Duration
		for pid, d := range read() {
			sum += d - t0[pid]
		}
		return sum
	}
}

// pidsNamed lists the processes whose command name (/proc/PID/comm) is
// comm; none when /proc cannot be read.
func pidsNamed(comm string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		c, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && strings.TrimSpace(string(c)) == comm {
			out = append(out, pid)
		}
	}
	return out
}
