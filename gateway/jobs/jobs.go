package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// Config tunes the workers.
type Config struct {
	Workers   int           // concurrent deliveries
	RetryBase time.Duration // first retry delay; doubles each attempt
	RetryMax  time.Duration // longest single delay
	// Webhooks, when set, also works webhook jobs, retried after each WebhookBackoff
	// step (gateway.WebhookBackoff when empty).
	Webhooks       *gateway.Webhooks
	WebhookBackoff []time.Duration
}

// deliverWorker adapts gateway.Deliverer to River.
type deliverWorker struct {
	river.WorkerDefaults[gateway.DeliverJob]
	dl  *gateway.Deliverer
	cfg Config
}

func (w *deliverWorker) Work(ctx context.Context, job *river.Job[gateway.DeliverJob]) error {
	return w.dl.Deliver(ctx, job.Args.DeliveryID, job.Attempt >= job.MaxAttempts)
}

// NextRetry backs off exponentially with jitter, so that a relay that is down is
// not hammered and retries of many invoices spread out.
func (w *deliverWorker) NextRetry(job *river.Job[gateway.DeliverJob]) time.Time {
	return time.Now().Add(Backoff(w.cfg.RetryBase, w.cfg.RetryMax, job.Attempt))
}

// Timeout bounds one attempt: render, archive and one SMTP conversation.
func (w *deliverWorker) Timeout(*river.Job[gateway.DeliverJob]) time.Duration { return 5 * time.Minute }

// Backoff is base·2^(attempt-1), capped at max, with ±20% jitter.
func Backoff(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	jitter := time.Duration(float64(d) * (rand.Float64()*0.4 - 0.2))
	return d + jitter
}

// AttemptsFor returns how many attempts fit in the retry horizon with this backoff.
func AttemptsFor(base, max, horizon time.Duration) int {
	n, total := 1, time.Duration(0)
	for d := base; total+d <= horizon; n++ {
		total += d
		d = min(d*2, max)
	}
	return n
}

// NewClient returns a River client that works delivery jobs. Start and Stop it.
func NewClient(pool *pgxpool.Pool, dl *gateway.Deliverer, cfg Config, log *slog.Logger) (*river.Client[pgx.Tx], error) {
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &deliverWorker{dl: dl, cfg: cfg}); err != nil {
		return nil, fmt.Errorf("register delivery worker: %w", err)
	}
	queues := map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
	if cfg.Webhooks != nil {
		if err := addWebhookWorker(workers, queues, cfg); err != nil {
			return nil, fmt.Errorf("register webhook worker: %w", err)
		}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:  queues,
		Workers: workers,
		Logger:  log,
		// Jobs are evidence-bearing: keep finished ones for a week for inspection.
		CompletedJobRetentionPeriod: 7 * 24 * time.Hour,
		ErrorHandler:                &errorHandler{log: log},
	})
	if err != nil {
		return nil, fmt.Errorf("create job client: %w", err)
	}
	return client, nil
}

// errorHandler keeps River from logging expected retries as errors twice: the
// Deliverer has already logged why.
type errorHandler struct{ log *slog.Logger }

func (h *errorHandler) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	if !errors.Is(err, gateway.ErrRetry) {
		h.log.ErrorContext(ctx, "job failed", "kind", job.Kind, "job_id", job.ID, "attempt", job.Attempt, "err", err)
	}
	return nil
}

func (h *errorHandler) HandlePanic(ctx context.Context, job *rivertype.JobRow, panicVal any, trace string) *river.ErrorHandlerResult {
	h.log.ErrorContext(ctx, "job panicked", "kind", job.Kind, "job_id", job.ID, "panic", panicVal, "trace", trace)
	return nil
}
