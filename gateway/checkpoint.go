package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/invoicegw/invoicegw/gateway/evidence"
)

// CheckpointStore is what signing checkpoints needs from storage.
type CheckpointStore interface {
	// LastCheckpoint returns the newest checkpoint, nil when there is none.
	// Errors: KindUnavailable.
	LastCheckpoint(ctx context.Context) (*evidence.Checkpoint, error)
	// PendingHeads returns up to limit chain heads that grew since the checkpoint
	// that last recorded them, in a stable order. Errors: KindUnavailable.
	PendingHeads(ctx context.Context, limit int) ([]evidence.Head, error)
	// SaveCheckpoint stores cp with its leaves and marks the heads recorded.
	// Errors: KindConflict (another instance saved this number first), KindUnavailable.
	SaveCheckpoint(ctx context.Context, cp evidence.Checkpoint, heads []evidence.Head) error
}

// maxCheckpointHeads bounds one checkpoint, so that an inclusion proof never has to
// load more than this many leaves; a larger backlog takes several checkpoints.
const maxCheckpointHeads = 50000

// Checkpointer signs checkpoints over the chain heads that changed, each chained
// to the one before, and archives each one (WORM where the bucket allows), so that
// dropping events from the end of a chain, or a checkpoint from the database, shows.
type Checkpointer struct {
	store   CheckpointStore
	archive Archive
	signer  *evidence.Signer
	now     func() time.Time
	log     *slog.Logger
	// maxHeads is maxCheckpointHeads; tests lower it.
	maxHeads int
}

// NewCheckpointer returns the checkpoint use case.
func NewCheckpointer(store CheckpointStore, archive Archive, signer *evidence.Signer, now func() time.Time, log *slog.Logger) *Checkpointer {
	return &Checkpointer{store: store, archive: archive, signer: signer, now: now, log: log, maxHeads: maxCheckpointHeads}
}

// Checkpoint signs checkpoints over the chain heads pending when it starts and returns
// how many it made: one, or more while a backlog fills whole checkpoints. Heads that
// change meanwhile wait for the next call; under steady intake, going on until none
// is pending would chase new events forever with a small checkpoint (an archive PUT
// and a transaction) every few tens of milliseconds. Errors: KindUnavailable; KindConflict when another instance is
// checkpointing at the same time (harmless: it covers the same heads).
func (c *Checkpointer) Checkpoint(ctx context.Context) (int, error) {
	made := 0
	for {
		heads, err := c.store.PendingHeads(ctx, c.maxHeads)
		if err != nil || len(heads) == 0 {
			return made, err
		}
		prev, err := c.store.LastCheckpoint(ctx)
		if err != nil {
			return made, err
		}
		cp, err := evidence.NewCheckpoint(c.signer, prev, c.now(), heads)
		if err != nil {
			return made, Wrap(KindInternal, err, "sign checkpoint")
		}
		// Archived first: a checkpoint in the database always has its copy outside it.
		// The hash in the name keeps two instances racing for one number from
		// overwriting each other's copy; the one the database kept is the one named
		// by its hash.
		body, _ := json.Marshal(struct {
			evidence.Checkpoint
			Heads []evidence.Head `json:"heads"`
		}{cp, heads})
		if err := c.archive.Put(ctx, fmt.Sprintf("checkpoints/%012d-%s.json", cp.Number, cp.Hash[:16]), "application/json", body); err != nil {
			return made, err
		}
		if err := c.store.SaveCheckpoint(ctx, cp, heads); err != nil {
			return made, err
		}
		c.log.InfoContext(ctx, "checkpoint signed", "number", cp.Number, "heads", cp.Size, "root", cp.Root)
		made++
		if len(heads) < c.maxHeads {
			return made, nil
		}
	}
}

// Run checkpoints every interval until ctx ends; failures are logged and retried
// at the next tick.
func (c *Checkpointer) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.Checkpoint(ctx); err != nil && ErrorKind(err) != KindConflict && ctx.Err() == nil {
				c.log.ErrorContext(ctx, "checkpoint failed", "err", err)
			}
		}
	}
}
