package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/mailer/catcher"
	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/jackc/pgx/v5/pgxpool"
)

// openDB connects to INVOICEGW_DATABASE_URL for the administrative commands.
func openDB(ctx context.Context, getenv func(string) string) (*pgxpool.Pool, error) {
	var cfg DBConfig
	if err := parseEnv(&cfg, getenv); err != nil {
		return nil, err
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("INVOICEGW_DATABASE_URL: %w", err)
	}
	return pool, nil
}

// openStore opens the store for an admin command: the database from
// INVOICEGW_DATABASE_URL, refused when its schema is out of date. Call closeDB when done.
func openStore(ctx context.Context, getenv func(string) string) (db *postgres.DB, closeDB func(), err error) {
	pool, err := openDB(ctx, getenv)
	if err != nil {
		return nil, nil, err
	}
	if err := postgres.CheckSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, nil, err
	}
	if db, err = postgres.New(pool, 1); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return db, pool.Close, nil
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("migrate takes no arguments")
	}
	pool, err := openDB(ctx, getenv)
	if err != nil {
		return err
	}
	defer pool.Close()
	return postgres.Migrate(ctx, pool, newLogger(stdout, "info"))
}

func tenant(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "delivery-settings" {
		return tenantDeliverySettings(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, "usage: invoicegw tenant create --name NAME [--default-terms TEXT]\n")
		return errUsage
	}
	fs := flag.NewFlagSet("tenant create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the tenant's name (required)")
	terms := fs.String("default-terms", "", "terms and conditions printed on invoices that bring none")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if strings.TrimSpace(*name) == "" {
		return fmt.Errorf("tenant create: --name is required")
	}
	db, closeDB, err := openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	key, hash, err := gateway.NewAPIKey()
	if err != nil {
		return err
	}
	t := gateway.Tenant{ID: gateway.NewID("ten"), Name: *name, DefaultTerms: *terms}
	if err := db.CreateTenant(ctx, t, gateway.NewID("key"), hash); err != nil {
		return fmt.Errorf("create tenant: %w", err)
	}
	return json.NewEncoder(stdout).Encode(map[string]string{"tenant_id": t.ID, "api_key": key})
}

func archiveCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] != "init" {
		fmt.Fprint(stderr, "usage: invoicegw archive init\n")
		return errUsage
	}
	var cfg S3Config
	if err := parseEnv(&cfg, getenv); err != nil {
		return err
	}
	s3, err := archive.New(archive.Config{Endpoint: cfg.S3Endpoint, Region: cfg.S3Region, Bucket: cfg.S3Bucket,
		AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s3.EnsureBucket(ctx); err != nil {
		return fmt.Errorf("create bucket %s: %w", cfg.S3Bucket, err)
	}
	fmt.Fprintf(stdout, "bucket %s ready at %s\n", cfg.S3Bucket, cfg.S3Endpoint)
	return nil
}

func devSMTP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev-smtp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:1025", "listen address")
	dir := fs.String("dir", "tmp/mail", "directory that receives one .eml file per message")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))
	srv, err := catcher.Start(*addr, catcher.Options{Dir: *dir, Log: log})
	if err != nil {
		return err
	}
	log.Info("dev smtp catcher listening", "addr", srv.Addr(), "dir", *dir)
	<-ctx.Done()
	return srv.Close()
}
