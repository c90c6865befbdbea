package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway/mailer/catcher"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// prepareGateway is startGateway without the server: the environment, a database
// schema, a bucket, an SMTP catcher and a tenant, for tests that run the gateway as
// a separate process (to kill it) or profile it.
func prepareGateway(t *testing.T) (*gw, *testDB) {
	t.Helper()
	pool, dbURL := pgtest.MustOpen(t)
	smtpSrv, err := catcher.Start("127.0.0.1:0", catcher.Options{})
	if err != nil {
		t.Fatalf("start smtp server: %v", err)
	}
	t.Cleanup(func() { smtpSrv.Close() })
	addr, env := gatewayEnv(t, dbURL, smtpSrv.Addr())
	g := &gw{t: t, base: "http://" + addr, smtp: smtpSrv, env: env}
	g.apiKey = g.createTenant("Acme Supplies GmbH")
	return g, &testDB{pool}
}

// testDB reads what the gateway under test stored.
type testDB struct{ *pgxpool.Pool }

// pixelHits counts the stored raw pixel hits.
func (p *testDB) pixelHits(t *testing.T) int64 {
	t.Helper()
	var n int64
	if err := p.QueryRow(context.Background(), `SELECT count(*) FROM tracking_hits WHERE token_kind = 'pixel'`).Scan(&n); err != nil {
		t.Fatalf("count pixel hits: %v", err)
	}
	return n
}

// buildGateway compiles this command into the test's temporary directory.
func buildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "invoicegw")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startProcess runs `invoicegw serve` as its own process and waits until it answers.
func (g *gw) startProcess(bin string) (*exec.Cmd, *syncBuffer) {
	g.t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range g.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("start gateway: %v", err)
	}
	g.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if g.t.Failed() {
			g.t.Logf("gateway log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(g.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return cmd, logs
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gateway did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pixelURL returns the open pixel of a freshly sent invoice.
func (g *gw) pixelURL(number string, nth int) string {
	g.t.Helper()
	_, html := g.sendAndOpenMail(number, nth)
	m := pixelRE.FindStringSubmatch(html)
	if m == nil {
		g.t.Fatalf("the e-mail has no open pixel:\n%s", html)
	}
	return m[1]
}

func TestPixelHitsAnswered2xxSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a gateway process")
	}
	g, db := prepareGateway(t)
	bin := buildGateway(t)
	cmd, _ := g.startProcess(bin)
	g.setTracking(g.apiKey, "full")
	pixel := g.pixelURL("INV-KILL-9", 1)
	before := db.pixelHits(t)

	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(pixel)
				if err != nil {
					failed.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatalf("kill -9 the gateway: %v", err)
	}
	_ = cmd.Wait()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	stored := db.pixelHits(t) - before
	t.Logf("pixel hits answered 2xx: %d; stored: %d; failed or cut off: %d", ok.Load(), stored, failed.Load())
	if ok.Load() < 100 {
		t.Fatalf("only %d hits answered 2xx before the kill; the test proves nothing", ok.Load())
	}
	if stored < ok.Load() {
		t.Errorf("stored %d pixel hits, but %d were answered 2xx: %d lost on kill -9", stored, ok.Load(), ok.Load()-stored)
	}
	if failed.Load() == 0 {
		t.Error("no request failed: the kill happened after the load, not during it")
	}
}
