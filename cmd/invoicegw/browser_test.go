package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-message/mail"
	"github.com/invoicegw/invoicegw/storage/servicetest"
)

const (
	personUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	scannerUA = "Mozilla/5.0 (compatible; Mimecast URL Protect/1.0)"
)

// sendAndOpenMail posts the example invoice under a new number, waits until it is
// sent and returns its id and the HTML part of the e-mail as received.
func (g *gw) sendAndOpenMail(number string, nth int) (string, string) {
	g.t.Helper()
	return g.sendBodyAndOpenMail(strings.Replace(exampleInvoice, `"INV-2026-0042"`, `"`+number+`"`, 1), nth)
}

// sendBodyAndOpenMail is sendAndOpenMail for any invoice body.
func (g *gw) sendBodyAndOpenMail(body string, nth int) (string, string) {
	g.t.Helper()
	r := g.postInvoice(g.apiKey, body)
	if r.status != 202 {
		g.t.Fatalf("POST /v1/invoices = %d %s", r.status, r.body)
	}
	id := decode[invoiceJSON](g.t, r.body).ID
	g.waitStatus(id, "sent")
	msgs, err := g.smtp.Wait(context.Background(), nth)
	if err != nil {
		g.t.Fatal(err)
	}
	mr, err := mail.CreateReader(bytes.NewReader(msgs[nth-1].Data))
	if err != nil {
		g.t.Fatalf("parse message: %v", err)
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if h, ok := p.Header.(*mail.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "text/html" {
				b, _ := io.ReadAll(p.Body)
				// No person opens a message within 2 seconds of its sending; the
				// classifier says so too (too_fast_after_delivery).
				for _, e := range g.events(id) {
					if e.Type == "sent" {
						time.Sleep(time.Until(e.At.Add(2500 * time.Millisecond)))
					}
				}
				return id, string(b)
			}
		}
	}
	g.t.Fatal("the e-mail has no HTML part")
	return "", ""
}

// browse opens the HTML e-mail in Debian's chromium as a reader would: it loads the
// message with its images, clicks "View invoice", types a name and presses
// "Confirm receipt". It returns the text the page shows afterwards.
func browse(t *testing.T, html, userAgent string) string {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		servicetest.Unavailable(t, fmt.Sprintf("chromium (Debian package) missing (%v): run `make test`, which installs it", err))
	}
	file := filepath.Join(t.TempDir(), "message.html")
	if err := os.WriteFile(file, []byte(html), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserAgent(userAgent))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	err = chromedp.Do(ctx,
		chromedp.Navigate("file://"+file),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Run(ctx, chromedp.Poll[bool](`Array.from(document.images).every(i => i.complete)`,
				chromedp.WithPollingTimeout(10*time.Second)))
			return err
		}),
	)
	if err != nil {
		t.Fatalf("open the e-mail in chromium: %v", err)
	}
	pixelLoaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`Array.from(document.images).some(i => i.src.includes('/t/o/') && i.naturalWidth === 1)`))
	if err != nil {
		t.Fatalf("inspect images: %v", err)
	}
	err = chromedp.Do(ctx,
		// The visible "View invoice" button, not the hidden honeypot.
		chromedp.Click(chromedp.Search(`//a[normalize-space()="View invoice"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm-name")),
		chromedp.SendKeys(chromedp.ID("confirm-name"), "Jane Doe"),
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Confirm receipt"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[role=status], [role=alert]`)),
	)
	if err != nil {
		t.Fatalf("click through in chromium: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	if !pixelLoaded {
		t.Error("the open pixel did not load as a 1x1 image")
	}
	return text
}

// hitClasses maps "type/classification" to how often it is in the timeline.
func hitClasses(evs []eventJSON) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		c, _ := e.Detail["classification"].(string)
		out[e.Type+"/"+c]++
	}
	return out
}

func TestBrowserPersonConfirmsAndScannerCannot(t *testing.T) {
	g := startGateway(t)
	g.setTracking(g.apiKey, "full")

	t.Run("a person opens, clicks, views and confirms", func(t *testing.T) {
		id, html := g.sendAndOpenMail("INV-BROWSER-PERSON", 1)
		text := browse(t, html, personUA)
		if !strings.Contains(text, "confirmation of receipt has been recorded") {
			t.Errorf("page after confirming says:\n%s", text)
		}
		evs := g.events(id)
		got := hitClasses(evs)
		for _, want := range []string{"opened/human", "clicked/human", "viewed/human", "acknowledged/human"} {
			if got[want] == 0 {
				t.Errorf("timeline lacks %s; has %v", want, got)
			}
		}
		for _, e := range evs {
			if e.Type == "acknowledged" && (e.Level != 6 || e.Detail["name"] != "Jane Doe") {
				t.Errorf("acknowledged = level %d detail %v, want level 6 with the typed name", e.Level, e.Detail)
			}
		}
		if e := g.engagement(id); !e.SeenByPerson || e.Strongest != 6 {
			t.Errorf("engagement = %+v, want seen by a person at level 6", e)
		}
	})

	t.Run("a scanner does the same and proves nothing", func(t *testing.T) {
		id, html := g.sendAndOpenMail("INV-BROWSER-SCANNER", 2)
		text := browse(t, html, scannerUA)
		if !strings.Contains(text, "looks automated") {
			t.Errorf("page after the scanner's confirm says:\n%s", text)
		}
		got := hitClasses(g.events(id))
		for _, bad := range []string{"opened/human", "clicked/human", "viewed/human", "acknowledged/human", "acknowledged/machine", "acknowledged/"} {
			if got[bad] != 0 {
				t.Errorf("timeline has %s from a scanner: %v", bad, got)
			}
		}
		for _, want := range []string{"opened/machine", "clicked/machine", "viewed/machine"} {
			if got[want] == 0 {
				t.Errorf("timeline lacks %s (machine hits are recorded too); has %v", want, got)
			}
		}
		if e := g.engagement(id); e.SeenByPerson || e.Strongest != -1 || e.Signals["opened"].MachineHits == 0 {
			t.Errorf("engagement = %+v, want not seen by a person, with the machine opens counted", e)
		}
	})
}

type engagementJSON struct {
	SeenByPerson bool `json:"seen_by_person"`
	Strongest    int  `json:"strongest_level"`
	Signals      map[string]struct {
		Human       bool `json:"human"`
		HumanHits   int  `json:"human_hits"`
		MachineHits int  `json:"machine_hits"`
	} `json:"signals"`
}

func (g *gw) engagement(id string) engagementJSON {
	g.t.Helper()
	r := g.do("GET", "/v1/invoices/"+id+"/tracking", g.apiKey, "", "")
	if r.status != 200 {
		g.t.Fatalf("GET tracking = %d %s", r.status, r.body)
	}
	return decode[engagementJSON](g.t, r.body)
}
