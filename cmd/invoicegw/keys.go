package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/postgres"
)

const keyUsage = "usage: invoicegw key create --tenant TENANT_ID [--name NAME] | list --tenant TENANT_ID | revoke --tenant TENANT_ID --id KEY_ID\n"

// keyCmd creates, lists and revokes API keys; the same use cases as /v1/api-keys.
func keyCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keyUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("key "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenantID := fs.String("tenant", "", "the tenant's id (ten_...)")
	name := fs.String("name", "", "a name for the new key, e.g. the system using it")
	id := fs.String("id", "", "the key's id (key_...), for revoke")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if *tenantID == "" {
		fmt.Fprint(stderr, keyUsage)
		return fmt.Errorf("key %s: --tenant is required", args[0])
	}
	db, closeDB, err := openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	keys := gateway.NewKeys(db, time.Now)
	enc := json.NewEncoder(stdout)
	switch args[0] {
	case "create":
		k, secret, err := keys.Create(ctx, *tenantID, *name)
		if err != nil {
			return fmt.Errorf("key create: %w", err)
		}
		return enc.Encode(map[string]any{"id": k.ID, "tenant_id": *tenantID, "name": k.Name, "api_key": secret})
	case "list":
		ks, err := keys.List(ctx, *tenantID)
		if err != nil {
			return fmt.Errorf("key list: %w", err)
		}
		for _, k := range ks {
			if err := enc.Encode(k); err != nil {
				return err
			}
		}
		return nil
	case "revoke":
		k, err := keys.Revoke(ctx, *tenantID, *id)
		if err != nil {
			return fmt.Errorf("key revoke: %w", err)
		}
		return enc.Encode(k)
	default:
		fmt.Fprint(stderr, keyUsage)
		return errUsage
	}
}

// forgetIdempotencyKeys deletes Idempotency-Key records past their lifetime once an
// hour until ctx ends. Running it on every replica is harmless: the delete is
// idempotent.
func forgetIdempotencyKeys(ctx context.Context, db *postgres.DB, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := db.DeleteExpiredIdempotencyKeys(ctx)
			if err != nil {
				log.WarnContext(ctx, "delete expired idempotency keys", "err", err)
				continue
			}
			log.DebugContext(ctx, "expired idempotency keys deleted", "count", n)
		}
	}
}
