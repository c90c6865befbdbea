package gateway

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// CollectorLayout is what every collector page shows around its content.
type CollectorLayout struct {
	Title     string
	UserEmail string // empty on the sign-in page
	CSRF      string // the token forms on this page carry
	Query     string // the search box's value
}

// CollectorLoginView is the sign-in page.
type CollectorLoginView struct {
	CollectorLayout
	Email string
	Next  string
	Error string
}

// CollectorRow is one invoice in a list.
type CollectorRow struct {
	URL          string
	Number       string
	Customer     string
	CustomerID   string
	ContactEmail string
	DueDate      string
	AmountDue    string // with currency, e.g. "EUR 71.36"
	Status       string
	DaysOverdue  int
}

// CollectorListView is the worklist (home) and the search result page.
type CollectorListView struct {
	CollectorLayout
	Heading  string
	Intro    string
	Rows     []CollectorRow
	Searched bool   // a search was made (so "no results" is meaningful)
	Error    string // a problem with the search itself
}

// CollectorInvoiceView is the invoice page.
type CollectorInvoiceView struct {
	CollectorLayout
	ID           string
	Number       string
	Status       string
	Customer     string
	CustomerID   string
	Contact      string
	ContactEmail string
	IssueDate    string
	DueDate      string
	DaysOverdue  int
	Total        string
	AmountDue    string
	// Highest is the strongest evidence reached by a person (machine hits do not
	// count), -1 when nothing was recorded.
	Highest      int
	HighestLabel string
	Ladder       []LadderRung
	Timeline     []TimelineRow
	Deliveries   []DeliveryRow
	Artefacts    []ArtefactRow
	PDFURL       string // empty until archived
	BundleURL    string // empty when bundles are not available
	Disputes     []DisputeRow
	// DisputesAvailable is false until the disputes feature is wired in.
	DisputesAvailable bool
	DisputeURL        string
	DisputeReasons    []Option
	DisputeOutcomes   []Option
	DisputeError      string
	Notice            string
}

// LadderRung is one level of the evidence ladder and what this invoice has at it.
// A rung is only marked when an event at that level was recorded: a click does not
// prove a delivery report exists.
type LadderRung struct {
	Level    int
	Label    string
	Proves   string
	Recorded int // events at this level that count (not classified machine)
	Machine  int // machine hits at this level, which do not count
}

// TimelineRow is one event on the invoice page.
type TimelineRow struct {
	At         string
	Type       string
	Level      int // NoLevel for negative or uncertain outcomes
	LevelLabel string
	Rungs      []bool // seven flags, true up to Level: the visual ladder
	Negative   bool
	Machine    bool
	Reason     string // why the hit was classified (machine or human)
	Recipient  string
	Facts      []Fact
}

// Fact is one key/value of an event's detail, shown as evidence.
type Fact struct{ Key, Value string }

// DeliveryRow is one recipient.
type DeliveryRow struct {
	Name, Email, Status, LastReply string
	Attempts                       int
}

// ArtefactRow is one downloadable piece of evidence.
type ArtefactRow struct {
	Name, SHA256, URL, Event string
	Size                     int64
}

// DisputeRow is one dispute with its resolve form.
type DisputeRow struct {
	ID, Reason, Note, Source, OpenedBy, OpenedAt string
	Open                                         bool
	Outcome, Resolution, ResolvedBy, ResolvedAt  string
	ResolveURL                                   string
}

// Option is one choice of a select.
type Option struct{ Value, Label string }

// ladderLabels names each rung and says what it proves (DESIGN.md §3).
var ladderLabels = [...]struct{ label, proves string }{
	{"Accepted", "the accounting system handed the invoice over"},
	{"Rendered and archived", "exactly this PDF exists and is stored"},
	{"Sent", "our mail relay accepted the message"},
	{"Delivered", "the recipient's mail server accepted it"},
	{"Opened", "the e-mail's image was fetched (weak: may be a proxy)"},
	{"Clicked, viewed or downloaded", "the link, hosted page or PDF was fetched"},
	{"Acknowledged", "a person confirmed receipt: the strongest signal"},
}

// disputeReasonLabels are the reasons as a collector reads them.
var disputeReasonLabels = map[DisputeReason]string{
	DisputeNotReceived:       "Not received",
	DisputeWrongAmount:       "Wrong amount",
	DisputeGoodsNotDelivered: "Goods not delivered",
	DisputeQuality:           "Quality",
	DisputeOther:             "Other",
}

// outcomeLabels are the ways a dispute ends, as a collector reads them.
var outcomeLabels = map[DisputeOutcome]string{
	OutcomeResent:    "Invoice sent again",
	OutcomeCorrected: "Corrected (credit note or new invoice)",
	OutcomeRejected:  "Rejected: the evidence stands",
	OutcomeWithdrawn: "Withdrawn by the customer",
	OutcomeOther:     "Other",
}

// DisputeReasonLabel returns the readable reason.
func DisputeReasonLabel(r DisputeReason) string {
	if l, ok := disputeReasonLabels[r]; ok {
		return l
	}
	return string(r)
}

// LevelLabel names an evidence level; negative outcomes have none.
func LevelLabel(level int) string {
	if level < 0 || level >= len(ladderLabels) {
		return "no evidence (negative or uncertain outcome)"
	}
	return fmt.Sprintf("level %d: %s", level, ladderLabels[level].label)
}

// Money formats an amount with its currency code.
func Money(currency, amount string) string { return currency + " " + amount }

