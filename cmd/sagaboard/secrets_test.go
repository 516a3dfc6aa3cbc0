package main_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSecretsMalformedAMQPURLsStopTheStart checks that a mistyped -amqp is
// refused at start, in a sentence, without the password: the log is read by
// more people than the URL was meant for.
func TestSecretsMalformedAMQPURLsStopTheStart(t *testing.T) {
	const pw = "Zq9xW7kJ"
	for _, raw := range []string{
		"amqp:guest:" + pw + "@localhost:5672/", // amqp091-go alone would connect to vhost "/"
		"amqp://guest:" + pw + "@[::1",
		"amqp://guest:" + pw + "@host:notaport/",
		"http://guest:" + pw + "@x/",
	} {
		cmd := exec.Command(binary, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", raw)
		out, err := cmd.CombinedOutput()
		code := -1
		if e, ok := err.(*exec.ExitError); ok {
			code = e.ExitCode()
		}
		if code != 2 {
			t.Errorf("-amqp %q: exit code %d, want 2 (refused at start)\n%s", raw, code, out)
		}
		if strings.Contains(string(out), pw) || strings.Contains(string(out), pw[:4]) {
			t.Errorf("-amqp %q: the output shows the password:\n%s", raw, out)
		}
		if !strings.Contains(string(out), "-amqp") {
			t.Errorf("-amqp %q: the output does not name the flag:\n%s", raw, out)
		}
		t.Logf("%s", strings.TrimSpace(string(out)))
	}
}
