package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/evidence"
	"github.com/invoicegw/invoicegw/gateway/httpapi"
	"github.com/invoicegw/invoicegw/render"
	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/storage/archive/archivetest"
	"github.com/invoicegw/invoicegw/storage/cache"
	"github.com/invoicegw/invoicegw/storage/cache/cachetest"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
	"github.com/invoicegw/invoicegw/templates"
	"github.com/jackc/pgx/v5/pgxpool"
)

// clock is a settable time source, so that session expiry is tested without waiting.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// workspace is the HTTP server with the collector workspace on the real Postgres,
// Redis and MinIO.
type workspace struct {
	t     *testing.T
	srv   *httptest.Server
	db    *postgres.DB
	arch  *archive.S3
	clock *clock
	store *postgres.DB
	coll  *gateway.Collector
	pool  *pgxpool.Pool
}

const password = "correct horse battery staple"

func newWorkspace(t *testing.T, publicURL string) *workspace {
	t.Helper()
	pool, _ := pgtest.MustOpen(t)
	db, err := postgres.New(pool, 1)
	if err != nil {
		t.Fatal(err)
	}
	rdb, prefix := cachetest.MustOpen(t)
	arch := archivetest.MustOpen(t)
	tmpl, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clk := &clock{t: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)}
	limiter := cache.NewLoginLimiter(rdb, prefix, cache.LoginLimits{Window: time.Minute, PerAccount: 5, PerIP: 12})
	priv, _, err := evidence.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := evidence.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	renderer, err := render.New()
	if err != nil {
		t.Fatal(err)
	}
	proofs := gateway.NewProofs(db, arch, renderer, evidence.NewSigner(key), clk.Now, log)
	disputes := gateway.NewDisputes(db, arch, nil, clk.Now, log)
	coll, err := gateway.NewCollector(db, arch, limiter, proofs, disputes,
		gateway.CollectorConfig{IdleTimeout: 30 * time.Minute, MaxAge: 12 * time.Hour}, clk.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	w := &workspace{t: t, db: db, arch: arch, clock: clk, store: db, coll: coll, pool: pool}
	w.srv = httptest.NewServer(nil)
	if publicURL == "" {
		publicURL = w.srv.URL
	}
	w.srv.Config.Handler = httpapi.NewServer(httpapi.Deps{
		Intake: gateway.NewIntake(db, arch, "test.invalid", clk.Now, log), Log: log, BodyLimit: "1M",
		Collector: httpapi.CollectorDeps{Collector: coll, Pages: tmpl, PublicURL: publicURL, MaxAge: 12 * time.Hour},
	})
	t.Cleanup(w.srv.Close)
	return w
}

// tenant creates a tenant with one collector user and returns both.
func (w *workspace) tenant(name string) (gateway.Tenant, string) {
	w.t.Helper()
	ten := gateway.Tenant{ID: gateway.NewID("ten"), Name: name, DefaultTerms: "Net 30."}
	if err := w.db.CreateTenant(context.Background(), ten, gateway.NewID("key"), []byte(ten.ID)); err != nil {
		w.t.Fatal(err)
	}
	email := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@collect.test"
	if _, err := w.coll.CreateUser(context.Background(), ten.ID, email, password); err != nil {
		w.t.Fatal(err)
	}
	return ten, email
}

