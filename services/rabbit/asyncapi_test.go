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

	"github.com/sagaboard/sagaboard/services/nodetest"

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
	nodetest.MustNpmCI(t, dir)
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

func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(la) && i < len(lb); i++ {
		if la[i] != lb[i] {
			return "line " + strconv.Itoa(i+1) + ":\n  committed: " + la[i] + "\n  made:      " + lb[i]
		}
	}
	return "one is a prefix of the other"
}
