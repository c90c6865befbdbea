package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/storage/servicetest"
)

// This test's private postfix (deployments/local/postfix.sh) on ports of its own, so
// that an instance of another package's test on the defaults does not clash.
const (
	e2ePostfixPort    = "2598"
	e2ePostfixInbound = "127.0.0.1:2545"
)

func startPostfix(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/postfix"); err != nil {
		servicetest.Unavailable(t, "postfix is not installed: run `make test`, which installs it")
	}
	root, _ := filepath.Abs("../..")
	script := func(arg string) error {
		cmd := exec.Command(filepath.Join(root, "deployments/local/postfix.sh"), arg)
		cmd.Env = append(os.Environ(), "POSTFIX_PORT="+e2ePostfixPort, "GW_INBOUND_ADDR="+e2ePostfixInbound,
			"SLOW_ADDR=127.0.0.1:2546", "BOUNCE_DOMAIN=gw.test", "POSTFIX_DIR="+filepath.Join(root, "tmp/postfix-gateway-e2e"))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("postfix.sh %s: %v: %s", arg, err, out)
		}
		return nil
	}
	if err := script("start"); err != nil {
		servicetest.Unavailable(t, err.Error())
	}
	t.Cleanup(func() {
		if err := script("stop"); err != nil {
			t.Error(err)
		}
	})
}

// TestDeliveryReportsThroughPostfix is the whole path: the gateway sends an invoice
// through a real postfix (VERP envelope sender, NOTIFY=SUCCESS,FAILURE), postfix
// delivers it to a virtual mailbox or fails it, and its DSN reaches the gateway's
// inbound listener and becomes the delivery's delivered or bounced event.
func TestDeliveryReportsThroughPostfix(t *testing.T) {
	startPostfix(t)
	g := startGatewayWith(t, map[string]string{
		"INVOICEGW_SMTP_URL":          "smtp://127.0.0.1:" + e2ePostfixPort + "?starttls=none",
		"INVOICEGW_BOUNCE_DOMAIN":     "gw.test",
		"INVOICEGW_INBOUND_SMTP_ADDR": e2ePostfixInbound,
	})
	arch, err := archive.New(archive.Config{Endpoint: g.env["INVOICEGW_S3_ENDPOINT"], Region: g.env["INVOICEGW_S3_REGION"],
		Bucket: g.env["INVOICEGW_S3_BUCKET"], AccessKey: g.env["INVOICEGW_S3_ACCESS_KEY"], SecretKey: g.env["INVOICEGW_S3_SECRET_KEY"]})
	if err != nil {
		t.Fatal(err)
	}
	queuedAs := regexp.MustCompile(`queued as ([0-9A-F]+)`)

	send := func(t *testing.T, number, email string) string {
		t.Helper()
		body := strings.Replace(strings.Replace(exampleInvoice, "jane.doe@globex.test", email, 1), "INV-2026-0042", number, -1)
		res := g.postInvoice(g.apiKey, body)
		if res.status != 202 {
			t.Fatalf("post invoice: %d %s", res.status, res.body)
		}
		return decode[invoiceJSON](t, res.body).ID
	}
	// wait returns the first event of typ and the sent event, once both are there.
	wait := func(t *testing.T, id, typ string) (eventJSON, eventJSON) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			evs := decode[struct{ Events []eventJSON }](t, g.do("GET", "/v1/invoices/"+id+"/events", g.apiKey, "", "").body)
			var got, sent *eventJSON
			for i, e := range evs.Events {
				switch e.Type {
				case typ:
					got = &evs.Events[i]
				case "sent":
					sent = &evs.Events[i]
				}
			}
			if got != nil && sent != nil {
				return *got, *sent
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s event within 60 s; events: %+v", typ, evs.Events)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }

	t.Run("a message postfix delivers gives delivered at level 3 with status 2.0.0 and the sent reply's queue id", func(t *testing.T) {
		id := send(t, "INV-PF-1", "alice@customer.test")
		ev, sent := wait(t, id, "delivered")
		m := queuedAs.FindStringSubmatch(str(sent.Detail, "reply"))
		if m == nil {
			t.Fatalf("sent reply %q has no queue id", str(sent.Detail, "reply"))
		}
		if ev.Level != 3 || str(ev.Detail, "status") != "2.0.0" || str(ev.Detail, "queue_id") != m[1] ||
			str(ev.Detail, "source") != "smtp" || str(ev.Detail, "reporting_mta") != "mta.test" {
			t.Errorf("got delivered %+v, want level 3, 2.0.0, queue id %s from mta.test", ev, m[1])
		}
		raw, err := arch.Get(context.Background(), str(ev.Detail, "raw_key"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		if hex.EncodeToString(sum[:]) != str(ev.Detail, "raw_sha256") || !strings.Contains(string(raw), "Action: delivered") {
			t.Errorf("the archived DSN does not match its recorded hash or is not postfix's success report")
		}
		if st := decode[invoiceJSON](t, g.do("GET", "/v1/invoices/"+id, g.apiKey, "", "").body).Status; st != "delivered" {
			t.Errorf("got invoice status %s, want delivered", st)
		}
	})

	t.Run("an unknown user gives a hard bounce 5.1.1", func(t *testing.T) {
		id := send(t, "INV-PF-2", "nobody@customer.test")
		ev, _ := wait(t, id, "bounced")
		if str(ev.Detail, "status") != "5.1.1" || str(ev.Detail, "bounce_type") != "hard" {
			t.Errorf("got bounced %+v, want hard 5.1.1", ev)
		}
		if st := decode[invoiceJSON](t, g.do("GET", "/v1/invoices/"+id, g.apiKey, "", "").body).Status; st != "bounced" {
			t.Errorf("got invoice status %s, want bounced", st)
		}
	})
}