// invoice accepts an invoice for the tenant and archives a PDF for it.
func (w *workspace) invoice(ten gateway.Tenant, number, customer, email, due, amount string) *gateway.Record {
	w.t.Helper()
	body := fmt.Sprintf(`{"number": %q, "issue_date": "2026-09-01", "due_date": %q, "currency": "EUR",
		"seller": {"name": %q, "address": {"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}},
		"customer": {"id": "CUST-%s", "name": %q, "address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"},
			"contact": {"name": "Jane Doe", "email": %q}},
		"lines": [{"description": "Service", "quantity": "1", "unit_price": %q, "tax_rate": "0"}]}`,
		number, due, ten.Name, strings.ToUpper(customer[:3]), customer, email, amount)
	acc, err := gateway.NewIntake(w.db, w.arch, "test.invalid", w.clock.Now, slog.New(slog.NewTextHandler(io.Discard, nil))).
		Accept(context.Background(), ten, []byte(body), gateway.AcceptOptions{})
	if err != nil {
		w.t.Fatalf("accept %s: %v", number, err)
	}
	r := acc.Record
	pdf := []byte("%PDF-1.4 test invoice " + number)
	sum := sha256.Sum256(pdf)
	obj := gateway.Object{Key: "invoices/" + r.ID + "/" + gateway.PDFFilename(number), SHA256: hex.EncodeToString(sum[:]), Size: int64(len(pdf))}
	if err := w.arch.Put(context.Background(), obj.Key, "application/pdf", pdf); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.db.SetPDF(context.Background(), r, obj,
		gateway.NewEvent(r.ID, "", gateway.EventArchived, w.clock.Now(), obj)); err != nil {
		w.t.Fatal(err)
	}
	r.PDF = &obj
	return r
}

func (w *workspace) event(r *gateway.Record, typ gateway.EventType, at time.Time, detail map[string]string) {
	w.t.Helper()
	if err := w.db.RecordEvent(context.Background(), r.TenantID, gateway.NewEvent(r.ID, r.Deliveries[0].ID, typ, at, detail)); err != nil {
		w.t.Fatal(err)
	}
}

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	t      *testing.T
	w      *workspace
	client *http.Client
	jar    *cookiejar.Jar
}

func (w *workspace) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: w.t, w: w, jar: jar, client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, header http.Header) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.w.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, string(data)}
}

func (b *browser) get(path string) page { b.t.Helper(); return b.do("GET", path, nil, nil) }
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	return b.do("POST", path, form, nil)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, p page) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf field on the page (status %d):\n%s", p.status, p.body)
	}
	return m[1]
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.w.srv.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.w.srv.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// login signs in and returns the answer to the form. The form is fetched without
// cookies (a signed-in browser is redirected away from it) and its token cookie
// handed to this browser, which then posts with whatever session cookie it holds.
func (b *browser) login(email, pw string) page {
	b.t.Helper()
	fresh := b.w.browser()
	form := fresh.get("/c/login")
	b.setCookie("igw_login", fresh.cookie("igw_login"))
	return b.post("/c/login", url.Values{"csrf": {csrfOf(b.t, form)}, "email": {email}, "password": {pw}})
}

func (b *browser) mustLogin(email string) {
	b.t.Helper()
	if p := b.login(email, password); p.status != http.StatusSeeOther || p.header.Get("Location") != "/c" {
		b.t.Fatalf("sign in as %s: status %d, location %q, want 303 to /c\n%s", email, p.status, p.header.Get("Location"), p.body)
	}
}

