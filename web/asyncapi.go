package web

import (
	"net/http"
	"strconv"

	"github.com/sagaboard/sagaboard/static"
)

// asyncAPI serves the message contract, AsyncAPI 3 in YAML: the document
// committed as static/asyncapi.yaml, which a test keeps equal to what the
// code's routing tables make.
func asyncAPI(w http.ResponseWriter, _ *http.Request) {
	doc := static.AsyncAPI()
	h := w.Header()
	// application/yaml is the registered type (RFC 9512).
	h.Set("Content-Type", "application/yaml; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(doc)))
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(doc)
}
