package main_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// readmeBlock returns the first ```sh block after heading in README.md.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, heading)
	if i < 0 {
		t.Fatalf("README.md has no %q", heading)
	}
	s = s[i:]
	start := strings.Index(s, "```sh\n")
	end := strings.Index(s[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatalf("no sh block under %q", heading)
	}
	return s[start+6 : start+6+end]
}

// TestReadmeShellSectionRunsAsWritten runs the README's shell section, line
// for line, against the real program on a venue someone already booked on:
// only the address is the test's own.
func TestReadmeShellSectionRunsAsWritten(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; the README's shell section uses it")
	}
	p, _ := startSaga(t)
	for _, seat := range []string{"A1", "A2", "B1"} { // a used venue: the first seats are taken
		id := p.Book("carol", seat)
		p.WaitFor(id, 10*time.Second, "confirmed", func(b Booking) bool { return b.Status == "confirmed" })
	}
	script := readmeBlock(t, "## Try it from a shell")
	const want = "base=http://localhost:8080\n"
	if !strings.HasPrefix(script, want) {
		t.Fatalf("the shell section does not start with %q:\n%s", want, script)
	}
	script = "base=" + strings.TrimSuffix(p.URL, "/") + "\n" + strings.TrimPrefix(script, want)
	cmd := exec.Command("bash", "-eu", "-c", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the shell section failed: %v\n%s", err, out)
	}
	got := string(out)
	for _, w := range []string{`"status":"confirmed"`, `"status":"compensated"`, "[]", `"payment":{"fail_rate":0`} {
		if !strings.Contains(got, w) {
			t.Errorf("the shell section's output lacks %s:\n%s", w, got)
		}
	}
	if strings.Index(got, `"status":"confirmed"`) > strings.Index(got, `"status":"compensated"`) {
		t.Errorf("alice's booking should be confirmed before bob's is compensated:\n%s", got)
	}
}