func TestCollectorTenantIsolation(t *testing.T) {
	w := newWorkspace(t, "")
	tenA, emailA := w.tenant("Acme Supplies")
	tenB, emailB := w.tenant("Brick Works")
	invA := w.invoice(tenA, "A-0001", "Globex Ltd", "ap@globex.test", "2026-10-01", "100.00")
	invB := w.invoice(tenB, "B-0001", "Initech Corp", "ap@initech.test", "2026-10-01", "900.00")

	a := w.browser()
	a.mustLogin(emailA)
	b := w.browser()
	b.mustLogin(emailB)

	base := "/c/invoices/" + invB.ID
	// Tenant B raises a dispute, so that there is a real dispute of B's to reach for.
	bHome := b.get(base)
	if got := b.post(base+"/disputes", url.Values{"csrf": {csrfOf(t, bHome)}, "reason": {"not_received"}, "note": {"never got it"}}); got.status != http.StatusSeeOther {
		t.Fatalf("tenant B raises a dispute: status %d\n%s", got.status, got.body)
	}
	dsp := regexp.MustCompile(`/disputes/(dsp_[0-9a-z]+)/resolve`).FindStringSubmatch(b.get(base).body)
	if dsp == nil {
		t.Fatalf("tenant B's page shows no resolve form for its dispute")
	}
	routes := []struct{ name, method, path string }{
		{"the invoice page", "GET", base},
		{"the PDF", "GET", base + "/pdf"},
		{"an artefact", "GET", base + "/artefacts/" + invB.PDF.SHA256},
		{"the proof bundle", "GET", base + "/proof.zip"},
		{"raising a dispute", "POST", base + "/disputes"},
		{"resolving a dispute", "POST", base + "/disputes/" + dsp[1] + "/resolve"},
		{"resolving B's dispute under A's own invoice", "POST", "/c/invoices/" + invA.ID + "/disputes/" + dsp[1] + "/resolve"},
	}
	for _, r := range routes {
		t.Run("tenant A gets 404 for "+r.name, func(t *testing.T) {
			var got page
			if r.method == "GET" {
				got = a.get(r.path)
			} else {
				home := a.get("/c")
				got = a.post(r.path, url.Values{"csrf": {csrfOf(t, home)}, "reason": {"not_received"}, "outcome": {"rejected"}})
			}
			if got.status != http.StatusNotFound {
				t.Errorf("status %d, want 404", got.status)
			}
			if strings.Contains(got.body, "B-0001") || strings.Contains(got.body, "Initech") {
				t.Errorf("the page shows tenant B's invoice:\n%s", got.body)
			}
		})
	}
	t.Run("tenant B reaches its own invoice, PDF, artefacts and bundle", func(t *testing.T) {
		for _, path := range []string{base, base + "/pdf", base + "/artefacts/" + invB.PDF.SHA256, base + "/proof.zip"} {
			if got := b.get(path); got.status != http.StatusOK {
				t.Errorf("GET %s: status %d, want 200", path, got.status)
			}
		}
		if got := b.get(base); !strings.Contains(got.body, "never got it") || !strings.Contains(got.body, `class="dispute open"`) {
			t.Errorf("tenant B's dispute is not shown open on its page")
		}
	})
	t.Run("search and worklist of tenant A show nothing of tenant B", func(t *testing.T) {
		for _, path := range []string{"/c/search?q=B-0001", "/c/search?q=Initech", "/c/search?q=ap%40initech.test", "/c/search?q=CUST-INI", "/c"} {
			got := a.get(path)
			if got.status != http.StatusOK {
				t.Errorf("GET %s: status %d, want 200", path, got.status)
			}
			if strings.Contains(got.body, invB.ID) || strings.Contains(got.body, "Initech Corp") {
				t.Errorf("GET %s shows tenant B's invoice", path)
			}
		}
		if got := a.get("/c/search?q=A-0001"); !strings.Contains(got.body, invA.ID) {
			t.Errorf("tenant A's search does not find its own invoice")
		}
	})
	t.Run("tenant B's dispute stays open", func(t *testing.T) {
		if got := b.get(base); !strings.Contains(got.body, `class="dispute open"`) {
			t.Errorf("tenant A's attempts resolved tenant B's dispute")
		}
	})
	t.Run("an unknown page is 404", func(t *testing.T) {
		if got := a.get("/c/nothing/here"); got.status != http.StatusNotFound {
			t.Errorf("status %d, want 404", got.status)
		}
	})
	t.Run("signed out, every page sends to sign-in", func(t *testing.T) {
		anon := w.browser()
		for _, r := range routes {
			got := anon.do(r.method, r.path, url.Values{}, nil)
			if got.status != http.StatusSeeOther || !strings.HasPrefix(got.header.Get("Location"), "/c/login") {
				t.Errorf("%s %s: status %d location %q, want 303 to /c/login", r.method, r.path, got.status, got.header.Get("Location"))
			}
		}
	})
}

