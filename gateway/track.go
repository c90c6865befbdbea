package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/invoicegw/invoicegw/tracking"
)

// TrackStore is what recording recipient activity needs from storage.
type TrackStore interface {
	// RecordEvent appends one event. Errors: KindUnavailable.
	RecordEvent(ctx context.Context, tenantID string, e Event) error
	// Invoice returns one of the tenant's invoices. Errors: KindNotFound, KindUnavailable.
	Invoice(ctx context.Context, tenantID, id string) (*Record, error)
}

// Classifier tells people from machines. Implemented by tracking.
type Classifier interface {
	Classify(h tracking.Hit) (tracking.Class, string)
}

// Hit is one request on a tracked URL, as the HTTP layer saw it.
type Hit struct {
	Method    string
	UserAgent string
	IP        string // the client address, already resolved through trusted proxies
}

// Tracker records what a recipient's side did with a delivered invoice: pixel
// fetches, link clicks, page views and downloads. Every hit is evidence; the
// classification says whether a person or a machine made it.
type Tracker struct {
	tokens     TokenResolver
	store      TrackStore
	archive    Archive
	classifier Classifier
	now        func() time.Time
	log        *slog.Logger
}

func NewTracker(tokens TokenResolver, store TrackStore, archive Archive, classifier Classifier, now func() time.Time, log *slog.Logger) *Tracker {
	return &Tracker{tokens: tokens, store: store, archive: archive, classifier: classifier, now: now, log: log}
}

// Open records a pixel fetch. It never fails visibly: the pixel is answered whatever
// happens here, so failures are logged.
func (t *Tracker) Open(ctx context.Context, token string, hit Hit) {
	tok, err := t.resolve(ctx, token, TokenPixel)
	if err != nil {
		if ErrorKind(err) != KindNotFound {
			t.log.ErrorContext(ctx, "pixel hit not recorded", "err", err)
		}
		return
	}
	if err := t.record(ctx, tok, EventOpened, hit); err != nil {
		t.log.ErrorContext(ctx, "pixel hit not recorded", "invoice_id", tok.InvoiceID, "err", err)
	}
}

// Click records a tracked-link hit. The link only ever leads to the hosted page of
// its own delivery, so the caller redirects to that page with the same token.
// Errors: KindNotFound for a forged or unknown token.
func (t *Tracker) Click(ctx context.Context, token string, hit Hit) error {
	tok, err := t.resolve(ctx, token, TokenLink)
	if err != nil {
		return err
	}
	return t.record(ctx, tok, EventClicked, hit)
}

// Page records a view of the hosted invoice page and returns what it shows.
// Errors: KindNotFound.
func (t *Tracker) Page(ctx context.Context, token string, hit Hit) (*Record, error) {
	tok, err := t.resolve(ctx, token, TokenLink)
	if err != nil {
		return nil, err
	}
	r, err := t.store.Invoice(ctx, tok.TenantID, tok.InvoiceID)
	if err != nil {
		return nil, err
	}
	if hit.Method != "HEAD" {
		if err := t.record(ctx, tok, EventViewed, hit); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Download records a PDF download from the hosted page and returns the archived
// bytes, checked against their recorded hash. Errors: KindNotFound, KindConflict
// (not archived yet), KindUnavailable.
func (t *Tracker) Download(ctx context.Context, token string, hit Hit) (*Record, []byte, error) {
	tok, err := t.resolve(ctx, token, TokenLink)
	if err != nil {
		return nil, nil, err
	}
	r, err := t.store.Invoice(ctx, tok.TenantID, tok.InvoiceID)
	if err != nil {
		return nil, nil, err
	}
	data, err := fetchPDF(ctx, t.archive, r)
	if err != nil {
		return nil, nil, err
	}
	if err := t.record(ctx, tok, EventDownloaded, hit); err != nil {
		return nil, nil, err
	}
	return r, data, nil
}

func (t *Tracker) resolve(ctx context.Context, token string, kind TokenKind) (Token, error) {
	hash, err := tracking.HashToken(token)
	if err != nil {
		return Token{}, Errorf(KindNotFound, "link not found")
	}
	tok, err := t.tokens.ResolveToken(ctx, hash)
	if err != nil {
		return Token{}, err
	}
	if tok.Kind != kind {
		// A pixel token is no key to the page, and the other way round.
		return Token{}, Errorf(KindNotFound, "link not found")
	}
	return tok, nil
}

func (t *Tracker) record(ctx context.Context, tok Token, typ EventType, hit Hit) error {
	class, reason := t.classifier.Classify(tracking.Hit{Method: hit.Method, UserAgent: hit.UserAgent})
	ev := NewEvent(tok.InvoiceID, tok.DeliveryID, typ, t.now(), map[string]string{
		"method":         hit.Method,
		"user_agent":     hit.UserAgent,
		"ip":             truncateIP(hit.IP),
		"classification": string(class),
		"reason":         reason,
	})
	if err := t.store.RecordEvent(ctx, tok.TenantID, ev); err != nil {
		return fmt.Errorf("record %s: %w", typ, err)
	}
	return nil
}

// truncateIP keeps the network, not the host: /24 for IPv4, /48 for IPv6. Enough to
// tell a scanner's data centre from a home connection, not enough to find a person.
func truncateIP(s string) string {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	bits := 48
	if addr.Unmap().Is4() {
		addr, bits = addr.Unmap(), 24
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}

// Page returns what the hosted invoice page shows.
func (r *Record) Page(pdfURL string) PageData {
	inv := r.Invoice
	pd := PageData{
		InvoiceNumber: inv.Number,
		SellerName:    inv.Seller.Name,
		CustomerName:  inv.Customer.Name,
		ContactName:   inv.Customer.Contact.Name,
		IssueDate:     inv.IssueDate.Format(time.DateOnly),
		DueDate:       inv.DueDate.Format(time.DateOnly),
		Currency:      inv.Currency,
		Subtotal:      r.Totals.Subtotal,
		Tax:           r.Totals.Tax,
		AmountDue:     r.Totals.AmountDue,
		Terms:         r.Terms,
		PDFURL:        pdfURL,
	}
	for i, l := range inv.Lines {
		amount := ""
		if i < len(r.Totals.Lines) {
			amount = r.Totals.Lines[i]
		}
		pd.Lines = append(pd.Lines, PageLine{Description: l.Description, Quantity: string(l.Quantity),
			UnitPrice: string(l.UnitPrice), TaxRate: string(l.TaxRate), Amount: amount})
	}
	return pd
}
