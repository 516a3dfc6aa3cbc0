package views_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/sagaboard/sagaboard/views"
)

func renderInvariants(t *testing.T, v views.Invariants, oob bool) (*goquery.Selection, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := views.InvariantsPanel(v, oob).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	panel := doc.Find("#invariants")
	if panel.Length() != 1 {
		t.Fatalf("no single #invariants in %s", buf.String())
	}
	return panel, buf.String()
}

func fiveRules() []views.InvariantRule {
	var rs []views.InvariantRule
	for _, n := range []string{"seat-sold-to-confirmed", "held-seat-pending", "confirmed-nets-amount", "compensated-nets-zero", "handled-once"} {
		rs = append(rs, views.InvariantRule{Name: n, Description: "what " + n + " means", Checked: true})
	}
	return rs
}

func TestInvariantsPanelIsGreenInWordsWhenEveryRuleHolds(t *testing.T) {
	now := time.Now()
	v := views.Invariants{Known: true, State: "ok", CheckedAt: now.Add(-400 * time.Millisecond), Now: now, Bookings: 1204, Rules: fiveRules()}
	panel, _ := renderInvariants(t, v, false)
	head := squashText(panel.Find(".inv-head"))
	if want := "✔ 5 rules hold · checked 0.4 s ago · 1,204 bookings"; head != want {
		t.Errorf("headline %q, want %q", head, want)
	}
	if !panel.HasClass("inv-ok") || panel.AttrOr("data-state", "") != "ok" {
		t.Errorf("panel class %q state %q, want inv-ok and ok", panel.AttrOr("class", ""), panel.AttrOr("data-state", ""))
	}
	if _, oob := panel.Attr("hx-swap-oob"); oob {
		t.Error("the page's panel carries hx-swap-oob")
	}
	if p, _ := renderInvariants(t, v, true); p.AttrOr("hx-swap-oob", "") != "true" {
		t.Error("the live fragment lacks hx-swap-oob")
	}
}

func TestInvariantsPanelNamesEachBrokenRulesBookingsAsLinks(t *testing.T) {
	rules := fiveRules()
	for i := range 13 {
		rules[2].Violations = append(rules[2].Violations, views.InvariantViolation{BookingID: "bk" + strings.Repeat("x", i), Detail: "confirmed for 10.00, but the ledger nets 0.00"})
	}
	rules[0].Violations = []views.InvariantViolation{{BookingID: `evil"><script>alert(1)</script>`, Detail: `<img src=x onerror=alert(1)>`}}
	v := views.Invariants{Known: true, State: "violated", CheckedAt: time.Now(), Now: time.Now(), Rules: rules}
	panel, html := renderInvariants(t, v, false)
	if !panel.HasClass("inv-bad") || !strings.HasPrefix(squashText(panel.Find(".inv-head")), "✖ 2 rules are broken") {
		t.Errorf("headline %q class %q, want ✖ and the count of broken rules", squashText(panel.Find(".inv-head")), panel.AttrOr("class", ""))
	}
	nets := panel.Find(`[data-rule="confirmed-nets-amount"]`)
	if n := nets.Find(".inv-violations a").Length(); n != views.MaxShownViolations {
		t.Errorf("%d bookings listed, want %d", n, views.MaxShownViolations)
	}
	if got := squashText(nets.Find(".inv-more")); got != "and 3 more" {
		t.Errorf("overflow line %q, want \"and 3 more\"", got)
	}
	if href := nets.Find(".inv-violations a").First().AttrOr("href", ""); href != "/bookings/bk" {
		t.Errorf("first link %q, want /bookings/bk", href)
	}
	if !strings.Contains(squashText(panel.Find(`[data-rule="held-seat-pending"]`)), "holds") {
		t.Error("a rule with no violation does not say it holds")
	}
	if strings.Contains(html, "<script>") || strings.Contains(html, "<img") {
		t.Errorf("a hostile booking id or detail reached the page as markup: %s", html)
	}
	if d := squashText(panel.Find(`[data-rule="seat-sold-to-confirmed"] .inv-detail`)); d != `<img src=x onerror=alert(1)>` {
		t.Errorf("detail shown as %q, want the text as it is", d)
	}
}

func TestInvariantsPanelNeverShowsAnUncheckedRuleAsHolding(t *testing.T) {
	rules := fiveRules()
	rules[3].Checked, rules[3].Skipped = false, "Payment's ledger is kept by another process"
	v := views.Invariants{Known: true, State: "partial", CheckedAt: time.Now(), Now: time.Now(), Rules: rules}
	panel, _ := renderInvariants(t, v, false)
	if panel.HasClass("inv-ok") || !strings.Contains(squashText(panel.Find(".inv-head")), "4 rules hold · 1 not checked in this process") {
		t.Errorf("partial panel: class %q headline %q", panel.AttrOr("class", ""), squashText(panel.Find(".inv-head")))
	}
	row := squashText(panel.Find(`[data-rule="compensated-nets-zero"]`))
	if strings.Contains(row, "holds") || strings.Contains(row, "✔") || !strings.Contains(row, "not checked here: Payment's ledger is kept by another process") {
		t.Errorf("unchecked rule reads %q", row)
	}
	if p, _ := renderInvariants(t, views.Invariants{}, false); !strings.Contains(p.Text(), "not in this one") {
		t.Errorf("without a checker the panel says %q", p.Text())
	}
}

func squashText(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }

func TestInvariantsPillSaysTheVerdictInTheHeader(t *testing.T) {
	pill := func(v views.Invariants) *goquery.Selection {
		t.Helper()
		doc, _ := mustRender(t, views.InvariantsPill(v, true))
		return doc.Find("#inv-pill")
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ok := views.Invariants{Known: true, State: "ok", CheckedAt: now, Now: now, Rules: fiveRules()}
	if p := pill(ok); !p.HasClass("inv-ok") || text(p) != "✔ 5 rules hold" || p.AttrOr("href", "") != "#h-invariants" {
		t.Errorf("a green pill reads %q with class %q, href %q", text(p), p.AttrOr("class", ""), p.AttrOr("href", ""))
	}
	broken := ok
	broken.State = "violated"
	broken.Rules = fiveRules()
	broken.Rules[2].Violations = []views.InvariantViolation{{BookingID: "b1", Detail: "nets 0.00"}}
	if p := pill(broken); !p.HasClass("inv-bad") || text(p) != "✖ 1 rule is broken" {
		t.Errorf("a red pill reads %q with class %q", text(p), p.AttrOr("class", ""))
	}
	if p := pill(views.Invariants{}); p.AttrOr("hidden", "no") == "no" {
		t.Error("where no checker runs, the pill is shown")
	}
}
