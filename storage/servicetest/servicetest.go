// Package servicetest holds the one rule every integration test follows when a real
// service it needs cannot be reached: fail in CI, skip loudly elsewhere. Integration
// tests never pass by not running.
package servicetest

import (
	"os"
	"testing"
)

// Unavailable ends the test because a service is missing: t.Fatal when CI=true,
// t.Skip otherwise. msg should say which service, where, and how to get it.
func Unavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
