package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/evidence"
	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/storage/archive/archivetest"
	"github.com/invoicegw/invoicegw/storage/postgres"
)

func chained(evs []gateway.Event) []evidence.Event {
	out := make([]evidence.Event, len(evs))
	for i, e := range evs {
		out[i] = e.Chained()
	}
	return out
}

func createInvoice(t *testing.T, db *postgres.DB, tenantID, number string) *gateway.Record {
	t.Helper()
	r := newRecord(t, tenantID, number)
	if err := db.CreateInvoice(context.Background(), r, gateway.NewEvent(r.ID, "", gateway.EventAccepted, time.Now(), map[string]string{"n": number})); err != nil {
		t.Fatalf("create invoice: %v", err)
	}
	return r
}

func TestConcurrentWritersKeepOneUnbrokenChain(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	r := createInvoice(t, db, ten.ID, "INV-C")
	const writers, each = 20, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ev := gateway.NewEvent(r.ID, r.Deliveries[0].ID, gateway.EventOpened, time.Now(),
					map[string]string{"writer": fmt.Sprint(w), "i": fmt.Sprint(i), "classification": "human"})
				if err := db.RecordEvent(ctx, ten.ID, ev); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("record event: %v", err)
	}
	evs, err := db.ChainEvents(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(evs), 1+writers*each; got != want {
		t.Fatalf("%d events, want %d", got, want)
	}
	if problems := evidence.CheckChain(r.ID, chained(evs)); len(problems) > 0 {
		t.Errorf("chain after %d concurrent writers is broken:\n%s", writers, strings.Join(problems, "\n"))
	}
}

