package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sagaboard/sagaboard/services/scenario"
)

// The exit codes of -scenario.
const (
	scenarioPassed  = 0
	scenarioFailed  = 1 // an expectation failed, or a step could not be done
	scenarioInvalid = 2 // the file could not be read or is not a scenario
)

// PlayScenario plays the -scenario file against the server at -addr,
// printing each step as it is done, and returns the exit code. The runner
// is the one the page uses; only its client differs, speaking HTTP to
// another process.
func (m *Main) PlayScenario(ctx context.Context, out io.Writer) int {
	c := m.Config
	b, err := os.ReadFile(c.Scenario)
	if err != nil {
		fmt.Fprintf(m.Stderr, "sagaboard: -scenario: %v\n", err)
		return scenarioInvalid
	}
	doc, err := scenario.Parse(b)
	if err != nil {
		fmt.Fprintf(m.Stderr, "sagaboard: -scenario %s: %v\n", c.Scenario, err)
		return scenarioInvalid
	}
	run := scenario.NewRun(doc, &scenario.Client{Base: serverURL(c.Addr), Token: c.Token}, scenario.NewRunID())
	fmt.Fprintf(out, "%s — against %s\n", doc.Title, serverURL(c.Addr))
	done := make(chan scenario.Report, 1)
	go func() { done <- run.Play(ctx) }()
	printed := 0
	show := func(rep scenario.Report) {
		for ; printed < len(rep.Steps) && rep.Steps[printed].Done; printed++ {
			s := rep.Steps[printed]
			mark := "✔"
			if !s.OK {
				mark = "✖"
			}
			fmt.Fprintf(out, "%s %2d. %s\n", mark, printed+1, s.Text)
			if s.Expected != "" && !s.OK {
				fmt.Fprintf(out, "       expected: %s\n", s.Expected)
			}
			if s.Seen != "" && (!s.OK || s.Expected == "") {
				fmt.Fprintf(out, "       seen:     %s\n", s.Seen)
			}
		}
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case rep := <-done:
			show(rep)
			fmt.Fprintf(out, "%s\n%s\n", rep.Verdict, rep.Restored)
			if rep.State != scenario.Passed {
				return scenarioFailed
			}
			return scenarioPassed
		case <-tick.C:
			show(run.Report())
		}
	}
}

// serverURL is the base URL of the server at addr: a host:port, or a URL.
func serverURL(addr string) string {
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		return strings.TrimSuffix(addr, "/")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
