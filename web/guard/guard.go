// Package guard decides who may reach the server: the Host check against
// DNS rebinding (Hosts), the cross-site check and the token on every
// state-changing request (Guard), and the limit on guessing the token
// (Gate). The API and the pages share one Guard, so a form can change
// nothing the API would refuse to change.
package guard

import (
	"log/slog"
	"net"
	"net/http"

	"github.com/sagaboard/sagaboard/web/httperr"
)

// Guard protects state-changing routes.
type Guard struct {
	csrf *http.CrossOriginProtection
	gate *Gate
}

// New returns a Guard that requires token on state changes, or no token
// when it is "". log receives the brief lines about wrong tokens.
func New(token string, log *slog.Logger) *Guard {
	return &Guard{csrf: http.NewCrossOriginProtection(), gate: NewGate(token, log)}
}

// Gate returns the token gate, for the page that takes the token once.
func (g *Guard) Gate() *Gate { return g.gate }

// CrossSite returns an error when r comes from another site: net/http's own
// check, Sec-Fetch-Site, else Origin against Host. Requests with neither
// come from scripts such as curl, which no browser page can forge.
func (g *Guard) CrossSite(r *http.Request) error {
	if err := g.csrf.Check(r); err != nil {
		return httperr.Errorf(httperr.Forbidden, "cross-site request refused: the Origin does not match this server")
	}
	return nil
}

// NeedsToken reports whether a page should ask for the token. A wrong
// cookie counts as a guess, as it does on the API, or a page load would
// tell a guesser what Protect does not.
func (g *Guard) NeedsToken(r *http.Request) bool {
	v, _ := g.gate.Check(r)
	return v != TokenOK
}

// Protect guards a state-changing route: against cross-site requests
// always, and with the token when one is configured.
func (g *Guard) Protect(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := g.CrossSite(r); err != nil {
			httperr.WriteJSON(w, http.StatusForbidden, map[string]string{"error": err.Error()})
			return
		}
		switch v, retry := g.gate.Check(r); v {
		case TokenLimited:
			RefuseLimited(w, retry)
			return
		case TokenMissing, TokenWrong:
			httperr.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "this server needs its token: send Authorization: Bearer <token>"})
			return
		}
		next(w, r)
	}
}

// IsLoopback reports whether a listen address only accepts local clients.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Unspecified reports whether a listen host means "every interface".
func Unspecified(host string) bool { return unspecified(host) }
