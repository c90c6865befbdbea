package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/servicetest"
	"github.com/invoicegw/invoicegw/tracking"
)

// Addresses of this test's private postfix (deployments/local/postfix.sh): ports of
// their own so that another worktree's instance on the defaults does not clash.
const (
	pfPort    = "2597"
	pfInbound = "127.0.0.1:2535"
	pfSlow    = "127.0.0.1:2536"
)

func postfixScript(t *testing.T, args ...string) string {
	t.Helper()
	root, _ := filepath.Abs("../..")
	cmd := exec.Command(filepath.Join(root, "deployments/local/postfix.sh"), args...)
	cmd.Env = append(os.Environ(), "POSTFIX_PORT="+pfPort, "GW_INBOUND_ADDR="+pfInbound, "SLOW_ADDR="+pfSlow,
		"BOUNCE_DOMAIN="+bounceDomain, "POSTFIX_DIR="+filepath.Join(root, "tmp/postfix-reports-test"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		servicetest.Unavailable(t, fmt.Sprintf("postfix unavailable (postfix.sh %s: %v: %s): run `make test`, which installs it",
			strings.Join(args, " "), err, out))
	}
	return string(out)
}

// sendViaPostfix hands one message to postfix the way the gateway's mailer does:
// VERP envelope sender, RET=HDRS, NOTIFY=SUCCESS,FAILURE. It returns the queue id
// from postfix's reply ("2.0.0 Ok: queued as 4F1C2D80A1").
//
// The whole gateway sending through postfix is cmd/invoicegw's
// TestDeliveryReportsThroughPostfix; this one tests the report path on its own.
func sendViaPostfix(t *testing.T, from, to, messageID string) string {
	t.Helper()
	c, err := smtp.Dial("127.0.0.1:" + pfPort)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("sender.gw.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from, &smtp.MailOptions{Return: smtp.DSNReturnHeaders}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to, &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure}}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "From: Acme <billing@acme.test>\r\nTo: <%s>\r\nSubject: Invoice\r\nMessage-ID: <%s>\r\n"+
		"Date: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour invoice.\r\n",
		to, messageID, time.Now().Format(time.RFC1123Z))
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`queued as ([0-9A-F]+)`).FindStringSubmatch(resp.StatusText)
	if m == nil {
		t.Fatalf("postfix replied %q, want a queue id", resp.StatusText)
	}
	_ = c.Quit()
	return m[1]
}

// TestDeliveryReportsFromPostfix runs the real path: a message through postfix,
// postfix's DSN to the gateway's listener, the event on the delivery.
func TestDeliveryReportsFromPostfix(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/postfix"); err != nil {
		servicetest.Unavailable(t, "postfix is not installed: run `make test`, which installs it")
	}
	rg := newReportsRigAt(t, pfInbound)
	postfixScript(t, "start")
	t.Cleanup(func() { postfixScript(t, "stop") })
	ctx := context.Background()

	waitEvent := func(t *testing.T, r *gateway.Record, typ gateway.EventType) map[string]string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if evs := rg.events(t, r, typ); len(evs) > 0 {
				var detail map[string]string
				if err := json.Unmarshal(evs[0].Detail, &detail); err != nil {
					t.Fatal(err)
				}
				return detail
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s event within 30 s", typ)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	t.Run("a local delivery gives delivered at level 3 with status 2.0.0 and the queue id", func(t *testing.T) {
		r, ds := rg.sentInvoice(t, "INV-PF1")
		queueID := sendViaPostfix(t, tracking.BounceAddress(ds[0].BounceToken, bounceDomain), "alice@customer.test", ds[0].MessageID)
		d := waitEvent(t, r, gateway.EventDelivered)
		if d["status"] != "2.0.0" || d["queue_id"] != queueID || d["reporting_mta"] != "mta.test" ||
			d["recipient"] != "alice@customer.test" || d["message_id"] != ds[0].MessageID {
			t.Errorf("got detail %v, want status 2.0.0, queue id %s, mta.test, alice, %s", d, queueID, ds[0].MessageID)
		}
		raw, err := rg.archive.Get(ctx, d["raw_key"])
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		if hex.EncodeToString(sum[:]) != d["raw_sha256"] || !strings.Contains(string(raw), "X-Postfix-Queue-ID: "+queueID) {
			t.Errorf("archived DSN does not match its hash or is not postfix's report")
		}
		if inv, _ := rg.status(t, r); inv != gateway.StatusDelivered {
			t.Errorf("got invoice status %s, want delivered", inv)
		}
	})

	t.Run("an unknown user gives a hard bounce 5.1.1", func(t *testing.T) {
		r, ds := rg.sentInvoice(t, "INV-PF2")
		queueID := sendViaPostfix(t, tracking.BounceAddress(ds[0].BounceToken, bounceDomain), "nobody@customer.test", ds[0].MessageID)
		d := waitEvent(t, r, gateway.EventBounced)
		if d["status"] != "5.1.1" || d["bounce_type"] != "hard" || d["queue_id"] != queueID {
			t.Errorf("got detail %v, want hard 5.1.1 with queue id %s", d, queueID)
		}
		if inv, _ := rg.status(t, r); inv != gateway.StatusBounced {
			t.Errorf("got invoice status %s, want bounced", inv)
		}
	})
}
