package main

import (
	"strings"
	"testing"
)

// TestStoreFlagReadsTheEnvironmentAndHidesThePassword: -store defaults to
// sqlite, SAGABOARD_STORE sets it, the flag wins, and a bad one is refused
// with a sentence that names -store and not the password.
func TestStoreFlagReadsTheEnvironmentAndHidesThePassword(t *testing.T) {
	const url = "postgres://postgres:envS3cret@127.0.0.1:5432/sagaboard?sslmode=disable"
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{nil, "", "sqlite"},
		{nil, url, url},
		{[]string{"-store", "sqlite"}, url, "sqlite"},
	} {
		m := NewMain()
		if err := m.ParseFlags(tc.args, func(k string) string {
			if k == "SAGABOARD_STORE" {
				return tc.env
			}
			return ""
		}); err != nil {
			t.Fatalf("%v with SAGABOARD_STORE=%q: %v", tc.args, tc.env, err)
		}
		if m.Config.Store != tc.want {
			t.Errorf("%v with SAGABOARD_STORE=%q: -store %q, want %q", tc.args, tc.env, m.Config.Store, tc.want)
		}
		shown := m.storeConfig().Shown()
		if strings.Contains(shown, "envS3cret") {
			t.Errorf("the store is shown as %q, with its password", shown)
		}
		if tc.want == "sqlite" && shown != "sqlite" {
			t.Errorf("the default store is shown as %q, want sqlite", shown)
		}
	}
	for _, bad := range []string{"postgres://postgres:envS3cret@[::1/x", "mysql://u:envS3cret@h/x", "postgres://postgres:envS3cret@h"} {
		err := NewMain().ParseFlags([]string{"-store", bad}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "-store") || strings.Contains(err.Error(), "envS3cret") {
			t.Errorf("-store %s: %v; want a refusal naming -store without the password", strings.ReplaceAll(bad, "envS3cret", "***"), err)
		}
	}
}
