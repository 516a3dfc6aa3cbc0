// Package static holds the browser assets that sagaboard serves: the
// vendored htmx library and its WebSocket extension (versions pinned in
// VERSIONS, refreshed with `make vendor-htmx`), the dashboard stylesheet and
// the page's small script (the Content-Security-Policy allows no inline
// script, so it is a file), and the message contract, asyncapi.yaml.
package static

import (
	"embed"
	"io/fs"
)

// files is the one package-level variable here: //go:embed can only
// initialise a variable, so the embedded assets cannot be built any other
// way. It stays unexported so that nothing can replace it. The files are
// named one by one rather than by a pattern: the folder also keeps the
// README's screenshot.png, VERSIONS and the licences, and the binary
// should neither carry nor serve them.
//
//go:generate go run ../cmd/sagaboard asyncapi -o asyncapi.yaml
//go:embed htmx.min.js htmx-ext-ws.js app.css app.js asyncapi.yaml
var files embed.FS

// FS returns the embedded static assets (htmx.min.js, htmx-ext-ws.js,
// app.css, app.js and asyncapi.yaml) as a read-only file system. It is a function rather than an
// exported variable so that callers cannot reassign the embedded files.
func FS() fs.FS { return files }

// AsyncAPI returns the message contract, AsyncAPI 3 in YAML, as committed:
// `make asyncapi` writes it from the tables the code enforces, and a test in
// services/rabbit fails when it is not what they make now.
func AsyncAPI() []byte {
	b, _ := files.ReadFile("asyncapi.yaml") // embedded: it cannot be missing
	return b
}
