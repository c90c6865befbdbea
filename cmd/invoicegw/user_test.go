package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
)

func TestUserCreate(t *testing.T) {
	pool, dbURL := pgtest.MustOpen(t)
	db, err := postgres.New(pool, 1)
	if err != nil {
		t.Fatal(err)
	}
	ten := gateway.Tenant{ID: gateway.NewID("ten"), Name: "Acme"}
	if err := db.CreateTenant(context.Background(), ten, gateway.NewID("key"), []byte("k")); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "INVOICEGW_DATABASE_URL" {
			return dbURL
		}
		return ""
	}
	cases := []struct {
		name     string
		args     []string
		stdin    string
		wantErr  string // empty: must succeed
		wantUser string
	}{
		{"creates a user with the password from stdin", []string{"--tenant", ten.ID, "--email", "Ann@Acme.test"},
			"a long enough passphrase\n", "", "ann@acme.test"},
		{"accepts a password without a newline", []string{"--tenant", ten.ID, "--email", "bob@acme.test"},
			"another long passphrase", "", "bob@acme.test"},
		{"refuses a taken e-mail", []string{"--tenant", ten.ID, "--email", "ann@acme.test"},
			"a long enough passphrase\n", "already exists", ""},
		{"refuses a short password", []string{"--tenant", ten.ID, "--email", "cy@acme.test"},
			"short\n", "password: use a password of 12 to 256 characters", ""},
		{"names every bad field", []string{"--tenant", "acme", "--email", "not an address"},
			"\n", "email: give a bare e-mail address", ""},
		{"refuses an unknown tenant", []string{"--tenant", gateway.NewID("ten"), "--email", "dee@acme.test"},
			"a long enough passphrase\n", "not found", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), append([]string{"user", "create"}, c.args...), getenv,
				strings.NewReader(c.stdin), &out, &errOut)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("user create: %v %s", err, errOut.String())
			}
			u, err := db.CollectorUserByEmail(context.Background(), c.wantUser)
			if err != nil || u.TenantID != ten.ID || !strings.Contains(out.String(), u.ID) {
				t.Fatalf("stored user %+v (%v), printed %q", u, err, out.String())
			}
			ok, err := gateway.VerifyPassword(u.PasswordHash, strings.TrimSuffix(c.stdin, "\n"))
			if !ok || err != nil {
				t.Errorf("the stored hash does not verify the password from stdin: %v", err)
			}
		})
	}
	t.Run("names email, password and tenant at once", func(t *testing.T) {
		err := run(context.Background(), []string{"user", "create", "--tenant", "acme", "--email", "x"}, getenv,
			strings.NewReader("short\n"), &bytes.Buffer{}, &bytes.Buffer{})
		for _, f := range []string{"email:", "password:", "tenant:"} {
			if err == nil || !strings.Contains(err.Error(), f) {
				t.Errorf("error %v does not name %s", err, f)
			}
		}
	})
}
