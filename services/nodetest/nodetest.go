// Package nodetest helps tests that run the project's Node.js code: the
// AsyncAPI parser check and the Node participant.
package nodetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// MustNpmCI installs dir's locked packages with npm ci when they are
// missing or older than the lock file. Without node or npm it skips, except
// under CI, which must have them.
func MustNpmCI(tb testing.TB, dir string) {
	tb.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				tb.Fatalf("%s is not installed; CI must have Node.js 20 and npm", tool)
			}
			tb.Skipf("%s is not installed; install Node.js 20 and npm to run this test", tool)
		}
	}
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if inst, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil && !inst.ModTime().Before(lock.ModTime()) {
		return
	}
	cmd := exec.Command("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
}
