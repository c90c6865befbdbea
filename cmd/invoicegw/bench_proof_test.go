package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/evidence"
	"github.com/invoicegw/invoicegw/gateway/httpapi"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
)

// BenchmarkProofLookup measures GET /v1/invoices/{id}/proof over HTTP against a
// schema of INVOICEGW_BENCH_PROOF_INVOICES invoices (default 1,000,000) with 10
// events each, seeded once by `invoicegw bench-seed` (make bench-proof). It reports
// latency percentiles over random invoices. It runs only with INVOICEGW_BENCH_PROOF=1:
// the seed takes minutes and gigabytes.
func BenchmarkProofLookup(b *testing.B) {
	if os.Getenv("INVOICEGW_BENCH_PROOF") != "1" {
		b.Skip("set INVOICEGW_BENCH_PROOF=1 (make bench-proof) to seed and run the proof lookup benchmark")
	}
	invoices := 1_000_000
	if s := os.Getenv("INVOICEGW_BENCH_PROOF_INVOICES"); s != "" {
		invoices, _ = strconv.Atoi(s)
	}
	schema := "bench_proof"
	if invoices != 1_000_000 {
		schema = fmt.Sprintf("bench_proof_%d", invoices)
	}
	ctx := context.Background()
	base := pgtest.URL(b, "public")
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "INVOICEGW_DATABASE_URL" {
			return base
		}
		return ""
	}
	if err := run(ctx, []string{"bench-seed", "--schema", schema, "--invoices", strconv.Itoa(invoices)}, getenv, nil, &out, &errOut); err != nil {
		b.Fatalf("bench-seed: %v\n%s", err, errOut.String())
	}
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	var seeded struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(lines[len(lines)-1], &seeded); err != nil {
		b.Fatalf("bench-seed printed %s: %v", out.String(), err)
	}

	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	pool, err := postgres.Open(ctx, u.String())
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	db, err := postgres.New(pool, 5)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	key, _ := evidence.ParsePrivateKey(testSigningKey)
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Deps{
		Auth: db, Log: log, BodyLimit: "1M",
		ProofDeps: httpapi.ProofDeps{
			Proofs:   gateway.NewProofs(db, nil, nil, evidence.NewSigner(key), time.Now, log),
			Disputes: gateway.NewDisputes(db, nil, nil, time.Now, log),
		},
	}))
	defer srv.Close()
	client := srv.Client()
	get := func(n int) (time.Duration, int) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/invoices/inv_%026d/proof", srv.URL, n), nil)
		req.Header.Set("Authorization", "Bearer "+seeded.APIKey)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode
	}
	// Warm the connection and check the answer once.
	if _, status := get(1); status != http.StatusOK {
		b.Fatalf("GET proof = %d", status)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		d, status := get(1 + rng.IntN(invoices))
		if status != http.StatusOK {
			b.Fatalf("GET proof = %d", status)
		}
		lat = append(lat, d)
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}