// SummaryRow turns a search or worklist hit into a row.
func SummaryRow(s InvoiceSummary, url string) CollectorRow {
	return CollectorRow{URL: url, Number: s.Number, Customer: s.CustomerName, CustomerID: s.CustomerID,
		ContactEmail: s.ContactEmail, DueDate: s.DueDate.Format(time.DateOnly), AmountDue: Money(s.Currency, s.AmountDue),
		Status: string(s.Status), DaysOverdue: s.DaysOverdue}
}

// negativeEvents are outcomes that prove failure or uncertainty.
var negativeEvents = map[EventType]bool{
	EventBounced: true, EventFailed: true, EventDelayed: true, EventComplained: true,
	EventUnknownOutcome: true, EventDeferred: true,
}

// humanEngagement are the events that show a person at the customer touched the invoice.
var humanEngagement = map[EventType]bool{
	EventOpened: true, EventClicked: true, EventViewed: true, EventDownloaded: true, EventAcknowledged: true,
}

// InvoiceView builds the invoice page from an invoice file. urls turns an artefact's
// SHA-256 into its download URL.
func (f *InvoiceFile) View(artefactURL func(sha string) string) CollectorInvoiceView {
	r := f.Record
	inv := r.Invoice
	v := CollectorInvoiceView{
		ID: r.ID, Number: inv.Number, Status: string(r.Status), Customer: inv.Customer.Name, CustomerID: inv.Customer.ID,
		Contact: inv.Customer.Contact.Name, ContactEmail: inv.Customer.Contact.Email,
		IssueDate: inv.IssueDate.Format(time.DateOnly), DueDate: inv.DueDate.Format(time.DateOnly),
		Total: Money(inv.Currency, r.Totals.Total), AmountDue: Money(inv.Currency, r.Totals.AmountDue),
		Highest: NoLevel, DisputesAvailable: f.DisputesAvailable,
	}
	if days := int(f.Today.Sub(inv.DueDate.Time).Hours() / 24); days > 0 {
		v.DaysOverdue = days
	}
	recipients := map[string]string{}
	for _, d := range r.Deliveries {
		recipients[d.ID] = d.Recipient.Email
		v.Deliveries = append(v.Deliveries, DeliveryRow{Name: d.Recipient.Name, Email: d.Recipient.Email,
			Status: string(d.Status), LastReply: d.LastReply, Attempts: d.Attempts})
	}
	evs := append([]Event(nil), f.Events...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	for i, l := range ladderLabels {
		v.Ladder = append(v.Ladder, LadderRung{Level: i, Label: l.label, Proves: l.proves})
	}
	for _, e := range evs {
		row := timelineRow(e)
		row.Recipient = recipients[e.DeliveryID]
		if row.Level >= 0 {
			if row.Machine {
				v.Ladder[row.Level].Machine++
			} else {
				v.Ladder[row.Level].Recorded++
				v.Highest = max(v.Highest, row.Level)
			}
		}
		v.Timeline = append(v.Timeline, row)
	}
	v.HighestLabel = LevelLabel(v.Highest)
	for _, a := range f.Artefacts {
		v.Artefacts = append(v.Artefacts, ArtefactRow{Name: a.Name, SHA256: a.SHA256, URL: artefactURL(a.SHA256),
			Event: string(a.Event), Size: a.Size})
	}
	for _, d := range f.Disputes {
		row := DisputeRow{ID: d.ID, Reason: DisputeReasonLabel(d.Reason), Note: d.Note, Source: string(d.Source), OpenedBy: d.OpenedBy,
			OpenedAt: d.OpenedAt.UTC().Format("2006-01-02 15:04:05 UTC"), Open: d.Status == DisputeOpen,
			Outcome: outcomeLabels[d.Outcome], Resolution: d.Resolution, ResolvedBy: d.ResolvedBy}
		if d.ResolvedAt != nil {
			row.ResolvedAt = d.ResolvedAt.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		v.Disputes = append(v.Disputes, row)
	}
	for _, reason := range DisputeReasons {
		v.DisputeReasons = append(v.DisputeReasons, Option{Value: string(reason), Label: DisputeReasonLabel(reason)})
	}
	for _, o := range DisputeOutcomes {
		v.DisputeOutcomes = append(v.DisputeOutcomes, Option{Value: string(o), Label: outcomeLabels[o]})
	}
	return v
}

// hiddenFacts are detail keys shown elsewhere on the row, or not useful to a collector.
var hiddenFacts = map[string]bool{"classification": true, "reason": true}

func timelineRow(e Event) TimelineRow {
	level := e.Level
	if negativeEvents[e.Type] || level >= len(ladderLabels) {
		level = NoLevel
	}
	row := TimelineRow{At: e.At.UTC().Format("2006-01-02 15:04:05 UTC"), Type: string(e.Type), Level: level,
		LevelLabel: LevelLabel(level), Negative: negativeEvents[e.Type], Rungs: make([]bool, len(ladderLabels))}
	if level < 0 && !row.Negative {
		row.LevelLabel = "not on the evidence ladder"
	}
	for i := range row.Rungs {
		row.Rungs[i] = i <= level
	}
	var detail map[string]any
	_ = json.Unmarshal(e.Detail, &detail) // a detail that is not an object shows no facts
	if c, ok := detail["classification"].(string); ok {
		row.Machine = c == "machine"
	}
	if reason, ok := detail["reason"].(string); ok {
		row.Reason = reason
	}
	keys := make([]string, 0, len(detail))
	for k := range detail {
		if !hiddenFacts[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		row.Facts = append(row.Facts, Fact{Key: k, Value: factValue(detail[k])})
	}
	return row
}

func factValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		b, _ := json.Marshal(x)
		return strings.TrimSpace(string(b))
	}
}

// CollectorMessageView is a page that only says something: not found, an error.
type CollectorMessageView struct {
	CollectorLayout
	Message string
}
