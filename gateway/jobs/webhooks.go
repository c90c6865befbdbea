package jobs

import (
	"context"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/riverqueue/river"
)

// webhookWorker adapts gateway.Webhooks to River.
type webhookWorker struct {
	river.WorkerDefaults[gateway.WebhookJob]
	wh      *gateway.Webhooks
	backoff []time.Duration
}

func (w *webhookWorker) Work(ctx context.Context, job *river.Job[gateway.WebhookJob]) error {
	return w.wh.Attempt(ctx, job.Args.DeliveryID, job.Attempt >= job.MaxAttempts)
}

// NextRetry follows the webhook schedule (gateway.WebhookBackoff unless configured).
func (w *webhookWorker) NextRetry(job *river.Job[gateway.WebhookJob]) time.Time {
	i := min(max(job.Attempt-1, 0), len(w.backoff)-1)
	return time.Now().Add(w.backoff[i])
}

// Timeout bounds one POST (the poster has its own, shorter timeout).
func (w *webhookWorker) Timeout(*river.Job[gateway.WebhookJob]) time.Duration { return time.Minute }

// webhookWorkers is how many webhooks are posted at once. They have a queue of their
// own so that slow endpoints (up to the poster's timeout each) never hold up the
// delivery of invoices.
const webhookWorkers = 10

func addWebhookWorker(workers *river.Workers, queues map[string]river.QueueConfig, cfg Config) error {
	backoff := cfg.WebhookBackoff
	if len(backoff) == 0 {
		backoff = gateway.WebhookBackoff
	}
	queues[gateway.WebhookQueue] = river.QueueConfig{MaxWorkers: webhookWorkers}
	return river.AddWorkerSafely(workers, &webhookWorker{wh: cfg.Webhooks, backoff: backoff})
}
