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
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
	"github.com/invoicegw/invoicegw/storage/servicetest"
)

// TestKill9WithInvoicesInFlight runs the built binary, kills it with SIGKILL while
// 200 invoices are being delivered, restarts it, and checks that every invoice
// reaches a final state and that the SMTP server got each message exactly once,
// except deliveries flagged unknown_outcome (at most once, never twice).
// binGateway is the built binary run as a separate process, so a test can kill it.
type binGateway struct {
	*gw
	bin     string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited
}

func startBinGateway(t *testing.T, smtpReply func(int, catcher.Message) catcher.Outcome, env map[string]string) *binGateway {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "invoicegw")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	_, dbURL := pgtest.MustOpen(t)
	smtpSrv := catcher.MustStart(t, catcher.Options{Reply: smtpReply})
	addr, base := gatewayEnv(t, dbURL, smtpSrv.Addr())
	g := &gw{t: t, base: "http://" + addr, smtp: smtpSrv, env: base}
	g.env["INVOICEGW_BOUNCE_DOMAIN"] = "gw.test"
	g.env["INVOICEGW_RETRY_MAX"] = "1s"
	g.env["INVOICEGW_WORKERS"] = "16"
	g.env["INVOICEGW_ATTEMPT_TIMEOUT"] = "5s" // jobs of a killed process are rescued 35 s later
	for k, v := range env {
		g.env[k] = v
	}
	g.apiKey = g.createTenant("Acme Supplies GmbH")
	b := &binGateway{gw: g, bin: bin, logPath: filepath.Join(t.TempDir(), "gateway.log")}
	b.start()
	t.Cleanup(func() {
		if b.cmd != nil && b.cmd.Process != nil {
			_ = b.cmd.Process.Signal(syscall.SIGTERM)
			<-b.exited
		}
		if t.Failed() {
			out, _ := os.ReadFile(b.logPath)
			t.Logf("gateway log (tail):\n%s", tail(string(out), 4000))
		}
	})
	return b
}

func (b *binGateway) start() {
	t := b.t
	t.Helper()
	logf, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(b.bin, "serve")
	cmd.Stdout, cmd.Stderr = logf, logf
	for k, v := range b.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.cmd = cmd
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	b.exited = exited
	deadline := time.Now().Add(90 * time.Second)
	for {
		if resp, err := http.Get(b.base + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(b.logPath)
			t.Fatalf("gateway exited at start-up:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(b.logPath)
			t.Fatalf("gateway did not come up:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL: no shutdown, no cleanup.
func (b *binGateway) kill() {
	_ = b.cmd.Process.Kill()
	<-b.exited
	b.cmd = nil
}

// postInvoices posts n copies of the example invoice (numbers prefix-000...) in
// parallel and returns their ids.
func (b *binGateway) postInvoices(prefix string, n int) []string {
	t := b.t
	ids := make([]string, n)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				body := strings.Replace(exampleInvoice, `"number": "INV-2026-0042"`, fmt.Sprintf(`"number": "%s-%03d"`, prefix, i), 1)
				r := b.postInvoice(b.apiKey, body)
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
	return ids
}

// waitFinal waits for every invoice's only delivery to be final and returns the
// status per delivery id.
func (b *binGateway) waitFinal(ids []string, within time.Duration) map[string]string {
	statuses := map[string]string{}
	deadline := time.Now().Add(within)
	for _, id := range ids {
		for {
			r := b.do("GET", "/v1/invoices/"+id, b.apiKey, "", "")
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
				b.t.Fatalf("invoice %s not final: %s", id, tail(string(r.body), 600))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return statuses
}

func TestKill9WithInvoicesInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and delivers 200 invoices")
	}
	t.Parallel()
	// A slowish server keeps many deliveries between "sending" and the reply.
	g := startBinGateway(t, func(int, catcher.Message) catcher.Outcome {
		return catcher.Outcome{Delay: 30 * time.Millisecond}
	}, nil)
	smtpSrv := g.smtp

	const n = 200
	ids := g.postInvoices("CRASH", n)
	// Kill when a good part, but not all, has gone out.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := smtpSrv.Wait(ctx, n/10); err != nil {
		t.Fatalf("deliveries did not start: %v", err)
	}
	g.kill()
	t.Logf("killed with %d of %d messages received", len(smtpSrv.Messages()), n)

	g.start()
	statuses := g.waitFinal(ids, 3*time.Minute)
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

// TestDeliveryGoesOnWithoutRedis stops a private Redis the gateway was started
// with: Redis holds no state that delivery needs, so every invoice still goes out.
func TestDeliveryGoesOnWithoutRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		servicetest.Unavailable(t, "redis-server is not installed: apt-get install redis-server")
	}
	port := strings.TrimPrefix(freeAddr(t), "127.0.0.1:")
	redis := exec.Command(redisBin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := redis.Start(); err != nil {
		t.Fatal(err)
	}
	stopRedis := func() {
		if redis.Process != nil {
			_ = redis.Process.Kill()
			_ = redis.Wait()
			redis.Process = nil
		}
	}
	t.Cleanup(stopRedis)
	time.Sleep(300 * time.Millisecond) // redis-server listens within milliseconds
	g := startBinGateway(t, nil, map[string]string{"INVOICEGW_REDIS_URL": "redis://127.0.0.1:" + port + "/0"})

	stopRedis()
	ids := g.postInvoices("NOREDIS", 20)
	statuses := g.waitFinal(ids, 2*time.Minute)
	for id, s := range statuses {
		if s != "sent" {
			t.Errorf("delivery %s = %s with Redis down, want sent", id, s)
		}
	}
	if n := len(g.smtp.Messages()); n != len(ids) {
		t.Errorf("messages = %d, want %d", n, len(ids))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
