package main

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// setTracking chooses the tenant's privacy mode through the settings API.
func (g *gw) setTracking(key, mode string) {
	g.t.Helper()
	r := g.do("PUT", "/v1/settings/tracking", key, "application/json", `{"privacy_mode": "`+mode+`"}`)
	if r.status != 200 {
		g.t.Fatalf("PUT /v1/settings/tracking = %d %s", r.status, r.body)
	}
}

// visibleLink returns the submatch of the last tracked link in the HTML e-mail: the
// one a person copies or clicks (the first is the hidden honeypot).
func visibleLink(html string) []string {
	all := linkRE.FindAllStringSubmatch(html, -1)
	if len(all) == 0 {
		return nil
	}
	return all[len(all)-1]
}

// browserDo is a request as a browser sends it: with a browser's user agent (or
// another one), and form posts with the headers a same-origin form has.
func (g *gw) browserDo(method, path, ua string, form url.Values, header map[string]string) response {
	g.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, g.base+path, body)
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("User-Agent", ua)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Origin", "null")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([A-Za-z0-9_-]+)"`)

// pageToken follows the e-mail's visible link and returns the hosted page's token
// and its form token.
func (g *gw) pageToken(html string) (token, csrf string) {
	g.t.Helper()
	link := visibleLink(html)
	if link == nil {
		g.t.Fatalf("no tracked link in:\n%s", html)
	}
	path := strings.TrimPrefix(link[1], g.base)
	if r := g.browserDo("GET", path, personUA, nil, nil); r.status != http.StatusSeeOther {
		g.t.Fatalf("GET %s = %d, want 303", path, r.status)
	}
	token = strings.TrimPrefix(path, "/t/l/")
	page := g.browserDo("GET", "/i/"+token, personUA, nil, nil)
	m := csrfRE.FindStringSubmatch(string(page.body))
	if page.status != 200 || m == nil {
		g.t.Fatalf("hosted page = %d without a form token:\n%s", page.status, page.body)
	}
	return token, m[1]
}

func countEvents(evs []eventJSON, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func TestTrackingPolicyAndHostedPageForms(t *testing.T) {
	g := startGateway(t)

	t.Run("a new tenant tracks nothing until it chooses, but receipts still count", func(t *testing.T) {
		r := g.do("GET", "/v1/settings/tracking", g.apiKey, "", "")
		s := decode[struct {
			PrivacyMode      string `json:"privacy_mode"`
			RawRetentionDays int    `json:"raw_retention_days"`
			LinkExpiry       int    `json:"link_expiry_days_after_due"`
		}](t, r.body)
		if r.status != 200 || s.PrivacyMode != "off" || s.RawRetentionDays != 396 || s.LinkExpiry != 120 {
			t.Errorf("GET /v1/settings/tracking = %d %s, want off, 396, 120", r.status, r.body)
		}
		id, html := g.sendAndOpenMail("INV-OFF", 1)
		if pixelRE.MatchString(html) {
			t.Error("the e-mail of a tenant with tracking off carries a pixel")
		}
		links := linkRE.FindAllStringSubmatch(html, -1)
		for _, l := range links {
			if l[1] != links[0][1] {
				t.Errorf("the e-mail carries two different tracked links (a honeypot) with tracking off")
			}
		}
		token, csrf := g.pageToken(html)
		post := g.browserDo("POST", "/i/"+token+"/confirm", personUA, url.Values{"csrf": {csrf}, "name": {"Jane Doe"}}, nil)
		if post.status != http.StatusSeeOther {
			t.Fatalf("confirm = %d %s, want 303", post.status, post.body)
		}
		evs := g.events(id)
		if countEvents(evs, "clicked")+countEvents(evs, "viewed")+countEvents(evs, "opened") != 0 {
			t.Errorf("tracking off, yet the timeline has hits: %v", hitClasses(evs))
		}
		if countEvents(evs, "acknowledged") != 1 {
			t.Errorf("the confirmation was not recorded: %v", hitClasses(evs))
		}
	})

	t.Run("bad settings name every bad field and change nothing", func(t *testing.T) {
		r := g.do("PUT", "/v1/settings/tracking", g.apiKey, "application/json",
			`{"privacy_mode": "spy", "raw_retention_days": 0, "link_expiry_days_after_due": -1}`)
		if r.status != 422 {
			t.Fatalf("PUT = %d %s, want 422", r.status, r.body)
		}
		for _, f := range []string{"privacy_mode", "raw_retention_days", "link_expiry_days_after_due"} {
			if !strings.Contains(string(r.body), `"field":"`+f+`"`) {
				t.Errorf("problem does not name %s: %s", f, r.body)
			}
		}
		if r := g.do("GET", "/v1/settings/tracking", g.apiKey, "", ""); !strings.Contains(string(r.body), `"privacy_mode":"off"`) {
			t.Errorf("settings changed by a refused PUT: %s", r.body)
		}
	})

	g.setTracking(g.apiKey, "anonymous")
	id, html := g.sendAndOpenMail("INV-ANON", 2)
	token, csrf := g.pageToken(html)

	t.Run("anonymous mode keeps neither user agent nor address", func(t *testing.T) {
		pixel := pixelRE.FindStringSubmatch(html)
		if pixel == nil {
			t.Fatal("no pixel in anonymous mode")
		}
		g.browserDo("GET", strings.TrimPrefix(pixel[1], g.base), personUA, nil, nil)
		for _, e := range g.events(id) {
			if e.Type != "opened" && e.Type != "viewed" && e.Type != "clicked" {
				continue
			}
			if e.Detail["user_agent"] != nil || e.Detail["ip"] != nil || e.Detail["classification"] != "human" {
				t.Errorf("%s detail = %v, want a human classification without user agent or ip", e.Type, e.Detail)
			}
		}
	})

	t.Run("forms refuse what a person did not send", func(t *testing.T) {
		tests := []struct {
			name   string
			method string
			path   string
			ua     string
			form   url.Values
			header map[string]string
			status int
			shows  string
		}{
			{"refuses a GET on the confirm form", "GET", "/i/" + token + "/confirm", personUA, nil, nil, 405, ""},
			{"refuses a forged form token", "POST", "/i/" + token + "/confirm", personUA, url.Values{"csrf": {"AAAA"}, "name": {"Jane"}}, nil, 422, "the form has expired"},
			{"refuses a confirmation without a name", "POST", "/i/" + token + "/confirm", personUA, url.Values{"csrf": {csrf}, "name": {"  "}}, nil, 422, "type your name"},
			{"refuses a scanner's confirmation", "POST", "/i/" + token + "/confirm", scannerUA, url.Values{"csrf": {csrf}, "name": {"Jane"}}, nil, 403, "looks automated"},
			{"refuses a cross-site post", "POST", "/i/" + token + "/confirm", personUA, url.Values{"csrf": {csrf}, "name": {"Jane"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "only be sent from the invoice page"},
			{"refuses a query without a message", "POST", "/i/" + token + "/query", personUA, url.Values{"csrf": {csrf}, "name": {"Jane"}}, nil, 422, "say what your query is about"},
			{"refuses a query with a NUL in its message", "POST", "/i/" + token + "/query", personUA, url.Values{"csrf": {csrf}, "name": {"Jane"}, "message": {"never\x00 delivered"}}, nil, 422, "plain text"},
			{"refuses a query whose message is not UTF-8", "POST", "/i/" + token + "/query", personUA, url.Values{"csrf": {csrf}, "name": {"Jane"}, "message": {"never \xff delivered"}}, nil, 422, "plain text"},
			{"refuses a name that is not UTF-8", "POST", "/i/" + token + "/confirm", personUA, url.Values{"csrf": {csrf}, "name": {"J\xffne"}}, nil, 422, "at most 200 characters"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := g.browserDo(tt.method, tt.path, tt.ua, tt.form, tt.header)
				if r.status != tt.status || !strings.Contains(string(r.body), tt.shows) {
					t.Errorf("%s %s = %d, want %d showing %q:\n%s", tt.method, tt.path, r.status, tt.status, tt.shows, r.body)
				}
			})
		}
		evs := g.events(id)
		if n := countEvents(evs, "acknowledged") + countEvents(evs, "disputed"); n != 0 {
			t.Errorf("refused forms recorded %d events", n)
		}
	})

	t.Run("a query reaches the collector's timeline", func(t *testing.T) {
		r := g.browserDo("POST", "/i/"+token+"/query", personUA, url.Values{"csrf": {csrf}, "name": {"Jane Doe"}, "message": {"Line 1 was never delivered."}}, nil)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/i/"+token+"?done=query" {
			t.Fatalf("query = %d Location %q, want 303 back to the page", r.status, r.header.Get("Location"))
		}
		var found bool
		for _, e := range g.events(id) {
			if e.Type == "disputed" {
				// The query opens a dispute raised by the recipient (see gateway.Disputes).
				found = e.Detail["note"] == "Line 1 was never delivered." && e.Detail["opened_by"] == "Jane Doe" &&
					e.Detail["source"] == "recipient"
			}
		}
		if !found {
			t.Errorf("no disputed event with the message and name: %v", g.events(id))
		}
		if page := g.browserDo("GET", "/i/"+token+"?done=query", personUA, nil, nil); !strings.Contains(string(page.body), "your query has been sent") {
			t.Errorf("the page does not confirm the query:\n%s", page.body)
		}
	})

	t.Run("revoked links go nowhere, only for the tenant that owns them", func(t *testing.T) {
		inv := decode[struct {
			Deliveries []struct{ ID string } `json:"deliveries"`
		}](t, g.do("GET", "/v1/invoices/"+id, g.apiKey, "", "").body)
		dlv := inv.Deliveries[0].ID
		other := g.createTenant("Other tenant")
		if r := g.do("POST", "/v1/deliveries/"+dlv+"/revoke-links", other, "", ""); r.status != 404 {
			t.Errorf("another tenant's revoke = %d, want 404", r.status)
		}
		if r := g.browserDo("GET", "/i/"+token, personUA, nil, nil); r.status != 200 {
			t.Fatalf("page before revoking = %d", r.status)
		}
		if r := g.do("POST", "/v1/deliveries/"+dlv+"/revoke-links", g.apiKey, "", ""); r.status != 200 || !strings.Contains(string(r.body), `"revoked_at"`) {
			t.Fatalf("revoke = %d %s", r.status, r.body)
		}
		for _, p := range []string{"/t/l/" + token, "/i/" + token, "/i/" + token + "/pdf"} {
			if r := g.browserDo("GET", p, personUA, nil, nil); r.status != 404 {
				t.Errorf("GET %s after revoking = %d, want 404", p, r.status)
			}
		}
		if r := g.browserDo("POST", "/i/"+token+"/confirm", personUA, url.Values{"csrf": {csrf}, "name": {"Jane"}}, nil); r.status != 404 {
			t.Errorf("confirm after revoking = %d, want 404", r.status)
		}
	})

	t.Run("links expire the tenant's days after the due date", func(t *testing.T) {
		old := strings.NewReplacer(`"2026-11-23"`, `"2025-01-02"`, `"2026-12-23"`, `"2025-02-01"`).Replace(exampleInvoice)
		_, html := g.sendBodyAndOpenMail(strings.Replace(old, `"INV-2026-0042"`, `"INV-EXPIRED"`, 1), 3)
		link := visibleLink(html)
		if link == nil {
			t.Fatal("no link in the e-mail")
		}
		if r := g.browserDo("GET", strings.TrimPrefix(link[1], g.base), personUA, nil, nil); r.status != 404 {
			t.Errorf("a link 120+ days past the due date = %d, want 404", r.status)
		}
	})
}

func TestForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	tests := []struct {
		name      string
		trusted   string
		wantIP    string
		wantClass string
	}{
		{"a trusted proxy's X-Forwarded-For names the client", "127.0.0.1/32", "205.139.110.0/24", "machine"},
		{"anyone else's X-Forwarded-For is ignored", "", "127.0.0.0/24", "human"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := prepareGateway(t)
			if tt.trusted != "" {
				g.env["INVOICEGW_TRUSTED_PROXIES"] = tt.trusted
			}
			g.startInProcess()
			g.setTracking(g.apiKey, "full")
			id, html := g.sendAndOpenMail("INV-XFF", 1)
			pixel := pixelRE.FindStringSubmatch(html)
			// 205.139.110.61 is in Mimecast's published range.
			g.browserDo("GET", strings.TrimPrefix(pixel[1], g.base), personUA, nil,
				map[string]string{"X-Forwarded-For": "205.139.110.61"})
			g.waitEvents(id, "opened", 1)
			var opened *eventJSON
			for _, e := range g.events(id) {
				if e.Type == "opened" {
					opened = &e
				}
			}
			if opened == nil {
				t.Fatal("no opened event")
			}
			if opened.Detail["ip"] != tt.wantIP || opened.Detail["classification"] != tt.wantClass {
				t.Errorf("opened detail = %v, want ip %s classified %s", opened.Detail, tt.wantIP, tt.wantClass)
			}
		})
	}
}
