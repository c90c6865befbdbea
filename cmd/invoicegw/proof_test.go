package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// testSigningKey signs the bundles of the end-to-end tests. It is a test key and
// signs nothing real; `invoicegw keys generate` made it.
const testSigningKey = "ed25519-private:+/qoXSYmzVsfMSdiUBCeIaQozkLUj4AO9OrD3OWEnwA="

func TestKeysGenerateThenPublicAgree(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "generate"}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var priv, pub string
	for _, line := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "INVOICEGW_SIGNING_KEY="); ok {
			priv = v
		}
		if v, ok := strings.CutPrefix(line, "# public key "); ok {
			pub = strings.Fields(v)[0]
		}
	}
	if !strings.HasPrefix(priv, "ed25519-private:") || !strings.HasPrefix(pub, "ed25519:") {
		t.Fatalf("keys generate printed:\n%s", out.String())
	}
	out.Reset()
	env := func(k string) string {
		if k == "INVOICEGW_SIGNING_KEY" {
			return priv
		}
		return ""
	}
	if err := run(context.Background(), []string{"keys", "public"}, env, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != pub {
		t.Errorf("keys public = %q, want %q", got, pub)
	}
}

func TestVerifyRefusesBadArguments(t *testing.T) {
	for _, args := range [][]string{{"verify"}, {"verify", "--key"}, {"verify", "a.zip", "b.zip"}} {
		if err := run(context.Background(), args, nil, nil, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%v: err %v, want usage", args, err)
		}
	}
	if err := run(context.Background(), []string{"verify", "missing.zip", "--key", "ed25519:nope"}, nil, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--key") {
		t.Errorf("bad key: err %v, want one naming --key", err)
	}
}
