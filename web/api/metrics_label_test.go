package api

import "testing"

// TestLabelValueEscapesAsTheTextFormatSays: the Prometheus text format
// escapes backslash, double quote and newline in a label value, and
// nothing else; Go's %q would also write \t or \x00, which it cannot read.
func TestLabelValueEscapesAsTheTextFormatSays(t *testing.T) {
	for in, want := range map[string]string{
		"payment_queue":  `"payment_queue"`,
		`a\b`:            `"a\\b"`,
		`say "hi"`:       `"say \"hi\""`,
		"two\nlines":     `"two\nlines"`,
		"tab\there":      "\"tab\there\"",
		"nul\x00":        "\"nul\x00\"",
		"bad\xffutf8":    "\"bad\uFFFDutf8\"",
		`"} 1` + "\n# x": `"\"} 1\n# x"`,
	} {
		if got := labelValue(in); got != want {
			t.Errorf("labelValue(%q) = %s, want %s", in, got, want)
		}
	}
}
