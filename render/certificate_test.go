package render_test

import (
	"strings"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/render"
	"github.com/invoicegw/invoicegw/render/pdftest"
)

func TestCertificateStatesTheDeliveryFactsOnAtMostTwoPages(t *testing.T) {
	r, err := render.New()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 10, 2, 33, 0, time.UTC)
	timeline := []gateway.ProofEvent{
		{Seq: 1, Type: gateway.EventAccepted, At: at, Level: 0, LevelName: "accepted", Counts: true},
		{Seq: 2, Type: gateway.EventDelivered, At: at, Level: 3, LevelName: "delivered", Counts: true},
		{Seq: 3, Type: gateway.EventOpened, At: at.Add(time.Minute), Level: 4, LevelName: "opened", Classification: "machine", Reason: "apple_mpp", Machine: true},
	}
	// A long timeline still fits: the certificate shows the first rows and points to the manifest.
	for i := range 80 {
		timeline = append(timeline, gateway.ProofEvent{Seq: int64(4 + i), Type: gateway.EventViewed, At: at.Add(time.Hour), Level: 5, LevelName: "viewed", Classification: "human", Counts: true})
	}
	pdf, err := r.RenderCertificate(gateway.Certificate{
		InvoiceID: "inv_1", Number: "INV-2026-0042", Seller: "Acme Supplies GmbH", Customer: "Globex Ltd", Amount: "EUR 71.36",
		IssueDate: "2026-11-23", DueDate: "2026-12-23", GeneratedAt: at.Add(48 * time.Hour),
		Summary:    []string{"Jane Doe <jane.doe@globex.test>: Delivered to mx.globex.test at 2026-11-23 10:02:33 UTC, reply '250 2.0.0 Ok: queued as 4XyZ'; receipt confirmed by Jane Doe at 2026-11-23 11:00:00 UTC."},
		Recipients: []gateway.ProofRecipient{{Name: "Jane Doe", Email: "jane.doe@globex.test", HighestLevel: 6, HighestEvent: gateway.EventAcknowledged, HighestAt: at}},
		Timeline:   timeline, Levels: gateway.Levels, ChainLength: 83, ChainHead: strings.Repeat("ab", 32),
		KeyID: "585fe8910472e78d", PublicKey: "ed25519:LL3ZxtS79p95GXeyUNdo67agpXTMFSrblE6LZsEqkZk=",
		Artefacts: []gateway.ProofArtefact{{Name: "evidence/3-invoice.pdf", Kind: "invoice_pdf", SHA256: strings.Repeat("cd", 32)}},
	})
	if err != nil {
		t.Fatalf("RenderCertificate: %v", err)
	}
	pdftest.Check(t, pdf)
	pages := pdftest.Pages(t, pdf)
	if len(pages) > 2 {
		t.Errorf("certificate has %d pages, want at most 2", len(pages))
	}
	text := pdftest.Collapse(strings.Join(pages, " "))
	for _, want := range []string{
		"Delivery certificate", "INV-2026-0042", "Delivered to mx.globex.test at 2026-11-23 10:02:33 UTC",
		"reply '250 2.0.0 Ok: queued as 4XyZ'", "receipt confirmed by Jane Doe", "level 6, acknowledged",
		"machine, not counted: apple_mpp", "and 43 later events", "Does not prove: That a person saw it",
		strings.Repeat("ab", 32), "585fe8910472e78d",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("certificate lacks %q:\n%s", want, text)
		}
	}
}
