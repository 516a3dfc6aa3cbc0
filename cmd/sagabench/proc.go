package main

import (
	"bufio"
	"context"
	"fmt"
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

// brokerPID finds the local RabbitMQ node's Erlang VM, beam.smp, to read
// its CPU time as the server's: the broker's work per booking is half of
// what a booking costs on one machine. Among several (a test's own nodes,
// a cluster's), the one listening on AMQP's port 5672 wins, then the
// machine's node, rabbit@…. 0 when there is none to read.
func brokerPID() int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	listening := listenSocket(5672)
	best := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "beam.smp" {
			continue
		}
		if listening != "" && holds(pid, listening) {
			return pid
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmd), "rabbit@") {
			return pid
		}
		if best == 0 {
			best = pid
		}
	}
	return best
}

// cpuSince returns a function that reports the CPU pid has used since
// cpuSince was called; 0 when pid is 0 or cannot be read.
func cpuSince(pid int) func() time.Duration {
	if pid == 0 {
		return func() time.Duration { return 0 }
	}
	t0, err := cpuTime(pid)
	if err != nil {
		return func() time.Duration { return 0 }
	}
	return func() time.Duration {
		t1, err := cpuTime(pid)
		if err != nil {
			return 0
		}
		return t1 - t0
	}
}

// listenSocket is the link name ("socket:[inode]") of the socket listening
// on TCP port, from /proc/net/tcp and tcp6; "" when none is.
func listenSocket(port int) string {
	hexPort := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			fs := strings.Fields(line)
			// local_address is the second field, the state the fourth
			// (0A: listening), the inode the tenth.
			if len(fs) > 9 && strings.HasSuffix(fs[1], hexPort) && fs[3] == "0A" {
				return "socket:[" + fs[9] + "]"
			}
		}
	}
	return ""
}

// holds reports whether pid has link open, as /proc/pid/fd shows it.
func holds(pid int, link string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if l, err := os.Readlink(dir + "/" + fd.Name()); err == nil && l == link {
			return true
		}
	}
	return false
}
