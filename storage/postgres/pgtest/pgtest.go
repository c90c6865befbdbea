// Package pgtest gives each test its own PostgreSQL schema, migrated and dropped
// afterwards, on the real server named by INVOICEGW_TEST_DATABASE_URL.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/storage/servicetest"

	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is the development machines' PostgreSQL.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL returns a database URL whose connections use the given schema.
func URL(t testing.TB, schema string) string {
	t.Helper()
	base := os.Getenv("INVOICEGW_TEST_DATABASE_URL")
	if base == "" {
		base = DefaultURL
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("INVOICEGW_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	// The schema names the connections too, so pg_stat_activity tells which test's
	// backends are which (Backends).
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// MustOpen creates a fresh schema, migrates it, and returns a pool whose connections
// use it, plus the schema's database URL (for a server under test). The schema is
// dropped when the test ends.
func MustOpen(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := postgres.Open(ctx, URL(t, "public"))
	if err != nil {
		servicetest.Unavailable(t, fmt.Sprintf("PostgreSQL unavailable (%v): run `make test`, which starts it", err))
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	dbURL := URL(t, schema)
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("open schema %s: %v", schema, err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("migrate schema %s: %v", schema, err)
	}
	return pool, dbURL
}

// Backends returns the PostgreSQL backend processes connected with dbURL (a URL from
// MustOpen), each as group, for servicetest.ReadCPUOf: a benchmark counts the CPU of
// its own backends apart from other tests'.
func Backends(t testing.TB, dbURL, group string) map[int]string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("parse database url: %v", err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("list backends: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx,
		`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`,
		u.Query().Get("application_name"))
	if err != nil {
		t.Fatalf("list backends: %v", err)
	}
	own := map[int]string{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			t.Fatalf("list backends: %v", err)
		}
		own[pid] = group
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("list backends: %v", err)
	}
	return own
}
