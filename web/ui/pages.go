package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/static"
	"github.com/sagaboard/sagaboard/views"
	"github.com/sagaboard/sagaboard/web/httperr"
	"github.com/sagaboard/sagaboard/web/load"
)

// Routes registers the pages, their form endpoints and the WebSocket on
// m. The forms answer with HTML fragments that htmx swaps in; they change
// state, so each one goes through guard like the API.
func (h *Handler) Routes(m *http.ServeMux, guard func(http.HandlerFunc) http.HandlerFunc) {
	m.HandleFunc("GET /{$}", h.dashboard)
	m.HandleFunc("GET /bookings/{id}", h.bookingPage)
	m.HandleFunc("GET /ws", h.websocket)
	m.HandleFunc("GET /static/{name}", h.static)
	m.HandleFunc("GET /ui/bookings", h.bookingList)
	m.HandleFunc("POST /ui/bookings", guard(h.bookFromForm))
	m.HandleFunc("POST /ui/failures", guard(h.switchesFromForm))
	m.HandleFunc("POST /ui/dead-letters/{id}/replay", guard(h.replayFromPage))
	m.HandleFunc("POST /ui/dead-letters/poison", guard(h.poisonFromPage))
	m.HandleFunc("POST /ui/slow-motion", guard(h.slowFromForm))
	m.HandleFunc("POST /ui/steps/{participant}/let-one-through", guard(h.letOneFromPage))
	m.HandleFunc("POST /ui/token", h.rememberToken)
	m.HandleFunc("GET /compare", h.comparePage)
	m.HandleFunc("GET /ui/history", h.history)
	m.HandleFunc("POST /ui/load", guard(h.loadFromForm))
	h.scenarioRoutes(m, guard)
	m.HandleFunc("/", h.notFound)
}

// page fills what every page's frame needs.
func (h *Handler) page(r *http.Request, title, wsPath string) views.Page {
	return views.Page{
		Title:      title,
		Assets:     h.assets.urls,
		WS:         wsPath,
		NeedToken:  h.cfg.Guard.NeedsToken(r),
		TokenWrong: r.URL.Query().Get("token") == "wrong",
	}
}

// render draws c whole before sending anything, so a failure halfway gives
// a clean error rather than half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var b bytes.Buffer
	if err := c.Render(r.Context(), &b); err != nil {
		h.log.Error("render failed", "path", r.URL.Path, "err", err)
		http.Error(w, "the page could not be drawn; see the server log", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// pageError answers a page request that failed.
func (h *Handler) pageError(w http.ResponseWriter, r *http.Request, err error) {
	if httperr.Gone(err) {
		return
	}
	h.log.Error("page failed", "path", r.URL.Path, "err", err)
	h.render(w, r, http.StatusInternalServerError, views.MessagePage(h.page(r, "Error · sagaboard", ""),
		"Something went wrong", "The server could not read its data just now; its log says why.", false))
}

func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := views.Dashboard{Page: h.page(r, "sagaboard", "/ws"),
		Switches: h.model.Switches(), Queues: h.live.queuesView(), Broker: h.live.brokerView(), Invariants: h.model.Invariants()}
	seats, err := h.model.Seats(ctx)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	d.Seats = h.model.SeatMap(seats)
	if d.Stats, err = h.model.Stats(ctx); err != nil {
		h.pageError(w, r, err)
		return
	}
	h.live.header(&d.Stats)
	if d.List, err = h.model.ListPage(ctx, r.URL.Query(), listLimit); err != nil {
		h.pageError(w, r, err)
		return
	}
	d.Filter = d.List.Filter
	if d.Notices, err = h.model.Notices(ctx); err != nil {
		h.pageError(w, r, err)
		return
	}
	if d.DeadLetters, err = h.model.DeadLetters(ctx); err != nil {
		h.pageError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, views.DashboardPage(d))
}

// bookingList is the list alone, for the filter, the search and the
// pager: htmx swaps it in and puts the same page in the address bar, so a
// reload keeps it.
func (h *Handler) bookingList(w http.ResponseWriter, r *http.Request) {
	l, err := h.model.ListPage(r.Context(), r.URL.Query(), listLimit)
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	push := l.PageURL("/", "", "")
	for _, dir := range []string{"before", "after"} {
		if id := r.URL.Query().Get(dir); id != "" && !l.Live {
			push = l.PageURL("/", dir, id)
		}
	}
	w.Header().Set("HX-Push-Url", push)
	h.render(w, r, http.StatusOK, views.ListView(l))
}

func (h *Handler) bookingPage(w http.ResponseWriter, r *http.Request) {
	if id, ok := exportID(r); ok {
		h.exportBooking(w, r, id)
		return
	}
	id := r.PathValue("id")
	b, err := h.model.Booking(r.Context(), id)
	if httperr.From(err).Code == httperr.Unavailable {
		h.message(w, r, err)
		return
	}
	if errors.Is(err, saga.ErrNotFound) {
		h.render(w, r, http.StatusNotFound, views.MessagePage(h.page(r, "No such booking · sagaboard", ""),
			"No such booking", "There is no booking "+views.Clip(id, 64)+" here.", false))
		return
	}
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	p := views.BookingPage{Page: h.page(r, "Booking "+views.ShortID(b.ID)+" · sagaboard", "/ws?booking="+url.QueryEscape(b.ID)), Booking: b}
	h.render(w, r, http.StatusOK, views.BookingPageView(p))
}

// loadFromForm is the dashboard's "Book N random" button.
func (h *Handler) loadFromForm(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		h.formFail(w, r, err)
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(r.PostForm.Get("n")))
	if err != nil {
		h.formFail(w, r, load.ErrN)
		return
	}
	st, err := h.cfg.Load.Start(r.Context(), n)
	if err != nil {
		h.formFail(w, r, err)
		return
	}
	h.answer(w, r, http.StatusAccepted, views.FormResult{OK: true, Message: load.Sentence(st)})
}

func (h *Handler) websocket(w http.ResponseWriter, r *http.Request) {
	topic := dashboardTopic
	if id := r.URL.Query().Get("booking"); id != "" {
		if len(id) > 64 {
			http.Error(w, "booking id is too long", http.StatusBadRequest)
			return
		}
		topic = bookingTopic(id)
	}
	h.live.hub.Serve(w, r, topic)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusNotFound, views.MessagePage(h.page(r, "Not found · sagaboard", ""),
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

func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	a, ok := h.assets.files[name]
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