func TestCollectorRefusesSessionFixation(t *testing.T) {
	w := newWorkspace(t, "")
	_, email := w.tenant("Acme Supplies")

	t.Run("a planted session id is not promoted by signing in", func(t *testing.T) {
		b := w.browser()
		planted := strings.Repeat("A", 43)
		b.setCookie("igw_session", planted)
		if got := b.get("/c"); got.status != http.StatusSeeOther {
			t.Fatalf("planted id: status %d, want 303 to sign-in", got.status)
		}
		b.setCookie("igw_session", planted)
		b.mustLogin(email)
		if got := b.cookie("igw_session"); got == planted || got == "" {
			t.Fatalf("session cookie after sign-in is %q, want a new id", got)
		}
		attacker := w.browser()
		attacker.setCookie("igw_session", planted)
		if got := attacker.get("/c"); got.status != http.StatusSeeOther {
			t.Errorf("the planted id opens the workspace: status %d", got.status)
		}
	})
	t.Run("signing in again rotates the id and ends the old session", func(t *testing.T) {
		b := w.browser()
		b.mustLogin(email)
		first := b.cookie("igw_session")
		b.mustLogin(email)
		second := b.cookie("igw_session")
		if first == second {
			t.Fatalf("session id unchanged after a second sign-in")
		}
		old := w.browser()
		old.setCookie("igw_session", first)
		if got := old.get("/c"); got.status != http.StatusSeeOther {
			t.Errorf("the old session still works: status %d", got.status)
		}
		if got := b.get("/c"); got.status != http.StatusOK {
			t.Errorf("the new session does not work: status %d", got.status)
		}
	})
	t.Run("signing out ends the session", func(t *testing.T) {
		b := w.browser()
		b.mustLogin(email)
		id := b.cookie("igw_session")
		home := b.get("/c")
		if got := b.post("/c/logout", url.Values{"csrf": {csrfOf(t, home)}}); got.status != http.StatusSeeOther {
			t.Fatalf("sign out: status %d", got.status)
		}
		again := w.browser()
		again.setCookie("igw_session", id)
		if got := again.get("/c"); got.status != http.StatusSeeOther {
			t.Errorf("the signed-out session still works: status %d", got.status)
		}
	})
	t.Run("idle and absolute expiry end the session", func(t *testing.T) {
		b := w.browser()
		b.mustLogin(email)
		w.clock.Add(29 * time.Minute)
		if got := b.get("/c"); got.status != http.StatusOK {
			t.Fatalf("after 29 idle minutes: status %d, want 200", got.status)
		}
		w.clock.Add(31 * time.Minute)
		if got := b.get("/c"); got.status != http.StatusSeeOther {
			t.Errorf("after 31 idle minutes: status %d, want 303 to sign-in", got.status)
		}
		b.mustLogin(email)
		for range 30 { // 12.5 hours of activity every 25 minutes, never idle
			w.clock.Add(25 * time.Minute)
			b.get("/c")
		}
		if got := b.get("/c"); got.status != http.StatusSeeOther {
			t.Errorf("after 12.5 h of use: status %d, want 303 to sign-in", got.status)
		}
	})
	t.Run("signing in clears the user's ended sessions", func(t *testing.T) {
		left := w.browser()
		left.mustLogin(email)
		w.clock.Add(time.Hour) // the left browser's session ends unused
		w.browser().mustLogin(email)
		var n int
		if err := w.pool.QueryRow(context.Background(), `
			SELECT count(*) FROM collector_sessions s JOIN collector_users u ON u.id = s.user_id WHERE u.email = $1`, email).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%d sessions stored, want only the live one", n)
		}
	})
}

