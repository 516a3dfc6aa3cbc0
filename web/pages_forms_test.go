package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sagaboard/sagaboard/services/booking"
	"github.com/sagaboard/sagaboard/services/saga"
	"github.com/sagaboard/sagaboard/web"
)

func TestBookingFormBooksAndShowsATakenSeatInline(t *testing.T) {
	h := mustServe(t, "")
	res, body := h.post("/ui/bookings", url.Values{"user_id": {"alice"}, "seats": {"A1", "A2"}})
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("booking A1 A2: %d %s", res.StatusCode, body)
	}
	doc := parse(t, body)
	if got := squash(doc.Find(".msg-line.ok").Text()); !strings.Contains(got, "Booked A1 A2 for alice (20.00)") {
		t.Errorf("the answer reads %q", got)
	}
	id := doc.Find("a[data-booking-id]").AttrOr("data-booking-id", "")
	if b, err := h.Booking.Get(context.Background(), id); err != nil || b.UserID != "alice" {
		t.Fatalf("the answer links booking %q, which is %+v, %v", id, b, err)
	}

	res, body = h.post("/ui/bookings", url.Values{"user_id": {"bob"}, "seats": {"A2", "A3"}})
	if res.StatusCode != http.StatusConflict {
		t.Fatalf("booking a held seat: %d, want 409", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("the conflict came back as %s, want an HTML sentence for the page", ct)
	}
	if got := squash(parse(t, body).Find(".msg-line.error").Text()); got != "✖ seat A2 is held — pick another seat" {
		t.Errorf("the conflict reads %q", got)
	}

	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"user_id": {"carol"}}, "pick at least one free seat"},
		{url.Values{"seats": {"B1"}}, "enter your name first"},
		{url.Values{"user_id": {"carol"}, "seats": {"Z9"}}, `seat "Z9" is not in this venue`},
	} {
		res, body := h.post("/ui/bookings", tc.form)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(squash(parse(t, body).Text()), tc.want) {
			t.Errorf("%v: %d %q, want 400 saying %q", tc.form, res.StatusCode, squash(body), tc.want)
		}
	}
}

func TestFormsRefuseCrossSiteRequests(t *testing.T) {
	h := mustServe(t, "")
	req, _ := http.NewRequest("POST", h.URL+"/ui/bookings", strings.NewReader("user_id=mallory&seats=A1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	if res, _ := h.do(req); res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site form post: %d, want 403", res.StatusCode)
	}
	if list, _ := h.Booking.List(context.Background(), booking.Filter{}); len(list) != 0 {
		t.Errorf("a cross-site post made %d bookings", len(list))
	}
}

func TestSwitchFormChangesTheSwitchesEverywhere(t *testing.T) {
	h := mustServe(t, "")
	res, body := h.post("/ui/failures", url.Values{"payment.fail_rate": {"1"}, "payment.delay_ms": {"250"}, "payment.paused": {"false", "true"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("switch form: %d %s", res.StatusCode, body)
	}
	if got := h.Switches.Get("payment"); got != (saga.Switch{FailRate: 1, DelayMS: 250, Paused: true}) {
		t.Errorf("payment switch = %+v, want fail 1, delay 250, paused", got)
	}
	select {
	case all := <-h.Published:
		if all["payment"].FailRate != 1 {
			t.Errorf("other processes were sent %+v", all)
		}
	case <-time.After(time.Second):
		t.Error("the change was not sent to the other processes")
	}
	if got := squash(parse(t, body).Find(".msg-line.ok").Text()); got != "✔ payment fails 100 %, waits 250 ms per message, is paused" {
		t.Errorf("the answer reads %q", got)
	}
	// The hidden "false" before the box is what an unticked box sends.
	h.post("/ui/failures", url.Values{"payment.paused": {"false"}})
	if h.Switches.Get("payment").Paused || h.Switches.Get("payment").FailRate != 1 {
		t.Errorf("unticking pause gave %+v, want only paused to change", h.Switches.Get("payment"))
	}

	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"payment.delay_ms": {"70000"}}, "payment.delay_ms must be from 0 to 60000"},
		{url.Values{"payment.fail_rate": {"NaN"}}, "payment.fail_rate must be a number from 0 to 1"},
		{url.Values{"payment.fail_rate": {"2"}}, "payment.fail_rate must be from 0 to 1"},
		{url.Values{"booking.fail_rate": {"1"}}, `unknown participant "booking"`},
		{url.Values{"payment.colour": {"red"}}, `unknown switch field "payment.colour"`},
	} {
		res, body := h.post("/ui/failures", tc.form)
		doc := parse(t, body)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(doc.Find(".msg-line.error").Text(), tc.want) {
			t.Errorf("%v: %d %q, want 400 saying %q", tc.form, res.StatusCode, squash(doc.Text()), tc.want)
			continue
		}
		// The rows come back with the switches as they are, over what was typed.
		if got := doc.Find(`form#switch-payment[hx-swap-oob="true"] input[name="payment.fail_rate"]`).AttrOr("value", ""); got != "1" {
			t.Errorf("%v: the payment row came back with fail_rate %q, want the unchanged 1", tc.form, got)
		}
	}
	if got := h.Switches.Get("payment"); got.FailRate != 1 || got.DelayMS != 250 {
		t.Errorf("refused changes changed the switch: %+v", got)
	}
}

func TestTokenIsAskedOnceAndKeptInACookie(t *testing.T) {
	h := mustServe(t, "s3cret-token")
	_, body := h.get("/")
	if parse(t, body).Find(`form.token-form input[name="token"]`).Length() != 1 {
		t.Fatal("the page does not ask for the token")
	}
	res, body := h.post("/ui/bookings", url.Values{"user_id": {"alice"}, "seats": {"A1"}})
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("booking without the token: %d %s", res.StatusCode, body)
	}

	res, _ = h.post("/ui/token", url.Values{"token": {"wrong"}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/?token=wrong" {
		t.Fatalf("wrong token: %d to %q", res.StatusCode, loc)
	}
	_, body = h.get("/?token=wrong")
	if got := squash(parse(t, body).Find(".token-form .error").Text()); got != "✖ That token is not right." {
		t.Errorf("after a wrong token the page says %q", got)
	}

	res, _ = h.post("/ui/token", url.Values{"token": {"s3cret-token"}})
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == web.TokenCookie {
			cookie = c
		}
	}
	if res.StatusCode != http.StatusSeeOther || cookie == nil {
		t.Fatalf("right token: %d, cookie %v", res.StatusCode, cookie)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" {
		t.Errorf("cookie = %+v, want HttpOnly, SameSite=Strict, Path=/", cookie)
	}
	res, body = h.post("/ui/bookings", url.Values{"user_id": {"alice"}, "seats": {"A1"}})
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("booking with the cookie: %d %s", res.StatusCode, body)
	}
	_, body = h.get("/")
	if parse(t, body).Find("form.token-form").Length() != 0 {
		t.Error("the page still asks for the token it has")
	}
}
