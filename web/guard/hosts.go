package guard

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/sagaboard/sagaboard/web/httperr"
)

// Hosts is the set of Host names a server answers to. A browser sends, as
// Host, the name it put in the address bar, whatever that name resolved
// to; so a page of evil.example whose DNS was turned to 127.0.0.1 (DNS
// rebinding) still says Host: evil.example, and is refused here before it
// can book, flip a switch, read anything or open the WebSocket. The Origin
// check cannot catch it: to the browser, that page is same-origin.
//
// Loopback names are always accepted: localhost, 127.0.0.0/8 and ::1. So
// are the subdomains of localhost (app.localhost): browsers resolve them
// to loopback themselves and never ask DNS (RFC 6761), so nobody outside
// can point one elsewhere, and people use them to tell local apps apart.
type Hosts struct {
	names map[string]bool // lower case, without port or brackets
}

// NewHosts accepts the loopback names, the host of the listen address
// addr unless it is unspecified (0.0.0.0, :: or empty, which say where to
// listen, not what the server is called), and every name in extra (the
// -allowed-hosts list, e.g. the name a reverse proxy forwards). A name in
// extra may carry a port; ports are ignored, as everywhere here. There
// are no wildcards: each name is given whole.
func NewHosts(addr string, extra []string) Hosts {
	h := Hosts{names: map[string]bool{}}
	if host, _, err := net.SplitHostPort(addr); err == nil && !unspecified(host) {
		h.names[hostName(host)] = true
	}
	for _, e := range extra {
		if n := hostName(strings.TrimSpace(e)); n != "" {
			h.names[n] = true
		}
	}
	return h
}

// unspecified reports whether a listen host means "every interface".
func unspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// LoopbackOnly reports whether the server answers to loopback names alone.
func (h Hosts) LoopbackOnly() bool {
	for n := range h.names {
		if !loopbackName(n) {
			return false
		}
	}
	return true
}

// Allows reports whether hostport, a Host header with or without its
// port, names this server. Case does not matter. It is by hand because
// net/http has no Host allow-list: http.CrossOriginProtection, which Guard
// uses, checks Origin against Host, not Host itself.
func (h Hosts) Allows(hostport string) bool {
	n := hostName(hostport)
	if n == "" {
		return false
	}
	return loopbackName(n) || h.names[n]
}

// Guard refuses a request for any other Host with 421 Misdirected Request
// (RFC 9110: "not a name this server answers to"), which tells it apart
// from the 403 of a cross-site request: JSON for the API and /healthz, a
// plain sentence elsewhere.
func (h Hosts) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.Allows(r.Host) {
			next.ServeHTTP(w, r)
			return
		}
		msg := fmt.Sprintf("this server does not answer to the host name %q; open it as localhost or 127.0.0.1, "+
			"or start it with -allowed-hosts naming that host", clip(hostName(r.Host), 64))
		if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/healthz" {
			httperr.WriteJSON(w, http.StatusMisdirectedRequest, map[string]string{"error": msg})
			return
		}
		http.Error(w, msg, http.StatusMisdirectedRequest)
	})
}

// hostName is the host of a Host header or a listen address: lower case,
// without port, IPv6 brackets or the trailing dot of a fully qualified name.
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// loopbackName reports whether a host name always means this machine.
func loopbackName(n string) bool {
	if n == "localhost" || strings.HasSuffix(n, ".localhost") {
		return true
	}
	ip := net.ParseIP(n)
	return ip != nil && ip.IsLoopback()
}

// clip shortens s to at most n bytes, for echoing what a client sent.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