func TestCollectorRefusesMissingAndForgedCSRF(t *testing.T) {
	w := newWorkspace(t, "")
	ten, email := w.tenant("Acme Supplies")
	inv := w.invoice(ten, "A-0001", "Globex Ltd", "ap@globex.test", "2026-10-01", "100.00")
	b := w.browser()
	b.mustLogin(email)
	good := csrfOf(t, b.get("/c"))

	other := w.browser()
	other.mustLogin(email)
	otherToken := csrfOf(t, other.get("/c"))

	cases := []struct {
		name   string
		path   string
		form   url.Values
		header http.Header
		want   int
	}{
		{"refuses sign-out without a token", "/c/logout", url.Values{}, nil, http.StatusForbidden},
		{"refuses sign-out with a forged token", "/c/logout", url.Values{"csrf": {strings.Repeat("x", 43)}}, nil, http.StatusForbidden},
		{"refuses another session's token", "/c/logout", url.Values{"csrf": {otherToken}}, nil, http.StatusForbidden},
		{"refuses a dispute without a token", "/c/invoices/" + inv.ID + "/disputes", url.Values{"reason": {"other"}}, nil, http.StatusForbidden},
		{"refuses a post from another origin", "/c/logout", url.Values{"csrf": {good}}, http.Header{"Origin": {"https://evil.test"}}, http.StatusForbidden},
		{"accepts sign-out with the session's token", "/c/logout", url.Values{"csrf": {good}}, nil, http.StatusSeeOther},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := b.do("POST", c.path, c.form, c.header); got.status != c.want {
				t.Errorf("status %d, want %d\n%s", got.status, c.want, got.body)
			}
		})
	}
	t.Run("refuses a sign-in form without its token", func(t *testing.T) {
		anon := w.browser()
		got := anon.post("/c/login", url.Values{"email": {email}, "password": {password}})
		if got.status != http.StatusForbidden || anon.cookie("igw_session") != "" {
			t.Errorf("status %d session %q, want 403 and no session", got.status, anon.cookie("igw_session"))
		}
		anon.get("/c/login")
		got = anon.post("/c/login", url.Values{"csrf": {strings.Repeat("y", 43)}, "email": {email}, "password": {password}})
		if got.status != http.StatusForbidden || anon.cookie("igw_session") != "" {
			t.Errorf("forged: status %d session %q, want 403 and no session", got.status, anon.cookie("igw_session"))
		}
	})
}

func TestCollectorLimitsLoginBruteForce(t *testing.T) {
	w := newWorkspace(t, "")
	_, email := w.tenant("Acme Supplies")
	b := w.browser()
	for i := range 5 {
		if got := b.login(email, "wrong password "+fmt.Sprint(i)); got.status != http.StatusUnauthorized ||
			!strings.Contains(got.body, "The e-mail or password is wrong.") {
			t.Fatalf("attempt %d: status %d, want 401 with the message", i+1, got.status)
		}
	}
	got := b.login(email, password)
	if got.status != http.StatusTooManyRequests {
		t.Fatalf("6th attempt (right password): status %d, want 429", got.status)
	}
	if !strings.Contains(got.body, "Too many sign-in attempts") || got.header.Get("Retry-After") == "" {
		t.Errorf("429 without a clear message or Retry-After: %q\n%s", got.header.Get("Retry-After"), got.body)
	}
	if b.cookie("igw_session") != "" {
		t.Errorf("a throttled sign-in set a session")
	}

	t.Run("per address: many accounts from one address are limited too", func(t *testing.T) {
		c := w.browser()
		var last int
		for i := range 13 {
			last = c.login(fmt.Sprintf("nobody%d@collect.test", i), "whatever password").status
		}
		if last != http.StatusTooManyRequests {
			t.Errorf("13th attempt from one address: status %d, want 429", last)
		}
	})
}

func TestCollectorCookiesAreHostBoundOnHTTPS(t *testing.T) {
	w := newWorkspace(t, "https://collect.example")
	_, email := w.tenant("Acme Supplies")
	b := w.browser()
	form := b.get("/c/login")
	login := form.header.Values("Set-Cookie")
	if len(login) == 0 || !strings.HasPrefix(login[0], "__Host-igw_login=") {
		t.Fatalf("login form cookie %q, want __Host-igw_login", login)
	}
	// The jar will not send a Secure cookie over http: hand it over directly.
	token := strings.SplitN(strings.TrimPrefix(login[0], "__Host-igw_login="), ";", 2)[0]
	got := b.do("POST", "/c/login", url.Values{"csrf": {csrfOf(t, form)}, "email": {email}, "password": {password}},
		http.Header{"Cookie": {"__Host-igw_login=" + token}})
	var session string
	for _, c := range got.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "__Host-igw_session=") {
			session = c
		}
	}
	for _, want := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(session, want) {
			t.Errorf("session cookie %q lacks %s", session, want)
		}
	}
	if strings.Contains(session, "Domain=") {
		t.Errorf("session cookie %q names a domain; __Host- cookies must not", session)
	}
	if csp := got.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q, want default-src 'none' without unsafe-inline", csp)
	}
}

