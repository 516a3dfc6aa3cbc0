package main_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestShortTokenIsRefusedAtStart: a token of a few characters is guessed
// in seconds, so the server will not start with one, and says how to make
// a good one. It stops before it looks for the broker.
func TestShortTokenIsRefusedAtStart(t *testing.T) {
	const short = "tiny-token-15ch"
	for name, tc := range map[string]struct {
		args []string
		env  []string
	}{
		"flag":        {args: []string{"-token", short}},
		"environment": {env: []string{"SAGABOARD_TOKEN=" + short}},
		"one char":    {args: []string{"-token", "x"}},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			args := append([]string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-amqp", "amqp://guest:guest@127.0.0.1:5672/"}, tc.args...)
			cmd := exec.CommandContext(ctx, binary, args...)
			cmd.Env = hostileEnv(tc.env...)
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil || err == nil {
				t.Fatalf("sagaboard %v started with a short token; want it refused at start:\n%s", args, out)
			}
			if !strings.Contains(string(out), "at least 16") || !strings.Contains(string(out), "openssl rand -hex 16") {
				t.Errorf("the refusal does not say how long a token must be and how to make one:\n%s", out)
			}
			if strings.Contains(string(out), short) || strings.Contains(string(out), "sagaboard ready") {
				t.Errorf("want one refusal that does not repeat the token:\n%s", out)
			}
		})
	}
}
