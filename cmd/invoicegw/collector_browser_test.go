package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/emersion/go-message/mail"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/storage/servicetest"
)

// artefactDir receives what browser tests leave for a person to look at
// (screenshots); tmp/ is gitignored.
const artefactDir = "../../tmp/test-artefacts"

// chromium starts a headless Debian chromium for one test and returns its context.
func chromium(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		servicetest.Unavailable(t, "chromium is not installed: run `make test`, which installs it (deployments/local/services.sh tools)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1600),
		chromedp.UserDataDir(t.TempDir()),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first call starts the browser for the life of ctx: no timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// steps runs browser actions with a deadline, failing the test with what was being done.
func steps(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// read runs one browser action that returns a value, with a deadline.
func read[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("read from the page: %v", err)
	}
	return v
}

// tenantID returns the id of the tenant startGateway created.
func (g *gw) tenantID() string {
	g.t.Helper()
	pool, err := postgres.Open(context.Background(), g.env["INVOICEGW_DATABASE_URL"])
	if err != nil {
		g.t.Fatal(err)
	}
	defer pool.Close()
	var id string
	if err := pool.QueryRow(context.Background(), `SELECT id FROM tenants`).Scan(&id); err != nil {
		g.t.Fatal(err)
	}
	return id
}

// createUser runs `invoicegw user create` with the password on stdin.
func (g *gw) createUser(tenantID, email, password string) {
	g.t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"user", "create", "--tenant", tenantID, "--email", email}, g.getenv,
		strings.NewReader(password+"\n"), &out, &errOut)
	if err != nil || !strings.Contains(out.String(), `"user_id":"usr_`) {
		g.t.Fatalf("user create: %v %s %s", err, out.String(), errOut.String())
	}
}

// pastDueInvoice is the documented example, past due by 30 days, under another number.
func pastDueInvoice(number string) string {
	due := time.Now().UTC().AddDate(0, 0, -30)
	s := strings.Replace(exampleInvoice, `"INV-2026-0042"`, strconv.Quote(number), 2)
	s = strings.Replace(s, `"issue_date": "2026-11-23"`, `"issue_date": "`+due.AddDate(0, 0, -30).Format(time.DateOnly)+`"`, 1)
	return strings.Replace(s, `"due_date": "2026-12-23"`, `"due_date": "`+due.Format(time.DateOnly)+`"`, 1)
}

var timelineItemRE = regexp.MustCompile(`<li class="event[^"]*" data-type="([a-z_]+)" data-level="(-?\d)"`)