func TestCollectorSearchAndWorklist(t *testing.T) {
	w := newWorkspace(t, "")
	ten, email := w.tenant("Acme Supplies")
	// Today is 2026-12-04.
	small := w.invoice(ten, "INV-100", "Globex Ltd", "jane@globex.test", "2026-11-04", "100.00") // 30 days × 100 = 3000
	big := w.invoice(ten, "INV-200", "Initech Corp", "bob@initech.test", "2026-11-24", "500.00") // 10 days × 500 = 5000
	seen := w.invoice(ten, "INV-300", "Umbrella", "ann@umbrella.test", "2026-10-01", "900.00")   // opened by a person
	scanned := w.invoice(ten, "INV-400", "Hooli", "gav@hooli.test", "2026-11-29", "100.00")      // 5 × 100 = 500, machine only
	notDue := w.invoice(ten, "INV-500", "Vandelay", "art@vandelay.test", "2026-12-24", "999.00")
	w.event(seen, gateway.EventViewed, w.clock.Now(), map[string]string{"classification": "human", "reason": "browser"})
	w.event(scanned, gateway.EventOpened, w.clock.Now(), map[string]string{"classification": "machine", "reason": "Apple Mail Privacy Protection"})
	w.event(scanned, gateway.EventClicked, w.clock.Now(), map[string]string{"classification": "machine", "reason": "Microsoft Defender Safe Links"})

	b := w.browser()
	b.mustLogin(email)
	t.Run("worklist lists past-due invoices without human engagement, biggest days x amount first", func(t *testing.T) {
		home := b.get("/c")
		order := regexp.MustCompile(`/c/invoices/(inv_[0-9a-z]+)`).FindAllStringSubmatch(home.body, -1)
		var got []string
		for _, m := range order {
			got = append(got, m[1])
		}
		want := []string{big.ID, small.ID, scanned.ID}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("worklist %v, want %v (INV-200, INV-100, INV-400); %s seen and %s not due must be absent", got, want, seen.ID, notDue.ID)
		}
	})
	cases := []struct{ q, want string }{
		{"INV-300", seen.ID},
		{"inv-30", seen.ID},
		{"CUST-HOO", scanned.ID},
		{"initech", big.ID},
		{"JANE@globex.test", small.ID},
	}
	for _, c := range cases {
		t.Run("search finds "+c.q, func(t *testing.T) {
			got := b.get("/c/search?q=" + url.QueryEscape(c.q))
			if got.status != http.StatusOK || !strings.Contains(got.body, c.want) {
				t.Errorf("status %d, want 200 listing %s", got.status, c.want)
			}
			if n := strings.Count(got.body, "/c/invoices/inv_"); n != 1 {
				t.Errorf("%d results, want 1", n)
			}
		})
	}
	t.Run("search with nothing matching says so", func(t *testing.T) {
		if got := b.get("/c/search?q=nope"); !strings.Contains(got.body, "No invoice matches.") {
			t.Errorf("no 'No invoice matches.' on the page")
		}
	})
	t.Run("search of over 200 characters is refused", func(t *testing.T) {
		if got := b.get("/c/search?q=" + strings.Repeat("x", 201)); got.status != http.StatusUnprocessableEntity {
			t.Errorf("status %d, want 422", got.status)
		}
	})
	t.Run("invoice page shows machine hits greyed with their reason", func(t *testing.T) {
		got := b.get("/c/invoices/" + scanned.ID)
		if !strings.Contains(got.body, `class="event machine"`) || !strings.Contains(got.body, "machine: Apple Mail Privacy Protection") {
			t.Errorf("machine events not marked:\n%s", got.body)
		}
		if !strings.Contains(got.body, "Strongest evidence: level 1") {
			t.Errorf("machine hits raised the strongest evidence")
		}
	})
}

