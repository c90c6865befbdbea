package gateway

import (
	"slices"
	"testing"

	"github.com/invoicegw/invoicegw/tracking/dsn"
)

// apply moves a status the way SaveReport does.
func apply(s Status, k dsn.Kind) Status {
	to, from := ReportTransition(k)
	if to != "" && slices.Contains(from, s) {
		return to
	}
	return s
}

func TestReportTransitionIsOrderIndependent(t *testing.T) {
	kinds := []dsn.Kind{dsn.KindDelivered, dsn.KindBounced, dsn.KindDelayed, dsn.KindRelayed, dsn.KindReadReceipt, dsn.KindUnknown}
	starts := []Status{StatusSending, StatusSent, StatusDeferred, StatusUnknownOutcome, StatusDelivered, StatusBounced, StatusFailed}
	for _, s := range starts {
		for _, a := range kinds {
			for _, b := range kinds {
				if ab, ba := apply(apply(s, a), b), apply(apply(s, b), a); ab != ba {
					t.Errorf("from %s: %s then %s gives %s, the other order %s", s, a, b, ab, ba)
				}
			}
		}
	}
}

func TestReportTransition(t *testing.T) {
	tests := []struct {
		name  string
		start Status
		kind  dsn.Kind
		want  Status
	}{
		{"a success DSN delivers a sent message", StatusSent, dsn.KindDelivered, StatusDelivered},
		{"a success DSN resolves an unknown outcome", StatusUnknownOutcome, dsn.KindDelivered, StatusDelivered},
		{"a bounce after delivery wins", StatusDelivered, dsn.KindBounced, StatusBounced},
		{"a delivery after a bounce moves nothing", StatusBounced, dsn.KindDelivered, StatusBounced},
		{"a delay moves nothing", StatusSent, dsn.KindDelayed, StatusSent},
		{"relayed is not delivered", StatusSent, dsn.KindRelayed, StatusSent},
		{"a read receipt moves nothing", StatusSent, dsn.KindReadReceipt, StatusSent},
		{"a failure at our relay stays failed", StatusFailed, dsn.KindDelivered, StatusFailed},
		{"a report does not overwrite what a person did", Status("acknowledged"), dsn.KindBounced, Status("acknowledged")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := apply(tt.start, tt.kind); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWebhookType(t *testing.T) {
	tests := []struct {
		name   string
		typ    EventType
		detail string
		want   string
	}{
		{"accepted is pushed", EventAccepted, `{}`, "invoice.accepted"},
		{"a human open is pushed", EventOpened, `{"classification":"human"}`, "invoice.opened"},
		{"a machine open is not", EventOpened, `{"classification":"machine","reason":"apple_mpp"}`, ""},
		{"a scanner's view is not", EventViewed, `{"classification":"machine"}`, ""},
		{"a bounce is pushed", EventBounced, `{}`, "invoice.bounced"},
		{"a dispute is pushed", EventDisputed, `{}`, "invoice.disputed"},
		{"rendered is internal", EventRendered, `{}`, ""},
		{"a delay is not a webhook type", EventDelayed, `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := WebhookType(Event{Type: tt.typ, Detail: []byte(tt.detail)})
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("got %q %v, want %q", got, ok, tt.want)
			}
		})
	}
}
