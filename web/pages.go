package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"time"

	"github.com/a-h/templ"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/static"
	"github.com/sagaboard/sagaboard/views"
)

// pageRoutes registers the dashboard's pages, its form endpoints and the
// WebSocket. The forms answer with HTML fragments that htmx swaps in; they
// change state, so each one goes through guard like the API.
func (s *Server) pageRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /{$}", s.dashboard)
	m.HandleFunc("GET /bookings/{id}", s.bookingPage)
	m.HandleFunc("GET /ws", s.websocket)
	m.HandleFunc("GET /static/{name}", s.static)
	m.HandleFunc("GET /ui/bookings", s.bookingList)
	m.HandleFunc("POST /ui/bookings", s.guard(s.bookFromForm))
	m.HandleFunc("POST /ui/failures", s.guard(s.switchesFromForm))
	m.HandleFunc("POST /ui/dead-letters/{id}/replay", s.guard(s.replayFromPage))
	m.HandleFunc("POST /ui/token", s.rememberToken)
	m.HandleFunc("GET /compare", s.comparePage)
	m.HandleFunc("POST /ui/load", s.guard(s.loadFromForm))
	m.HandleFunc("POST /api/load", s.guard(s.loadFromAPI))
	m.HandleFunc("/", s.notFound)
}

// page fills what every page's frame needs.
func (s *Server) page(r *http.Request, title, wsPath string) views.Page {
	return views.Page{
		Title:      title,
		Assets:     s.live.assets.urls,
		WS:         wsPath,
		NeedToken:  s.needsToken(r),
		TokenWrong: r.URL.Query().Get("token") == "wrong",
	}
}

// needsToken reports whether the page should ask for the token. A wrong
// cookie counts as a guess, as it does on the API, or a page load would
// tell a guesser what guard does not.
func (s *Server) needsToken(r *http.Request) bool {
	v, _ := s.gate.check(r)
	return v != tokenOK
}

// render draws c whole before sending anything, so a failure halfway gives
// a clean error rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var b bytes.Buffer
	if err := c.Render(r.Context(), &b); err != nil {
		s.log.Error("render failed", "path", r.URL.Path, "err", err)
		http.Error(w, "the page could not be drawn; see the server log", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// pageError answers a page request that failed.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	s.log.Error("page failed", "path", r.URL.Path, "err", err)
	s.render(w, r, http.StatusInternalServerError, views.MessagePage(s.page(r, "Error · sagaboard", ""),
		"Something went wrong", "The server could not read its data just now; its log says why.", false))
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := views.Dashboard{Page: s.page(r, "sagaboard", "/ws"), Filter: filterOf(r.URL.Query()), ListLimit: listLimit,
		Switches: s.switchViews(), Queues: s.live.queuesView(), Broker: s.live.brokerView(), Invariants: s.invariantsView()}
	seats, err := s.seats(ctx)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	d.Seats = s.seatMap(seats)
	if d.Stats, err = s.statsCounts(ctx); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.live.mu.Lock()
	d.Stats.BookingsPerSec, d.Stats.MessagesPerSec = s.live.rates.perSecond(time.Now())
	d.Stats.Steps = s.live.steps.views()
	s.live.mu.Unlock()
	if d.Bookings, err = s.listCards(ctx, d.Filter, listLimit); err != nil {
		s.pageError(w, r, err)
		return
	}
	if d.Notices, err = s.noticesView(ctx); err != nil {
		s.pageError(w, r, err)
		return
	}
	if d.DeadLetters, err = s.deadLettersView(ctx); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, views.DashboardPage(d))
}

// bookingList is the list alone, for the filter: htmx swaps it in and puts
// the filter in the address bar, so a reload keeps it.
func (s *Server) bookingList(w http.ResponseWriter, r *http.Request) {
	f := filterOf(r.URL.Query())
	items, err := s.listCards(r.Context(), f, listLimit)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	push := "/"
	if q := f.Query(); q != "" {
		push += "?" + q
	}
	w.Header().Set("HX-Push-Url", push)
	s.render(w, r, http.StatusOK, views.BookingList(items, f, listLimit))
}

// bookingViewCtx is one booking with its events, as the views take it.
func (s *Server) bookingViewCtx(ctx context.Context, id string) (views.Booking, error) {
	v, err := s.bookingView(ctx, id)
	if err != nil {
		return views.Booking{}, err
	}
	return viewBooking(v.Booking, v.Events, s.cfg.Switches.All()), nil
}

func (s *Server) bookingPage(w http.ResponseWriter, r *http.Request) {
	if id, ok := exportID(r); ok {
		s.exportBooking(w, r, id)
		return
	}
	id := r.PathValue("id")
	b, err := s.bookingViewCtx(r.Context(), id)
	if errors.Is(err, saga.ErrNotFound) {
		s.render(w, r, http.StatusNotFound, views.MessagePage(s.page(r, "No such booking · sagaboard", ""),
			"No such booking", "There is no booking "+views.Clip(id, 64)+" here.", false))
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	p := views.BookingPage{Page: s.page(r, "Booking "+views.ShortID(b.ID)+" · sagaboard", "/ws?booking="+url.QueryEscape(b.ID)), Booking: b}
	s.render(w, r, http.StatusOK, views.BookingPageView(p))
}

func (s *Server) websocket(w http.ResponseWriter, r *http.Request) {
	topic := dashboardTopic
	if id := r.URL.Query().Get("booking"); id != "" {
		if len(id) > 64 {
			http.Error(w, "booking id is too long", http.StatusBadRequest)
			return
		}
		topic = bookingTopic(id)
	}
	s.live.hub.Serve(w, r, topic)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusNotFound, views.MessagePage(s.page(r, "Not found · sagaboard", ""),
		"Not found", "There is no page at "+views.Clip(r.URL.Path, 100)+".", false))
}

// assets are the embedded static files, each with a hash of its content.
// Pages link them as /static/name?v=hash, so a browser may keep them for
// good: a new build with a changed file links a new URL.
type assets struct {
	files map[string]asset
	urls  views.Assets
}

type asset struct {
	body []byte
	hash string
}

func loadAssets() assets {
	a := assets{files: map[string]asset{}}
	fsys := static.FS()
	names, _ := fs.Glob(fsys, "*")
	for _, name := range names {
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			continue
		}
		sum := sha256.Sum256(body)
		a.files[name] = asset{body: body, hash: hex.EncodeToString(sum[:6])}
	}
	link := func(name string) string { return "/static/" + name + "?v=" + a.files[name].hash }
	a.urls = views.Assets{CSS: link("app.css"), JS: link("app.js"), HTMX: link("htmx.min.js"), HTMXWS: link("htmx-ext-ws.js")}
	return a
}

func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	a, ok := s.live.assets.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == a.hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", `"`+a.hash+`"`)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