// A wrong guess of the chain head (left by a rolled-back transaction or overtaken by
// another process) costs a round trip, never a broken chain.
func TestWrongChainHeadGuessesStillAppendCorrectly(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	r := createInvoice(t, db, ten.ID, "INV-G")
	record := func(n int) {
		t.Helper()
		ev := gateway.NewEvent(r.ID, r.Deliveries[0].ID, gateway.EventOpened, time.Now(), map[string]string{"n": fmt.Sprint(n)})
		if err := db.RecordEvent(ctx, ten.ID, ev); err != nil {
			t.Fatalf("record event %d: %v", n, err)
		}
	}
	record(1) // the guess from the insert is right
	evs, err := db.ChainEvents(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	head := evs[len(evs)-1]
	for i, guess := range []struct {
		seq  int64
		hash string
	}{
		{head.Seq, "0000"},        // right number, wrong hash
		{head.Seq + 5, head.Hash}, // a sequence number from the future
		{head.Seq - 1, evs[0].Hash},
		{0, ""},
	} {
		postgres.GuessChainHead(r.ID, guess.seq, guess.hash)
		record(i + 2)
	}
	if evs, err = db.ChainEvents(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6", len(evs))
	}
	if problems := evidence.CheckChain(r.ID, chained(evs)); len(problems) > 0 {
		t.Errorf("chain after wrong guesses is broken:\n%s", strings.Join(problems, "\n"))
	}
}

func TestAlteredEventRowShowsInTheProofAndBlocksTheBundle(t *testing.T) {
	t.Parallel()
	db, pool := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	r := createInvoice(t, db, ten.ID, "INV-A")
	if err := db.RecordEvent(ctx, ten.ID, gateway.NewEvent(r.ID, r.Deliveries[0].ID, gateway.EventSent, time.Now(), map[string]string{"reply": "250 ok"})); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE events SET detail = '{"reply":"550 no"}' WHERE invoice_id = $1 AND seq = 2`, r.ID); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	priv, _, _ := evidence.GenerateKey()
	key, _ := evidence.ParsePrivateKey(priv)
	proofs := gateway.NewProofs(db, archivetest.MustOpen(t), nil, evidence.NewSigner(key), time.Now, log)
	p, err := proofs.Proof(ctx, ten.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Chain.Intact || !strings.Contains(strings.Join(p.Chain.Problems, " "), "event 2 (sent): content does not match") {
		t.Errorf("chain = %+v, want broken at event 2", p.Chain)
	}
	if _, _, err := proofs.Bundle(ctx, ten.ID, r.ID); gateway.ErrorKind(err) != gateway.KindInternal {
		t.Errorf("bundle over an altered chain: err %v, want KindInternal", err)
	}
	other := newTenant(t, db)
	if _, err := proofs.Proof(ctx, other.ID, r.ID); gateway.ErrorKind(err) != gateway.KindNotFound {
		t.Errorf("proof as another tenant: err %v, want KindNotFound", err)
	}
}

func TestCheckpointsCoverGrownChainsAndProveInclusion(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	var invs []*gateway.Record
	for i := range 3 {
		invs = append(invs, createInvoice(t, db, ten.ID, fmt.Sprint("INV-K", i)))
	}
	priv, _, _ := evidence.GenerateKey()
	key, _ := evidence.ParsePrivateKey(priv)
	signer := evidence.NewSigner(key)
	cp := gateway.NewCheckpointer(db, archivetest.MustOpen(t), signer, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))

	if n, err := cp.Checkpoint(ctx); err != nil || n != 1 {
		t.Fatalf("first checkpoint: made %d, err %v; want 1", n, err)
	}
	if n, err := cp.Checkpoint(ctx); err != nil || n != 0 {
		t.Fatalf("checkpoint with nothing new: made %d, err %v; want 0", n, err)
	}
	first, _ := db.LastCheckpoint(ctx)
	if first.Size < 3 {
		t.Errorf("first checkpoint covers %d chains, want at least 3", first.Size)
	}
	if err := db.RecordEvent(ctx, ten.ID, gateway.NewEvent(invs[1].ID, "", gateway.EventSent, time.Now(), nil)); err != nil {
		t.Fatal(err)
	}
	if n, err := cp.Checkpoint(ctx); err != nil || n != 1 {
		t.Fatalf("second checkpoint: made %d, err %v; want 1", n, err)
	}
	second, _ := db.LastCheckpoint(ctx)
	if second.Number != 2 || second.PrevHash != first.Hash || second.Size != 1 {
		t.Errorf("second checkpoint = %+v, want number 2, size 1, chained to %s", second, first.Hash)
	}

	for i, want := range []struct {
		number int64
		seq    int64
	}{{1, 1}, {2, 2}, {1, 1}} {
		p, err := db.CheckpointProof(ctx, invs[i].ID)
		if err != nil || p == nil {
			t.Fatalf("checkpoint proof of invoice %d: %v %v", i, p, err)
		}
		if p.Checkpoint.Number != want.number || p.Head.Seq != want.seq {
			t.Errorf("invoice %d: checkpoint %d at seq %d, want checkpoint %d at seq %d", i, p.Checkpoint.Number, p.Head.Seq, want.number, want.seq)
		}
		if err := p.Verify(signer.Public()); err != nil {
			t.Errorf("invoice %d: %v", i, err)
		}
		evs, _ := db.ChainEvents(ctx, invs[i].ID)
		if evs[p.Head.Seq-1].Hash != p.Head.Hash {
			t.Errorf("invoice %d: checkpoint head %s is not event %d's hash", i, p.Head.Hash, p.Head.Seq)
		}
	}
}

func TestOpenDisputeHoldsTheInvoicesEvidenceUntilResolved(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	ten := newTenant(t, db)
	r := createInvoice(t, db, ten.ID, "INV-H")
	s3, err := archive.New(archivetest.ObjectLockConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	pdfKey := gateway.InvoicePrefix(ten.ID, r.ID) + "invoice.pdf"
	if err := s3.Put(ctx, pdfKey, "application/pdf", []byte("%PDF-1.7")); err != nil {
		t.Fatal(err)
	}
	ds := gateway.NewDisputes(db, s3, s3, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	d, err := ds.Open(ctx, ten.ID, r.ID, gateway.DisputeInput{Reason: gateway.DisputeNotReceived, Source: gateway.DisputeFromAPI,
		Attachments: []gateway.FileInput{{Filename: "proof of delivery.pdf", Data: []byte("%PDF-1.4 signed note")}}})
	if err != nil {
		t.Fatalf("open dispute: %v", err)
	}
	for _, key := range []string{pdfKey, d.Attachments[0].Key} {
		if on, err := s3.LegalHold(ctx, key); err != nil || !on {
			t.Errorf("legal hold on %s while the dispute is open = %v (%v), want on", key, on, err)
		}
	}
	if _, err := ds.Resolve(ctx, ten.ID, d.ID, gateway.ResolveInput{Outcome: gateway.OutcomeRejected}); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if on, err := s3.LegalHold(ctx, pdfKey); err != nil || on {
		t.Errorf("legal hold after resolution = %v (%v), want off", on, err)
	}
}
