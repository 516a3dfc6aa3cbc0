package rabbit_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/services/rabbit"
	"github.com/sagaboard/sagaboard/static"
)

// The committed contract is what the tables make now: a route, a queue or
// a limit changed without `make asyncapi` fails here.
func TestAsyncAPIFileIsWhatTheTablesMake(t *testing.T) {
	if got, want := static.AsyncAPI(), rabbit.AsyncAPI(); !bytes.Equal(got, want) {
		t.Fatalf("static/asyncapi.yaml is not what the code's tables make now (%d bytes committed, %d made); run `make asyncapi` and commit it\n%s",
			len(got), len(want), firstDiff(string(got), string(want)))
	}
}

// The AsyncAPI parser finds no error in the committed document.
func TestAsyncAPIParserFindsNoError(t *testing.T) {
	dir := filepath.Join("..", "..", "static", "asyncapi-check")
	MustNpmCI(t, dir)
	out, err := exec.Command("node", filepath.Join(dir, "check.js"), filepath.Join("..", "..", "static", "asyncapi.yaml")).CombinedOutput()
	if err != nil {
		t.Fatalf("the AsyncAPI parser refuses static/asyncapi.yaml: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}

// A committed lock file names no registry, so npm ci installs from the one
// the machine is set up with.
func TestNpmLockFilesCarryNoAddresses(t *testing.T) {
	root := filepath.Join("..", "..")
	var locks []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if d.Name() == "package-lock.json" {
			locks = append(locks, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) == 0 {
		t.Fatal("no package-lock.json found; the AsyncAPI check needs one")
	}
	for _, lock := range locks {
		b, err := os.ReadFile(lock)
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`"resolved"|[a-z]+://[^"]*`).Find(b); m != nil {
			t.Errorf("%s carries %s; keep omit-lockfile-registry-resolved=true in the .npmrc beside it, install again, and drop the funding addresses", lock, m)
		}
	}
}

// MustNpmCI installs dir's locked packages with npm ci when they are
// missing or older than the lock file. Without node or npm it skips, except
// under CI, which must have them.
func MustNpmCI(t *testing.T, dir string) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed; CI must have Node.js 20 and npm", tool)
			}
			t.Skipf("%s is not installed; install Node.js 20 and npm to run this test", tool)
		}
	}
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if inst, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil && !inst.ModTime().Before(lock.ModTime()) {
		return
	}
	cmd := exec.Command("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
}

func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) && i < len(lb); i++ {
		if la[i] != lb[i] {
			return "line " + strconv.Itoa(i+1) + ":\n  committed: " + la[i] + "\n  made:      " + lb[i]
		}
	}
	return "one is a prefix of the other"
}
