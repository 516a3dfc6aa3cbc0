package guard

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sagaboard/sagaboard/web/httperr"
	"golang.org/x/time/rate"
)

// MinTokenLength is the shortest token the server takes: 16 characters
// (64 bits as hex) is too many to guess at the pace Gate allows.
const MinTokenLength = 16

// TokenCookie is the cookie the page keeps the token in after asking once.
const TokenCookie = "sagaboard_token"

// How fast one client address may guess. After a burst of guessBurst
// wrong tokens it gets one more every guessEvery; 200 guesses then take
// about a minute and a half instead of two seconds, and a person who
// mistypes a few times never notices.
const (
	guessEvery  = 500 * time.Millisecond
	guessBurst  = 10
	maxGuessers = 4096        // addresses remembered at once; see guesser
	logEvery    = time.Minute // at most one log line per address per logEvery
)

// overflowKey is where the addresses that do not fit in maxGuessers are
// counted together, so a flood of addresses shares one limit rather than
// growing the map or getting a fresh limit each.
const overflowKey = "(many addresses)"

// Verdict is what Gate says about a request's token.
type Verdict int

const (
	TokenOK      Verdict = iota // no token is needed, or a right one was given
	TokenMissing                // none was given: not a guess, so not counted
	TokenWrong                  // a wrong one was given, and counted
	TokenLimited                // too many wrong ones lately: not even compared
)

// Gate compares tokens and slows down guessing them, per client
// address (ClientAddr). A client past its limit is answered 429 without
// its token being compared at all, so guessing faster gains nothing, and
// the right token waits too until the limit has passed.
type Gate struct {
	token string
	log   *slog.Logger

	mu       sync.Mutex
	guessers map[string]*guesser
	swept    time.Time
}

// guesser is one address that gave a wrong token lately.
type guesser struct {
	lim     *rate.Limiter
	wrong   int       // wrong tokens since the last log line
	limited int       // requests refused with 429 since the last log line
	logged  time.Time // when the last log line about it was written
}

func NewGate(token string, log *slog.Logger) *Gate {
	return &Gate{token: token, log: log, guessers: map[string]*guesser{}}
}

// Required reports whether state changes need a token here.
func (g *Gate) Required() bool { return g.token != "" }

// Check judges the tokens a request presents: the Bearer token and the
// cookie, or, for the page's token form, the value typed. A request that
// presents none is not a guess. retry says how long a limited client
// must wait.
func (g *Gate) Check(r *http.Request, typed ...string) (v Verdict, retry time.Duration) {
	if !g.Required() {
		return TokenOK, 0
	}
	candidates := typed
	if len(typed) == 0 {
		if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			candidates = append(candidates, got)
		}
		if c, err := r.Cookie(TokenCookie); err == nil {
			candidates = append(candidates, c.Value)
		}
	}
	if len(candidates) == 0 || (len(candidates) == 1 && candidates[0] == "") {
		return TokenMissing, 0
	}
	now := time.Now()
	key := ClientAddr(r)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	c := g.guessers[key]
	if c != nil && c.lim.TokensAt(now) < 1 {
		c.limited++
		g.report(key, c, now)
		return TokenLimited, wait(c.lim, now)
	}
	for _, got := range candidates {
		if subtle.ConstantTimeCompare([]byte(got), []byte(g.token)) == 1 {
			return TokenOK, 0
		}
	}
	if c == nil {
		c, key = g.add(key)
	}
	c.lim.AllowN(now, 1)
	c.wrong++
	g.report(key, c, now)
	return TokenWrong, 0
}

// add starts counting for key, or for everybody past maxGuessers. g.mu is
// held.
func (g *Gate) add(key string) (*guesser, string) {
	if len(g.guessers) >= maxGuessers {
		key = overflowKey
	}
	c := g.guessers[key]
	if c == nil {
		c = &guesser{lim: rate.NewLimiter(rate.Every(guessEvery), guessBurst)}
		g.guessers[key] = c
	}
	return c, key
}

// report logs what key did since its last line: at once for its first
// wrong token, then at most once per logEvery, so a guesser cannot flood
// the log. The token itself is never logged, right or wrong. g.mu is held.
func (g *Gate) report(key string, c *guesser, now time.Time) {
	if c.wrong+c.limited == 0 || (!c.logged.IsZero() && now.Sub(c.logged) < logEvery) {
		return
	}
	g.log.Warn("wrong token", "client", key, "wrong", c.wrong, "refused_429", c.limited,
		"note", fmt.Sprintf("counts since the last line about this client; at most one line per %s", logEvery))
	c.wrong, c.limited, c.logged = 0, 0, now
}

// sweep, at most once per logEvery, writes the counts still unreported
// and forgets the addresses whose limit has filled up again, so the map
// holds only recent guessers. g.mu is held.
func (g *Gate) sweep(now time.Time) {
	if now.Sub(g.swept) < logEvery {
		return
	}
	g.swept = now
	for key, c := range g.guessers {
		if now.Sub(c.logged) >= logEvery {
			g.report(key, c, now)
		}
		if c.lim.TokensAt(now) >= guessBurst && c.wrong+c.limited == 0 {
			delete(g.guessers, key)
		}
	}
}

// wait is how long until lim allows one more event.
func wait(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	return time.Duration(math.Ceil(missing / float64(lim.Limit()) * float64(time.Second)))
}

// RefuseLimited answers 429 with Retry-After.
func RefuseLimited(w http.ResponseWriter, retry time.Duration) {
	secs := SetRetryAfter(w, retry)
	httperr.WriteJSON(w, http.StatusTooManyRequests, map[string]string{"error": fmt.Sprintf("too many wrong tokens from your address; wait %d s and try again", secs)})
}

// SetRetryAfter sets Retry-After to retry in whole seconds, at least one,
// and returns them.
func SetRetryAfter(w http.ResponseWriter, retry time.Duration) int {
	secs := max(int(math.Ceil(retry.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return secs
}

// ClientAddr names the client a request comes from, for the limits kept
// per client. Every loopback address is this machine, one client: else
// one local program could take 127.0.0.2, 127.0.0.3, … and get a fresh
// limit with each. An IPv6 client is its /64, which one host usually
// holds whole. The address is the connection's own; X-Forwarded-For is
// not trusted, so behind a reverse proxy every client is the proxy.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.Is6():
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