func TestCollectorArtefactHashIsChecked(t *testing.T) {
	w := newWorkspace(t, "")
	ten, email := w.tenant("Acme Supplies")
	inv := w.invoice(ten, "A-0001", "Globex Ltd", "ap@globex.test", "2026-10-01", "100.00")
	b := w.browser()
	b.mustLogin(email)
	if got := b.get("/c/invoices/" + inv.ID + "/pdf"); got.status != http.StatusOK || got.header.Get("X-Content-SHA256") != inv.PDF.SHA256 ||
		!strings.HasPrefix(got.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("pdf: status %d sha %q disposition %q", got.status, got.header.Get("X-Content-SHA256"), got.header.Get("Content-Disposition"))
	}
	if err := w.arch.Put(context.Background(), inv.PDF.Key, "application/pdf", []byte("%PDF altered")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/pdf", "/artefacts/" + inv.PDF.SHA256} {
		if got := b.get("/c/invoices/" + inv.ID + path); got.status != http.StatusInternalServerError || strings.Contains(got.body, "altered") {
			t.Errorf("altered artefact %s: status %d, want 500 without its bytes", path, got.status)
		}
	}
}

func TestCollectorDisputeForms(t *testing.T) {
	w := newWorkspace(t, "")
	ten, email := w.tenant("Acme Supplies")
	inv := w.invoice(ten, "A-0001", "Globex Ltd", "ap@globex.test", "2026-10-01", "100.00")
	b := w.browser()
	b.mustLogin(email)
	base := "/c/invoices/" + inv.ID
	token := csrfOf(t, b.get(base))

	t.Run("refuses an unknown reason with the allowed ones named, and records nothing", func(t *testing.T) {
		got := b.post(base+"/disputes", url.Values{"csrf": {token}, "reason": {"bored"}})
		if got.status != http.StatusUnprocessableEntity || !strings.Contains(got.body, "reason must be one of not_received") {
			t.Errorf("status %d, want 422 naming the reasons\n%s", got.status, got.body)
		}
		if strings.Contains(b.get(base).body, `class="dispute`) {
			t.Errorf("a refused dispute was recorded")
		}
	})
	var dsp string
	t.Run("raises a dispute and shows it open", func(t *testing.T) {
		got := b.post(base+"/disputes", url.Values{"csrf": {token}, "reason": {"wrong_amount"}, "note": {"VAT rate wrong"}})
		if got.status != http.StatusSeeOther || got.header.Get("Location") != base+"?notice=dispute-raised#disputes-h" {
			t.Fatalf("status %d location %q, want 303 back to the invoice", got.status, got.header.Get("Location"))
		}
		page := b.get(base + "?notice=dispute-raised")
		m := regexp.MustCompile(`/disputes/(dsp_[0-9a-z]+)/resolve`).FindStringSubmatch(page.body)
		if m == nil || !strings.Contains(page.body, "Wrong amount") || !strings.Contains(page.body, "The dispute was recorded.") {
			t.Fatalf("the page does not show the open dispute:\n%s", page.body)
		}
		dsp = m[1]
	})
	resolve := base + "/disputes/" + dsp + "/resolve"
	t.Run("refuses a resolution without an outcome", func(t *testing.T) {
		if got := b.post(resolve, url.Values{"csrf": {token}}); got.status != http.StatusUnprocessableEntity || !strings.Contains(got.body, "outcome must be one of") {
			t.Errorf("status %d, want 422 naming the outcomes", got.status)
		}
	})
	t.Run("resolves it once", func(t *testing.T) {
		if got := b.post(resolve, url.Values{"csrf": {token}, "outcome": {"corrected"}, "note": {"credit note CN-7"}}); got.status != http.StatusSeeOther {
			t.Fatalf("status %d, want 303", got.status)
		}
		if page := b.get(base); !strings.Contains(page.body, "Corrected (credit note or new invoice)") || strings.Contains(page.body, `class="dispute open"`) {
			t.Errorf("the page does not show the resolution")
		}
		if got := b.post(resolve, url.Values{"csrf": {token}, "outcome": {"other"}}); got.status != http.StatusUnprocessableEntity || !strings.Contains(got.body, "already resolved") {
			t.Errorf("second resolution: status %d, want 422 saying it is already resolved", got.status)
		}
	})
}
