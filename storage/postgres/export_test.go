package postgres

import (
	"context"

	"github.com/invoicegw/invoicegw/gateway"
)

// AcceptAsOneGroup commits the records as one group of AcceptInvoice calls, as if
// they had arrived together, and returns each call's error.
func (db *DB) AcceptAsOneGroup(rs []*gateway.Record, events [][]gateway.Event) []error {
	group := make([]*acceptReq, len(rs))
	for i, r := range rs {
		it, err := newInsertItem(r, events[i], nil)
		if err != nil {
			panic(err)
		}
		group[i] = &acceptReq{ctx: context.Background(), item: it, done: make(chan struct{})}
	}
	db.acceptGroup(group)
	errs := make([]error, len(rs))
	for i, r := range group {
		<-r.done
		errs[i] = r.err
	}
	return errs
}

// GuessChainHead makes insertEvent believe invoiceID's chain ends at seq with hash,
// as a transaction that rolled back or another process would leave it believing.
func GuessChainHead(invoiceID string, seq int64, hash string) {
	chainHeads.put(invoiceID, chainHead{seq, hash})
}
