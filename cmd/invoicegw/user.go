package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
)

const userUsage = "usage: invoicegw user create --tenant TENANT_ID --email EMAIL < password\n"

// user creates collector users. The password comes from stdin, never from a flag:
// flags end up in shell history and in every process listing.
func user(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, userUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenantID := fs.String("tenant", "", "the tenant id (ten_...) whose invoices the user may see (required)")
	email := fs.String("email", "", "the user's e-mail address, used to sign in (required)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		fmt.Fprint(stderr, userUsage)
		return errUsage
	}
	if stdin == nil {
		return fmt.Errorf("user create: give the password on standard input")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, gateway.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("user create: read password from standard input: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")

	db, closeDB, err := openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeDB()
	// Sign-in needs neither the archive nor the limiter: only user creation is used here.
	c, err := gateway.NewCollector(db, nil, nil, nil, nil, gateway.CollectorConfig{}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	u, err := c.CreateUser(ctx, *tenantID, *email, password)
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	return json.NewEncoder(stdout).Encode(map[string]string{"user_id": u.ID, "tenant_id": u.TenantID, "email": u.Email})
}
