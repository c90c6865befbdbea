// Package archivetest gives tests of any package a real, empty S3 bucket of their own
// on the development MinIO, so that tests can run in parallel and leave nothing behind.
// It lives in a non-test file because other packages' tests (and the end-to-end test)
// import it.
package archivetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/invoicegw/invoicegw/storage/servicetest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/storage/archive/internal/s3client"
)

const (
	defaultEndpoint  = "http://127.0.0.1:9100"
	defaultAccessKey = "invoicegw"
	defaultSecretKey = "invoicegw-secret"
	region           = "us-east-1"

	// setupTimeout bounds creating the bucket: an unreachable server must skip or
	// fail the test promptly, not hang it.
	setupTimeout = 10 * time.Second
	// cleanupTimeout bounds emptying and deleting the bucket after the test.
	cleanupTimeout = 30 * time.Second
)

// MustOpen returns an archive on a fresh bucket that is emptied and deleted when the
// test ends. It is archive.New(Config(t)).
func MustOpen(t testing.TB) *archive.S3 {
	t.Helper()
	s, err := archive.New(Config(t))
	if err != nil {
		t.Fatalf("open test archive: %v", err)
	}
	return s
}

// Config creates a fresh bucket for t and returns the configuration that reaches it,
// for tests that hand it to a real server. Each call creates another bucket; all are
// emptied and deleted when the test ends.
//
// The server is INVOICEGW_TEST_S3_ENDPOINT (default http://127.0.0.1:9100) with
// INVOICEGW_TEST_S3_ACCESS_KEY and INVOICEGW_TEST_S3_SECRET_KEY. When it cannot be
// reached the test is skipped, except with CI=true, where a missing service must fail
// the build rather than let integration tests pass by not running.
func Config(t testing.TB) archive.Config {
	t.Helper()
	cfg := archive.Config{
		Endpoint:  getenv("INVOICEGW_TEST_S3_ENDPOINT", defaultEndpoint),
		Region:    region,
		Bucket:    bucketName(t.Name()),
		AccessKey: getenv("INVOICEGW_TEST_S3_ACCESS_KEY", defaultAccessKey),
		SecretKey: getenv("INVOICEGW_TEST_S3_SECRET_KEY", defaultSecretKey),
	}
	s, err := archive.New(cfg)
	if err != nil {
		t.Fatalf("open test archive: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := s.EnsureBucket(ctx); err != nil {
		if gateway.ErrorKind(err) == gateway.KindUnavailable {
			msg := fmt.Sprintf("S3 server at %s is unreachable; run `make test` (it starts MinIO): %v", cfg.Endpoint, err)
			servicetest.Unavailable(t, msg)
		}
		t.Fatalf("create test bucket %s at %s: %v", cfg.Bucket, cfg.Endpoint, err)
	}
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := removeBucket(ctx, cfg); err != nil {
			t.Errorf("remove test bucket %s: %v", cfg.Bucket, err)
		}
	})
	return cfg
}

// bucketName turns a test name into a valid, unique S3 bucket name: lower-case
// letters, digits and single hyphens, starting with "igw-" and ending with a random
// suffix, at most 63 characters.
func bucketName(testName string) string {
	const (
		prefix  = "igw-"
		maxLen  = 63
		suffixN = 8 // hex characters of randomness
	)
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(testName) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			hyphen = false
			continue
		}
		// Dots would be legal but break TLS virtual-host addressing; everything else
		// (slashes of subtests, underscores, capitals' neighbours) becomes one hyphen.
		if !hyphen && b.Len() > 0 {
			b.WriteByte('-')
			hyphen = true
		}
	}
	base := b.String()
	if room := maxLen - len(prefix) - 1 - suffixN; len(base) > room {
		base = base[:room]
	}
	base = strings.Trim(base, "-")
	if base == "" {
		base = "test"
	}
	random := make([]byte, suffixN/2)
	_, _ = rand.Read(random) // never fails (crypto/rand panics instead)
	return prefix + base + "-" + hex.EncodeToString(random)
}

// removeBucket deletes every object version in the bucket, then the bucket. Listing
// versions rather than objects also empties buckets a test switched versioning on for.
func removeBucket(ctx context.Context, cfg archive.Config) error {
	client := s3client.New(cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey)
	bucket := aws.String(cfg.Bucket)
	pages := s3.NewListObjectVersionsPaginator(client, &s3.ListObjectVersionsInput{Bucket: bucket})
	var errs []error
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list objects: %w", err)
		}
		del := func(key, version *string) {
			_, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{
				Bucket:    bucket,
				Key:       key,
				VersionId: version,
				// Tests may put objects under GOVERNANCE retention; root may lift it.
				BypassGovernanceRetention: aws.Bool(true),
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("delete object %s: %w", aws.ToString(key), err))
			}
		}
		for _, v := range page.Versions {
			del(v.Key, v.VersionId)
		}
		for _, m := range page.DeleteMarkers {
			del(m.Key, m.VersionId)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket}); err != nil {
		return fmt.Errorf("delete bucket: %w", err)
	}
	return nil
}

func getenv(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