func TestCollectorWorkspaceInBrowser(t *testing.T) {
	g := startGateway(t)
	const email, password = "collector@acme.test", "a long enough passphrase"
	g.createUser(g.tenantID(), email, password)
	g.setTracking(g.apiKey, "full") // the tenant's choice: pixel and per-recipient link tracking

	r := g.postInvoice(g.apiKey, pastDueInvoice("INV-2026-0777"))
	if r.status != http.StatusAccepted {
		t.Fatalf("POST invoice: %d %s", r.status, r.body)
	}
	inv := decode[invoiceJSON](t, r.body)
	g.waitStatus(inv.ID, "sent")
	msgs, err := g.smtp.Wait(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	html := htmlPart(t, msgs[0].Data)
	link := visibleLink(string(html))
	pixel := pixelRE.FindStringSubmatch(string(html))
	if link == nil || pixel == nil {
		t.Fatalf("no tracked link or pixel in the message:\n%s", html)
	}

	ctx := chromium(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	steps(t, ctx, "sign in",
		chromedp.Navigate(g.base+"/c"),
		chromedp.WaitVisible(css("#email")),
		chromedp.SendKeys(css("#email"), email),
		chromedp.SendKeys(css("#password"), password),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css("table.list")),
	)
	heading := read(t, ctx, chromedp.Text(css("h1")))
	worklist := read(t, ctx, chromedp.Text(css("table.list")))
	if heading != "Call first" || !strings.Contains(worklist, "INV-2026-0777") || !strings.Contains(worklist, "30") {
		t.Errorf("worklist heading %q, rows %q: want INV-2026-0777, 30 days overdue", heading, worklist)
	}

	// The recipient's side: a scanner fetches the pixel (Go's client is a machine),
	// then a person clicks the link in a browser, which shows the hosted page.
	path := func(u string) string { return strings.TrimPrefix(u, g.base) }
	time.Sleep(2500 * time.Millisecond) // past the too-fast-after-delivery window
	if px := g.do("GET", path(pixel[1]), "", "", ""); px.status != http.StatusOK {
		t.Fatalf("pixel: %d", px.status)
	}
	// A person clicks the link, lands on the hosted page and confirms receipt.
	chrome := func(method, url string, form url.Values) *http.Response {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, url, body)
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		return resp
	}
	resp := chrome("GET", link[1], nil)
	hosted, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(hosted)
	if resp.StatusCode != http.StatusOK || csrf == nil {
		t.Fatalf("hosted page: %d, csrf found %v", resp.StatusCode, csrf != nil)
	}
	resp = chrome("POST", resp.Request.URL.String()+"/confirm", url.Values{"csrf": {string(csrf[1])}, "name": {"Jane Doe"}})
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		t.Fatalf("confirm receipt: %d", resp.StatusCode)
	}

	steps(t, ctx, "search",
		chromedp.SetValue(css("#q"), "inv-2026-0777"),
		chromedp.Submit(css("#q")),
		chromedp.WaitVisible(css("table.list")),
	)
	results := read(t, ctx, chromedp.Text(css("table.list")))
	steps(t, ctx, "open the invoice",
		chromedp.Click(css("table.list a")),
		chromedp.WaitVisible(css("#timeline")),
	)
	title := read(t, ctx, chromedp.Title())
	timeline := read(t, ctx, chromedp.OuterHTML(css("#timeline")))
	ladder := read(t, ctx, chromedp.Text(css("#ladder-h")))
	rungs := read(t, ctx, chromedp.OuterHTML(css("#ladder")))
	artefacts := read(t, ctx, chromedp.OuterHTML(css("ul.artefacts")))
	if !strings.Contains(artefacts, `.pdf</a>`) || !strings.Contains(artefacts, `.eml</a>`) {
		t.Errorf("artefacts lack the PDF or the e-mail as sent:\n%s", artefacts)
	}
	if !strings.Contains(results, "INV-2026-0777") || !strings.Contains(title, "INV-2026-0777") {
		t.Errorf("search results %q, page title %q: want INV-2026-0777", results, title)
	}

	// The timeline, oldest first, with each event's level.
	var got []string
	for _, m := range timelineItemRE.FindAllStringSubmatch(timeline, -1) {
		got = append(got, m[1]+":"+m[2])
	}
	// Two archived events: the PDF, then the e-mail exactly as sent.
	want := []string{"accepted:0", "rendered:1", "archived:1", "archived:1", "sent:2", "opened:4", "clicked:5", "viewed:5", "acknowledged:6"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("timeline %v, want %v", got, want)
	}
	if !strings.Contains(timeline, `class="event machine" data-type="opened"`) || !strings.Contains(timeline, "machine: automated_client") {
		t.Errorf("the scanner's open is not greyed as a machine with its reason:\n%s", timeline)
	}
	if !strings.Contains(ladder, "level 6") {
		t.Errorf("strongest evidence %q, want level 6 (Jane Doe confirmed receipt)", ladder)
	}
	for _, want := range []string{`class="rung l2 reached"`, `class="rung l3"`, `class="rung l4"`, `class="rung l5 reached"`, `class="rung l6 reached"`} {
		if !strings.Contains(rungs, want) {
			t.Errorf("ladder lacks %s (only recorded levels count, machine hits do not):\n%s", want, rungs)
		}
	}

	// Download the PDF as sent through the browser; the file is exactly the archived one.
	data := downloadVia(t, ctx, t.TempDir(), `a[href$="/pdf"]`)
	pdf := g.do("GET", "/v1/invoices/"+inv.ID+"/pdf", g.apiKey, "", "")
	if !bytes.Equal(data, pdf.body) || !bytes.HasPrefix(data, []byte("%PDF")) {
		t.Errorf("downloaded %d bytes, want the archived PDF of %d bytes", len(data), len(pdf.body))
	}

	// Download the proof bundle and verify it offline, as a third party would.
	bundle := downloadVia(t, ctx, t.TempDir(), `a[href$="/proof.zip"]`)
	zipPath := filepath.Join(t.TempDir(), "proof.zip")
	if err := os.WriteFile(zipPath, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	var report, verifyErr bytes.Buffer
	if err := run(context.Background(), []string{"verify", zipPath}, g.getenv, nil, &report, &verifyErr); err != nil {
		t.Errorf("invoicegw verify of the downloaded bundle: %v\n%s%s", err, report.String(), verifyErr.String())
	}

	// Raise a dispute from the page, then resolve it.
	steps(t, ctx, "raise a dispute",
		chromedp.SetValue(css("#reason"), "not_received"),
		chromedp.SendKeys(css("#note"), "Customer says the invoice never arrived"),
		chromedp.Submit(css("#note")),
		chromedp.WaitVisible(css("li.dispute.open")),
	)
	notice := read(t, ctx, chromedp.Text(css(".notice")))
	raised := read(t, ctx, chromedp.Text(css("li.dispute.open")))
	if notice != "The dispute was recorded." || !strings.Contains(raised, "Not received") ||
		!strings.Contains(raised, "Customer says the invoice never arrived") || !strings.Contains(raised, email) {
		t.Errorf("after raising: notice %q, dispute %q", notice, raised)
	}
	steps(t, ctx, "resolve the dispute",
		chromedp.SetValue(css(`li.dispute.open select[name="outcome"]`), "rejected"),
		chromedp.SendKeys(css(`li.dispute.open input[name="note"]`), "Delivery and click on record; bundle sent"),
		chromedp.Submit(css(`li.dispute.open input[name="note"]`)),
		chromedp.WaitVisible(css(".resolution")),
	)
	notice = read(t, ctx, chromedp.Text(css(".notice")))
	resolution := read(t, ctx, chromedp.Text(css(".resolution")))
	if notice != "The dispute was resolved." || !strings.Contains(resolution, "Rejected: the evidence stands") ||
		!strings.Contains(resolution, "Delivery and click on record") {
		t.Errorf("after resolving: notice %q, resolution %q", notice, resolution)
	}
	timeline = read(t, ctx, chromedp.OuterHTML(css("#timeline")))
	if !strings.Contains(timeline, `data-type="disputed"`) || !strings.Contains(timeline, `data-type="dispute_resolved"`) {
		t.Errorf("the timeline lacks the disputed and dispute_resolved events")
	}

	shot := read(t, ctx, chromedp.FullScreenshot(100))

	// Jane Doe engaged: the invoice has left the worklist.
	steps(t, ctx, "back to the worklist", chromedp.Click(css("a.brand")), chromedp.WaitVisible(css("h1")))
	if home := read(t, ctx, chromedp.Text(css("main"))); strings.Contains(home, "INV-2026-0777") {
		t.Errorf("the worklist still lists an invoice a person confirmed:\n%s", home)
	}

	if err := os.MkdirAll(artefactDir, 0o755); err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(artefactDir, "collector-invoice.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the invoice page: %s", shotPath)
}

// downloadVia clicks the link matched by sel and returns the downloaded file's bytes.
func downloadVia(t *testing.T, ctx context.Context, dir, sel string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			allow := true
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &allow})
			return err
		}),
		chromedp.Click(chromedp.CSS(sel)),
	)
	if err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download of %s: %v", sel, err)
		}
		if ev.State != browser.DownloadProgressStateCompleted {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, ev.GUID))
		if err != nil {
			t.Fatalf("read download: %v", err)
		}
		return data
	}
	t.Fatalf("download of %s did not complete", sel)
	return nil
}

// htmlPart returns the decoded HTML body of a message.
func htmlPart(t *testing.T, msg []byte) []byte {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no HTML part: %v", err)
		}
		if h, ok := p.Header.(*mail.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "text/html" {
				b, _ := io.ReadAll(p.Body)
				return b
			}
		}
	}
}
