package main

import (
	"context"
	"fmt"
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

// TestPixelHitsAnswered2xxSurviveKill9 kills the gateway during pixel load. Hits are
// answered once they are durable in the local hit log, and drained into Postgres
// shortly after: at the kill some are on disk only. The restarted gateway stores
// them, so that every hit answered 2xx is in tracking_hits exactly once. Each
// request carries its own user agent (stored in full privacy mode) to tell them apart.
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

	var seq, failed atomic.Int64
	var mu sync.Mutex
	var answered []string // user agents of the hits answered 2xx
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
				ua := fmt.Sprintf("kill9-load/%d", seq.Add(1))
				req, _ := http.NewRequest("GET", pixel, nil)
				req.Header.Set("User-Agent", ua)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					mu.Lock()
					answered = append(answered, ua)
					mu.Unlock()
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
	atKill := db.pixelHits(t) - before
	ok := int64(len(answered))
	t.Logf("pixel hits answered 2xx: %d; in Postgres at the kill: %d; failed or cut off: %d", ok, atKill, failed.Load())
	if ok < 100 {
		t.Fatalf("only %d hits answered 2xx before the kill; the test proves nothing", ok)
	}
	if failed.Load() == 0 {
		t.Error("no request failed: the kill happened after the load, not during it")
	}
	if atKill >= ok {
		t.Fatalf("all %d answered hits were in Postgres at the kill: the test proves nothing about the hit log", ok)
	}

	// The same directory, a new process: it drains what the killed one left.
	g.startProcess(bin)
	stored := db.waitPixelHits(t, before+ok)
	t.Logf("stored after the restart: %d", stored-before)
	rows, err := db.Query(context.Background(), `SELECT user_agent, count(*) FROM tracking_hits
		WHERE token_kind = 'pixel' AND user_agent LIKE 'kill9-load/%' GROUP BY user_agent`)
	if err != nil {
		t.Fatal(err)
	}
	times := map[string]int{}
	for rows.Next() {
		var ua string
		var n int
		if err := rows.Scan(&ua, &n); err != nil {
			t.Fatal(err)
		}
		times[ua] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, ua := range answered {
		if times[ua] == 0 {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d hits answered 2xx are not stored: lost on kill -9", lost, ok)
	}
	for ua, n := range times {
		if n != 1 {
			t.Errorf("hit %s stored %d times, want once", ua, n)
		}
	}
}

// waitPixelHits waits until at least want pixel hits are stored (the drainer runs
// every few tens of milliseconds) and returns the count, which stays below want
// only when hits are missing.
func (p *testDB) waitPixelHits(t *testing.T, want int64) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := p.pixelHits(t)
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}
