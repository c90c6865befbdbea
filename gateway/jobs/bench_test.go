package jobs_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/mailer"
	"github.com/invoicegw/invoicegw/gateway/mailer/catcher"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
	"github.com/invoicegw/invoicegw/storage/servicetest"
	"github.com/jackc/pgx/v5"
)

// warmUp invoices go through the pipeline before a delivery benchmark starts its clock.
const warmUp = 32

// BenchmarkDeliveryEndToEnd measures accepted → sent with the real renderer, MinIO,
// Postgres and River, into the in-process SMTP server and into postfix. One op is
// one invoice; invoices/s and the process's peak RSS are reported.
func BenchmarkDeliveryEndToEnd(b *testing.B) {
	for _, target := range []string{"catcher", "postfix"} {
		b.Run(target, func(b *testing.B) {
			var m gateway.Mailer
			switch target {
			case "catcher":
				srv, err := catcher.Start("127.0.0.1:0", catcher.Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = srv.Close() })
				m = relayTo(srv.Addr(), 10*time.Second)
			case "postfix":
				addr := os.Getenv("INVOICEGW_TEST_POSTFIX_ADDR")
				if addr == "" {
					addr = "127.0.0.1:2587"
				}
				if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
					root, _ := filepath.Abs("../..")
					script := filepath.Join(root, "deployments/local/postfix.sh")
					if out, err := exec.Command(script, "start").CombinedOutput(); err != nil {
						b.Skipf("postfix not available: %s", out)
					}
					// Left running, this checkout's postfix would hold the port
					// against other checkouts' tests.
					b.Cleanup(func() { _ = exec.Command(script, "stop").Run() })
				} else {
					c.Close()
				}
				host, port, _ := net.SplitHostPort(addr)
				p, _ := strconv.Atoi(port)
				m = mailer.New(mailer.Config{Host: host, Port: p, TLS: mailer.TLSNone, HELO: "gw.test", Timeout: 10 * time.Second, PoolSize: 8}, nil)
			}
			h := newBenchHarness(b, m)
			// A warm-up fills the pools (connections to PostgreSQL, MinIO and the SMTP
			// server) and lets PostgreSQL plan its statements, so the measurement is
			// of a running gateway, not of its first second.
			for range warmUp {
				h.accept()
			}
			h.waitAllFinal(warmUp, time.Minute)
			b.ResetTimer()
			// PostgreSQL's CPU is that of this harness's own backends: other tests'
			// and sessions' connections to the same server are not the pipeline's cost.
			cpu := servicetest.ReadCPUOf(pgtest.Backends(b, h.dbURL, "postgres-mine"))
			start := time.Now()
			// Accounting systems post concurrently; 8 posting goroutines keep intake from
			// being the serial bottleneck of a pipeline measurement.
			ids := make([]string, b.N)
			var wg sync.WaitGroup
			next := make(chan int)
			for range 8 {
				wg.Go(func() {
					for i := range next {
						ids[i] = h.accept().ID
					}
				})
			}
			for i := range b.N {
				next <- i
			}
			close(next)
			wg.Wait()
			accepted := time.Since(start)
			h.waitAllFinal(warmUp+b.N, 5*time.Minute)
			elapsed := time.Since(start)
			used := cpu.SinceOf(pgtest.Backends(b, h.dbURL, "postgres-mine"))
			b.StopTimer()
			for _, id := range ids {
				if r := h.waitFinal(id, time.Second); r.Deliveries[0].Status != gateway.StatusSent {
					b.Fatalf("invoice %s ended %s", id, r.Deliveries[0].Status)
				}
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "invoices/s")
			b.ReportMetric(peakRSSMB(), "peakRSS_MB")
			b.ReportMetric(accepted.Seconds(), "accept_s")
			used.Report(b, b.N)
		})
	}
}

// BenchmarkRenderOnly is the ceiling the delivery pipeline is measured against.
func BenchmarkRenderOnly(b *testing.B) {
	h := newBenchHarness(b, nil)
	r := h.accept()
	rd := sharedRenderer(b)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := rd.RenderInvoice(r.Document()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "invoices/s")
}

// peakRSSMB is the process's high-water resident set (VmHWM), in MB.
func peakRSSMB() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// waitAllFinal waits until the tenant's n deliveries are all in a final state, with
// one small query per poll: the benchmark's own polling should not be what it measures.
func (h *harness) waitAllFinal(n int, within time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		rows, err := h.db.Pool().Query(context.Background(),
			`SELECT status, count(*) FROM deliveries WHERE tenant_id = $1 GROUP BY status`, h.tenant.ID)
		if err != nil {
			h.t.Fatal(err)
		}
		final := 0
		var counts []string
		var status gateway.Status
		var c int
		_, err = pgx.ForEachRow(rows, []any{&status, &c}, func() error {
			if status.Final() {
				final += c
			}
			counts = append(counts, fmt.Sprintf("%s %d", status, c))
			return nil
		})
		if err != nil {
			h.t.Fatal(err)
		}
		if final >= n {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d of %d deliveries final after %s: %s", final, n, within, strings.Join(counts, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newBenchHarness(b *testing.B, m gateway.Mailer) *harness {
	return newHarness(b, harnessOptions{mailer: m, workers: 16})
}
