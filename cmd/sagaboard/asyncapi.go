package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/sagaboard/sagaboard/services/rabbit"
)

// writeAsyncAPI is `sagaboard asyncapi [-o FILE]`: it prints the message
// contract this binary speaks, AsyncAPI 3 in YAML, or writes it to FILE.
// `go generate ./static` (make asyncapi) keeps static/asyncapi.yaml with it.
func writeAsyncAPI(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sagaboard asyncapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the document to this file instead of standard output (default: standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	doc := rabbit.AsyncAPI()
	if *out == "" {
		if _, err := stdout.Write(doc); err != nil {
			return fmt.Errorf("asyncapi: write: %w", err)
		}
		return nil
	}
	if err := writeFileAtomic(*out, doc); err != nil {
		return fmt.Errorf("asyncapi: %w", err)
	}
	return nil
}
