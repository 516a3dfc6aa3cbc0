package static_test

import (
	"io/fs"
	"os/exec"
	"regexp"
	"testing"

	"github.com/sagaboard/sagaboard/static"
)

// TestStylesheetBlocksAreClosed guards against a block left open, as a
// merge once did: a browser closes it at the end of the file, so every rule
// after it silently applied only inside an @media for narrow screens.
func TestStylesheetBlocksAreClosed(t *testing.T) {
	css, err := fs.ReadFile(static.FS(), "app.css")
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAll(css, nil)
	depth, line := 0, 1
	for _, c := range text {
		switch c {
		case '\n':
			line++
		case '{':
			depth++
		case '}':
			if depth--; depth < 0 {
				t.Fatalf("app.css: a } with no block open, near line %d (comments removed)", line)
			}
		}
	}
	if depth != 0 {
		t.Errorf("app.css ends with %d block(s) still open", depth)
	}
}

// TestScriptParses checks app.js with node, where node is installed.
func TestScriptParses(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	if out, err := exec.Command("node", "--check", "app.js").CombinedOutput(); err != nil {
		t.Errorf("app.js does not parse: %v\n%s", err, out)
	}
}
