package main

import (
	"io"
	"strings"
	"testing"
)

// TestTapFlags: the tap's kind follows -quorum unless given, the retention
// reads the sizes a person writes, and a bad value is refused with a
// sentence that says what would do.
func TestTapFlags(t *testing.T) {
	parse := func(env map[string]string, args ...string) (Config, error) {
		m := NewMain()
		m.Stderr = io.Discard
		err := m.ParseFlags(append([]string{"-data", t.TempDir()}, args...), func(k string) string { return env[k] })
		return m.Config, err
	}
	for _, tc := range []struct {
		name      string
		env       map[string]string
		args      []string
		tap       string
		retention int64
	}{
		{"default", nil, nil, "classic", 1_000_000_000},
		{"quorum", nil, []string{"-quorum"}, "stream", 1_000_000_000},
		{"quorum, classic asked", nil, []string{"-quorum", "-tap", "classic"}, "classic", 1_000_000_000},
		{"stream, binary size", nil, []string{"-tap", "stream", "-tap-retention", "2GiB"}, "stream", 2 << 30},
		{"environment", map[string]string{"SAGABOARD_TAP": "stream", "SAGABOARD_TAP_RETENTION": "500 MB"}, nil, "stream", 500_000_000},
		{"fraction", nil, []string{"-tap-retention", "1.5gb"}, "classic", 1_500_000_000},
	} {
		c, err := parse(tc.env, tc.args...)
		if err != nil || c.Tap != tc.tap || c.TapRetention != tc.retention {
			t.Errorf("%s: tap %q, retention %d, %v; want %q, %d", tc.name, c.Tap, c.TapRetention, err, tc.tap, tc.retention)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-tap", "queue"}, `-tap must be classic or stream, not "queue"`},
		{[]string{"-tap-retention", "lots"}, `-tap-retention: give a size such as 500MB, 2GB or 1GiB, not "lots"`},
		{[]string{"-tap-retention", "5XB"}, `give a size such as`},
		{[]string{"-tap-retention", "-1GB"}, `give a size such as`},
		{[]string{"-tap-retention", "10kB"}, `"10kB" is not between 1 MiB and 1 PiB`},
	} {
		if _, err := parse(nil, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want an error saying %s", tc.args, err, tc.want)
		}
	}
}
