package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/invoicegw/invoicegw/gateway/evidence"
)

// humanUA is a desktop browser; the classifier counts its hits as a person's.
const humanUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"

func (g *gw) hit(url, ua string) {
	g.t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("User-Agent", ua)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		g.t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// sentInvoice posts the example invoice, waits until it is sent, and lets a person
// open it twice and a privacy proxy once.
func sentInvoice(t *testing.T, g *gw) string {
	t.Helper()
	g.setTracking(g.apiKey, "full")
	r := g.postInvoice(g.apiKey, exampleInvoice)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST /v1/invoices = %d %s", r.status, r.body)
	}
	id := decode[invoiceJSON](t, r.body).ID
	g.waitStatus(id, "sent")
	msgs, err := g.smtp.Wait(context.Background(), 1)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("no message caught: %v", err)
	}
	pixel := pixelRE.FindStringSubmatch(messageHTML(t, msgs[len(msgs)-1].Data))
	if pixel == nil {
		t.Fatalf("no pixel in the message")
	}
	url := pixel[1]
	time.Sleep(2100 * time.Millisecond) // hits within 2 s of sending are a machine's
	g.hit(url, humanUA)
	g.hit(url, humanUA)
	g.hit(url, "Mozilla/5.0") // Apple Mail Privacy Protection: a machine
	g.waitEvents(id, "opened", 2)
	return id
}

type proofJSON struct {
	Summary    []string `json:"summary"`
	Recipients []struct {
		Email        string `json:"email"`
		HighestLevel int    `json:"highest_level"`
		HighestEvent string `json:"highest_event"`
	} `json:"recipients"`
	Timeline []struct {
		Seq     int64  `json:"seq"`
		Type    string `json:"type"`
		Machine bool   `json:"machine"`
		Counts  bool   `json:"counts"`
	} `json:"timeline"`
	Artefacts []struct {
		Name, Kind, SHA256 string
		ArchiveKey         string `json:"archive_key"`
	} `json:"artefacts"`
	Chain struct {
		Length int  `json:"length"`
		Intact bool `json:"intact"`
	} `json:"chain"`
	Disputes []struct {
		ID, Status string
	} `json:"disputes"`
}

