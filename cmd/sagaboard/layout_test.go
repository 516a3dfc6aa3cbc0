package main_test

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTopLevelHoldsOnlyTheLayout reads what git tracks at the top of the
// repository: the folders a newcomer finds their room by, the module files,
// the README and the Makefile, dot-files and licences, and nothing else. A
// binary built with `go build ./cmd/sagabench` at the top was once committed
// by mistake (11 MB); this is what would have said so.
func TestTopLevelHoldsOnlyTheLayout(t *testing.T) {
	out, err := exec.Command("git", "-C", "../..", "ls-files").Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): nothing to read the tracked files from", err)
	}
	allowed := []string{"cmd", "web", "services", "views", "static", "go.mod", "go.sum", "README.md", "Makefile"}
	seen := map[string]bool{}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		top, _, _ := strings.Cut(f, "/")
		if seen[top] {
			continue
		}
		seen[top] = true
		upper := strings.ToUpper(top)
		if slices.Contains(allowed, top) || strings.HasPrefix(top, ".") || strings.HasPrefix(upper, "LICENSE") || strings.HasPrefix(upper, "LICENCE") || strings.HasPrefix(upper, "COPYING") {
			continue
		}
		t.Errorf("%s is tracked at the top of the repository; the top holds only %s, dot-folders and licence files", top, strings.Join(allowed, " "))
	}
	// Nor anywhere else: a built program (go build in a cmd folder) is
	// megabytes the history keeps for ever. Executables start with ELF's
	// magic number.
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		file, err := os.Open(filepath.Join("../..", f))
		if err != nil {
			continue // deleted in the working tree, not yet in the index
		}
		head := make([]byte, 4)
		n, _ := io.ReadFull(file, head)
		file.Close()
		if n == 4 && string(head) == "\x7fELF" {
			t.Errorf("%s is a compiled program tracked by git; build into bin/ (make build), which git ignores", f)
		}
	}
}
