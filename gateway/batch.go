package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// MaxBatch is the most invoices one POST /v1/invoices/batch may carry.
const MaxBatch = 500

// BatchItem is the outcome of one invoice of a batch: accepted (Record set, Status
// 202), already accepted earlier with the same body (Record set, Replayed, Status
// 200), or refused (Err set).
type BatchItem struct {
	Index    int
	Status   int
	Record   *Record
	Replayed bool
	Err      error
}

// DecodeBatch parses a batch body {"invoices": [...]} into the raw invoices, each
// decoded and validated on its own so that one bad invoice does not sink the rest.
func DecodeBatch(body []byte) ([]json.RawMessage, error) {
	var b struct {
		Invoices []json.RawMessage `json:"invoices"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, decodeError(body, err)
	}
	if dec.More() {
		return nil, &Error{Kind: KindMalformed, Message: "the body must hold exactly one JSON object; found more after it"}
	}
	switch {
	case len(b.Invoices) == 0:
		return nil, &Error{Kind: KindInvalid, Message: "the batch is empty",
			Fields: []FieldError{{Field: "invoices", Code: "required", Message: "invoices must be an array of 1 to 500 invoices"}}}
	case len(b.Invoices) > MaxBatch:
		return nil, &Error{Kind: KindInvalid, Message: "the batch is too large",
			Fields: []FieldError{{Field: "invoices", Code: "too_many", Message: fmt.Sprintf("a batch holds at most %d invoices; got %d", MaxBatch, len(b.Invoices))}}}
	}
	return b.Invoices, nil
}

// AcceptBatch accepts up to MaxBatch invoices. Each is idempotent on its number: an
// invoice whose number was accepted before with the same body is answered with the
// existing invoice (Replayed), with a different body it is a conflict naming it.
// The accepted ones are stored in one transaction.
func (in *Intake) AcceptBatch(ctx context.Context, tenant Tenant, body []byte) ([]BatchItem, error) {
	raws, err := DecodeBatch(body)
	if err != nil {
		return nil, err
	}
	items := make([]BatchItem, len(raws))
	terms := map[string]ResolvedTerms{} // per customer id, resolved once per batch
	firstByNumber := map[string]int{}
	var rs []*Record
	var evs [][]Event
	var slots []int
	for i, raw := range raws {
		items[i].Index = i
		inv, err := DecodeInvoice(raw)
		if err != nil {
			items[i].Err = err
			continue
		}
		totals, err := inv.Validate()
		if err != nil {
			items[i].Err = err
			continue
		}
		payloadSHA := sha256Hex(raw)
		if j, dup := firstByNumber[inv.Number]; dup {
			items[i].Err = batchDuplicate(inv.Number, j)
			continue
		}
		t, ok := terms[inv.Customer.ID]
		if !ok || inv.Terms != "" {
			if t, err = in.resolveTerms(ctx, tenant.ID, inv); err != nil {
				if ErrorKind(err) != KindInvalid {
					return nil, err
				}
				items[i].Err = err
				continue
			}
			if inv.Terms == "" {
				terms[inv.Customer.ID] = t
			}
		}
		r, events, err := in.newRecord(tenant, inv, totals, t, payloadSHA)
		if err != nil {
			return nil, err
		}
		archived, err := in.archiveAttachments(ctx, r)
		if err != nil {
			return nil, err
		}
		firstByNumber[inv.Number] = i
		rs, evs, slots = append(rs, r), append(evs, append(events, archived...)), append(slots, i)
	}
	if len(rs) > 0 {
		existing, err := in.store.CreateInvoices(ctx, rs, evs)
		if err != nil {
			return nil, err
		}
		for k, r := range rs {
			it := &items[slots[k]]
			switch ex := existing[k]; {
			case ex.ID == "":
				it.Status, it.Record = 202, r
			case ex.PayloadSHA256 == r.PayloadSHA256:
				prev, err := in.store.Invoice(ctx, tenant.ID, ex.ID)
				if err != nil {
					return nil, err
				}
				it.Status, it.Record, it.Replayed = 200, prev, true
			default:
				it.Err = &Error{Kind: KindConflict, Message: fmt.Sprintf("invoice number %q was already accepted with different content", r.Invoice.Number),
					Detail: map[string]string{"invoice_id": ex.ID}}
			}
		}
	}
	accepted := 0
	for _, it := range items {
		if it.Status == 202 {
			accepted++
		}
	}
	in.log.InfoContext(ctx, "invoice batch", "tenant_id", tenant.ID, "invoices", len(items), "accepted", accepted)
	return items, nil
}

func batchDuplicate(number string, first int) error {
	return &Error{Kind: KindConflict, Message: fmt.Sprintf("invoice number %q appears twice in this batch (first at invoices[%d])", number, first)}
}