func TestProofBundleVerifiesAndCatchesEveryAlteration(t *testing.T) {
	g := startGateway(t)
	id := sentInvoice(t, g)

	// A dispute with an attachment becomes part of the evidence.
	pdfB64 := base64.StdEncoding.EncodeToString([]byte("%PDF-1.4\n% delivery note\n"))
	r := g.do("POST", "/v1/invoices/"+id+"/disputes", g.apiKey, "application/json",
		`{"reason":"not_received","note":"Globex says it never arrived","attachments":[{"filename":"note.pdf","data":"`+pdfB64+`"}]}`)
	if r.status != http.StatusCreated {
		t.Fatalf("POST disputes = %d %s, want 201", r.status, r.body)
	}

	r = g.do("GET", "/v1/invoices/"+id+"/proof", g.apiKey, "", "")
	if r.status != 200 {
		t.Fatalf("GET proof = %d %s", r.status, r.body)
	}
	p := decode[proofJSON](t, r.body)
	text := strings.Join(p.Summary, "\n")
	for _, want := range []string{"Invoice INV-2026-0042 for EUR 71.36 was accepted", "Jane Doe <jane.doe@globex.test>: Handed to our mail relay",
		"reply '2.0.0", "opened by a person twice", "not counted", "Open dispute since", "not received"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	if len(p.Recipients) != 1 || p.Recipients[0].HighestLevel != 4 || p.Recipients[0].HighestEvent != "opened" {
		t.Errorf("recipients = %+v, want jane.doe at level 4 (opened)", p.Recipients)
	}
	if !p.Chain.Intact || p.Chain.Length != len(p.Timeline) {
		t.Errorf("chain = %+v over %d events, want intact", p.Chain, len(p.Timeline))
	}
	machines := 0
	for i, e := range p.Timeline {
		if e.Seq != int64(i+1) {
			t.Errorf("timeline[%d].seq = %d", i, e.Seq)
		}
		if e.Machine {
			machines++
			if e.Counts {
				t.Errorf("machine event %d counts as a person", e.Seq)
			}
		}
	}
	if machines != 1 {
		t.Errorf("%d machine events, want 1 (the privacy proxy)", machines)
	}
	kinds := map[string]bool{}
	for _, a := range p.Artefacts {
		kinds[a.Kind] = true
	}
	if !kinds["invoice_pdf"] || !kinds["message"] || !kinds["dispute_attachment"] {
		t.Errorf("artefacts = %+v, want the invoice PDF, the exact .eml and the dispute attachment", p.Artefacts)
	}

	// The bundle verifies against the published key.
	r = g.do("GET", "/.well-known/invoicegw-signing-key", "", "", "")
	key := decode[struct {
		PublicKey string `json:"public_key"`
	}](t, r.body).PublicKey
	if !strings.HasPrefix(key, "ed25519:") {
		t.Fatalf("signing key = %s", r.body)
	}
	// Within a checkpoint interval (1 s here) the chain's head is in a signed checkpoint.
	var bundle []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r = g.do("GET", "/v1/invoices/"+id+"/proof.zip", g.apiKey, "", "")
		if r.status != 200 || r.header.Get("Content-Type") != "application/zip" {
			t.Fatalf("GET proof.zip = %d %s", r.status, r.header.Get("Content-Type"))
		}
		bundle = r.body
		var m evidence.Manifest
		json.Unmarshal(unzip(t, bundle)["manifest.json"], &m)
		if m.Checkpoint != nil && m.Checkpoint.Head.Seq == int64(len(m.Events)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint covers the whole chain after 10 s: %+v", m.Checkpoint)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "proof.zip")
	os.WriteFile(file, bundle, 0o600)
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"verify", file, "--key", key}, nil, nil, &out, &errOut); err != nil {
		t.Fatalf("verify of an untouched bundle: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "OK:") || !strings.Contains(out.String(), "INV-2026-0042") {
		t.Errorf("verify printed:\n%s", out.String())
	}

	// The certificate states the delivery facts in words a reader's tools extract.
	members := unzip(t, bundle)
	cert := pdfText(t, members["certificate.pdf"])
	for _, want := range []string{"Delivery certificate", "INV-2026-0042", "Jane Doe", "jane.doe@globex.test",
		"Handed to our mail relay", "opened by a person twice", "Does not prove", "acknowledged"} {
		if !strings.Contains(strings.Join(strings.Fields(cert), " "), want) {
			t.Errorf("certificate text lacks %q:\n%s", want, cert)
		}
	}

	// Each member with one byte flipped (the ZIP rebuilt so its checksums are
	// right, as a forger would): verify fails and names that member.
	for name := range members {
		t.Run("flip "+name, func(t *testing.T) {
			altered := cloneMembers(members)
			b := altered[name]
			b[len(b)/2] ^= 0x01
			f := filepath.Join(dir, "flipped.zip")
			os.WriteFile(f, rezip(t, bundle, altered), 0o600)
			var out bytes.Buffer
			err := run(context.Background(), []string{"verify", "--key", key, f}, nil, nil, &out, &out)
			if err == nil || !strings.Contains(out.String(), name) {
				t.Errorf("verify after flipping a byte of %s: err %v, output:\n%s\nwant a failure naming %s", name, err, out.String(), name)
			}
		})
	}

	t.Run("dropped event", func(t *testing.T) {
		altered := cloneMembers(members)
		var m map[string]json.RawMessage
		json.Unmarshal(altered["manifest.json"], &m)
		var evs []json.RawMessage
		json.Unmarshal(m["events"], &evs)
		evs = append(evs[:2], evs[3:]...)
		m["events"], _ = json.Marshal(evs)
		altered["manifest.json"], _ = json.Marshal(m)
		rep := evidence.Verify(rezip(t, bundle, altered), mustKey(t, key))
		if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "event 4") {
			t.Errorf("verify with event 3 dropped: problems %q, want the broken link at event 4", rep.Problems)
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		_, other, _ := evidence.GenerateKey()
		var out bytes.Buffer
		err := run(context.Background(), []string{"verify", file, "--key", other}, nil, nil, &out, &out)
		if err == nil || !strings.Contains(out.String(), "trusted key") {
			t.Errorf("verify with another key: err %v, output:\n%s", err, out.String())
		}
	})
}

func TestProofAndDisputesOfAnotherTenantAreNotFound(t *testing.T) {
	g := startGateway(t)
	id := sentInvoice(t, g)
	r := g.do("POST", "/v1/invoices/"+id+"/disputes", g.apiKey, "application/json", `{"reason":"quality"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("POST disputes = %d %s", r.status, r.body)
	}
	dispute := decode[struct{ ID string }](t, r.body).ID
	other := g.createTenant("Initech")
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/invoices/" + id + "/proof", ""},
		{"GET", "/v1/invoices/" + id + "/proof.zip", ""},
		{"GET", "/v1/invoices/" + id + "/disputes", ""},
		{"POST", "/v1/invoices/" + id + "/disputes", `{"reason":"other"}`},
		{"GET", "/v1/disputes/" + dispute, ""},
		{"POST", "/v1/disputes/" + dispute + "/resolve", `{"outcome":"withdrawn"}`},
	} {
		r := g.do(c.method, c.path, other, "application/json", c.body)
		if r.status != http.StatusNotFound {
			t.Errorf("%s %s as another tenant = %d %s, want 404", c.method, c.path, r.status, r.body)
		}
	}

	// Still open for its owner, then resolved once.
	inv := g.do("GET", "/v1/invoices/"+id, g.apiKey, "", "")
	if !strings.Contains(string(inv.body), `"status":"open"`) {
		t.Errorf("invoice does not show its open dispute: %s", inv.body)
	}
	r = g.do("POST", "/v1/disputes/"+dispute+"/resolve", g.apiKey, "application/json", `{"outcome":"bogus"}`)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"field":"outcome"`) {
		t.Errorf("resolve with a bad outcome = %d %s, want 422 naming outcome", r.status, r.body)
	}
	r = g.do("POST", "/v1/disputes/"+dispute+"/resolve", g.apiKey, "application/json", `{"outcome":"rejected","note":"delivered to their MX"}`)
	if r.status != 200 {
		t.Fatalf("resolve = %d %s", r.status, r.body)
	}
	r = g.do("POST", "/v1/disputes/"+dispute+"/resolve", g.apiKey, "application/json", `{"outcome":"rejected"}`)
	if r.status != http.StatusConflict {
		t.Errorf("second resolve = %d, want 409", r.status)
	}
	var types []string
	for _, e := range g.events(id) {
		types = append(types, e.Type)
	}
	if got := strings.Join(types, ","); !strings.HasSuffix(got, "disputed,dispute_resolved") {
		t.Errorf("events = %s, want disputed then dispute_resolved at the end", got)
	}
}

func TestServeRefusesAMissingSigningKey(t *testing.T) {
	env := map[string]string{"INVOICEGW_PUBLIC_URL": "http://127.0.0.1:1", "INVOICEGW_DATABASE_URL": "postgres://x", "INVOICEGW_REDIS_URL": "redis://x",
		"INVOICEGW_S3_ENDPOINT": "http://x", "INVOICEGW_S3_BUCKET": "b", "INVOICEGW_S3_ACCESS_KEY": "a", "INVOICEGW_S3_SECRET_KEY": "s",
		"INVOICEGW_SMTP_URL": "smtp://x:25", "INVOICEGW_MAIL_FROM": "a@b.test"}
	for _, c := range []struct{ name, key string }{{"missing", ""}, {"malformed", "ed25519:abc"}, {"public key", "ed25519:" + base64.StdEncoding.EncodeToString(make([]byte, 32))}} {
		env["INVOICEGW_SIGNING_KEY"] = c.key
		err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "INVOICEGW_SIGNING_KEY") {
			t.Errorf("%s key: serve error %v, want one naming INVOICEGW_SIGNING_KEY", c.name, err)
		}
	}
}

// messageHTML is the HTML part of a caught message, decoded.
func messageHTML(t *testing.T, data []byte) string {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			return ""
		}
		if h, ok := p.Header.(*mail.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "text/html" {
				b, _ := io.ReadAll(p.Body)
				return string(b)
			}
		}
	}
}

func mustKey(t *testing.T, s string) []byte {
	t.Helper()
	k, err := evidence.ParsePublicKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func unzip(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("open bundle: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		out[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return out
}

func cloneMembers(m map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range m {
		out[k] = bytes.Clone(v)
	}
	return out
}

// rezip writes members in the original bundle's order with fresh checksums.
func rezip(t *testing.T, orig []byte, members map[string][]byte) []byte {
	t.Helper()
	zr, _ := zip.NewReader(bytes.NewReader(orig), int64(len(orig)))
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		w, _ := zw.Create(f.Name)
		w.Write(members[f.Name])
	}
	zw.Close()
	return buf.Bytes()
}
