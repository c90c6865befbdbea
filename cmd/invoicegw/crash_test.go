package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway/mailer/catcher"
	"github.com/invoicegw/invoicegw/storage/archive/archivetest"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
)

// TestKill9WithInvoicesInFlight runs the built binary, kills it with SIGKILL while
// 200 invoices are being delivered, restarts it, and checks that every invoice
// reaches a final state and that the SMTP server got each message exactly once,
// except deliveries flagged unknown_outcome (at most once, never twice).
func TestKill9WithInvoicesInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and delivers 200 invoices")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "invoicegw")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	_, dbURL := pgtest.MustOpen(t)
	s3 := archivetest.Config(t)
	// A slowish server keeps many deliveries between "sending" and the reply.
	smtpSrv := catcher.MustStart(t, catcher.Options{Reply: func(int, catcher.Message) catcher.Outcome {
		return catcher.Outcome{Delay: 30 * time.Millisecond}
	}})
	redisURL := os.Getenv("INVOICEGW_TEST_REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	addr := freeAddr(t)
	g := &gw{t: t, base: "http://" + addr, smtp: smtpSrv, env: map[string]string{
		"INVOICEGW_HTTP_ADDR":       addr,
		"INVOICEGW_PUBLIC_URL":      "http://" + addr,
		"INVOICEGW_DATABASE_URL":    dbURL,
		"INVOICEGW_REDIS_URL":       redisURL,
		"INVOICEGW_S3_ENDPOINT":     s3.Endpoint,
		"INVOICEGW_S3_REGION":       s3.Region,
		"INVOICEGW_S3_BUCKET":       s3.Bucket,
		"INVOICEGW_S3_ACCESS_KEY":   s3.AccessKey,
		"INVOICEGW_S3_SECRET_KEY":   s3.SecretKey,
		"INVOICEGW_SMTP_URL":        "smtp://" + smtpSrv.Addr() + "?starttls=none",
		"INVOICEGW_MAIL_FROM":       "invoices@acme.test",
		"INVOICEGW_BOUNCE_DOMAIN":   "gw.test",
		"INVOICEGW_LOG_LEVEL":       "warn",
		"INVOICEGW_RETRY_BASE":      "200ms",
		"INVOICEGW_RETRY_MAX":       "1s",
		"INVOICEGW_WORKERS":         "16",
		"INVOICEGW_ATTEMPT_TIMEOUT": "5s", // jobs of the killed process are rescued 35 s later
	}}
	g.apiKey = g.createTenant("Acme Supplies GmbH")

	logPath := filepath.Join(t.TempDir(), "gateway.log")
	start := func() *exec.Cmd {
		t.Helper()
		logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve")
		cmd.Stdout, cmd.Stderr = logf, logf
		for k, v := range g.env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if resp, err := http.Get(g.base + "/healthz"); err == nil {
				resp.Body.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				out, _ := os.ReadFile(logPath)
				t.Fatalf("gateway did not come up:\n%s", out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	cmd := start()
	t.Cleanup(func() {
		if cmd.Process != nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("gateway log (tail):\n%s", tail(string(out), 4000))
		}
	})

	const n = 200
	ids := make([]string, n)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				body := strings.Replace(exampleInvoice, `"number": "INV-2026-0042"`, fmt.Sprintf(`"number": "CRASH-%03d"`, i), 1)
				r := g.postInvoice(g.apiKey, body)
				if r.status != http.StatusAccepted {
					t.Errorf("POST invoice %d = %d %s", i, r.status, r.body)
					return
				}
				var inv struct {
					ID string `json:"id"`
				}
				_ = json.Unmarshal([]byte(r.body), &inv)
				ids[i] = inv.ID
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Kill when a good part, but not all, has gone out.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := smtpSrv.Wait(ctx, n/10); err != nil {
		t.Fatalf("deliveries did not start: %v", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	t.Logf("killed with %d of %d messages received", len(smtpSrv.Messages()), n)

	cmd = start()
	statuses := map[string]string{}
	deadline := time.Now().Add(3 * time.Minute)
	for _, id := range ids {
		for {
			r := g.do("GET", "/v1/invoices/"+id, g.apiKey, "", "")
			var inv struct {
				Deliveries []struct {
					ID     string `json:"id"`
					Status string `json:"status"`
				} `json:"deliveries"`
			}
			_ = json.Unmarshal([]byte(r.body), &inv)
			if len(inv.Deliveries) == 1 {
				if s := inv.Deliveries[0].Status; s == "sent" || s == "unknown_outcome" || s == "failed" {
					statuses[inv.Deliveries[0].ID] = s
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("invoice %s not final after restart: %s", id, r.body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	received := map[string]int{}
	for _, m := range smtpSrv.Messages() {
		received[m.EnvID]++
	}
	counts := map[string]int{}
	for id, s := range statuses {
		counts[s]++
		switch got := received[id]; {
		case s == "sent" && got != 1:
			t.Errorf("delivery %s is sent but was received %d times, want exactly 1", id, got)
		case s == "unknown_outcome" && got > 1:
			t.Errorf("delivery %s is unknown_outcome but was received %d times, want at most 1", id, got)
		case s == "failed":
			t.Errorf("delivery %s failed", id)
		}
	}
	t.Logf("after restart: %v; %d messages received", counts, len(smtpSrv.Messages()))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
