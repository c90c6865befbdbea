package archive_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/storage/archive/archivetest"
	"github.com/invoicegw/invoicegw/storage/archive/internal/s3client"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("read random bytes: %v", err)
	}
	return b
}

func TestPutGet(t *testing.T) {
	t.Parallel()
	cfg := archivetest.Config(t)
	s, err := archive.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tests := []struct {
		name        string
		key         string
		contentType string
		data        []byte
	}{
		{"returns a small PDF unchanged", "inv_1/invoice.pdf", "application/pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\nfake body\n%%EOF\n")},
		{"returns a 2 MB object unchanged", "inv_2/big.bin", "application/octet-stream", randomBytes(t, 2<<20)},
		{"returns an empty object", "inv_3/empty.txt", "text/plain", []byte{}},
		{"keeps an object without a content type", "inv_4/raw", "", []byte("raw")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if err := s.Put(ctx, tt.key, tt.contentType, tt.data); err != nil {
				t.Fatalf("Put: %v", err)
			}
			got, err := s.Get(ctx, tt.key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Errorf("Get returned %d bytes that differ from the %d put", len(got), len(tt.data))
			}
			if tt.contentType == "" {
				return
			}
			head, err := rawClient(cfg).HeadObject(ctx, &s3.HeadObjectInput{Bucket: &cfg.Bucket, Key: &tt.key})
			if err != nil {
				t.Fatalf("HeadObject: %v", err)
			}
			if got := aws.ToString(head.ContentType); got != tt.contentType {
				t.Errorf("stored content type = %q, want %q", got, tt.contentType)
			}
		})
	}
}

func TestPutOverwrites(t *testing.T) {
	t.Parallel()
	s := archivetest.MustOpen(t)
	ctx := t.Context()
	for _, v := range []string{"first", "second"} {
		if err := s.Put(ctx, "k", "text/plain", []byte(v)); err != nil {
			t.Fatalf("Put %q: %v", v, err)
		}
	}
	got, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if string(got) != "second" {
		t.Errorf("Get = %q, want %q", got, "second")
	}
}

func TestGetMissingKeyIsNotFound(t *testing.T) {
	t.Parallel()
	s := archivetest.MustOpen(t)
	_, err := s.Get(t.Context(), "no/such/key.pdf")
	if got := gateway.ErrorKind(err); got != gateway.KindNotFound {
		t.Errorf("Get of a missing key: kind %q (err %v), want %q", got, err, gateway.KindNotFound)
	}
}

func TestEnsureBucket(t *testing.T) {
	t.Parallel()
	cfg := archivetest.Config(t)
	// A bucket next to the helper's, which the test itself must create.
	cfg.Bucket += "-new"
	s, err := archive.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = rawClient(cfg).DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &cfg.Bucket})
	})
	ctx := t.Context()

	err = s.Ping(ctx)
	if err == nil {
		t.Fatal("Ping before EnsureBucket succeeded, want an error for the missing bucket")
	}
	if got := gateway.ErrorKind(err); got != gateway.KindInternal {
		t.Errorf("Ping of a missing bucket: kind %q (err %v), want %q", got, err, gateway.KindInternal)
	}
	for i := range 2 {
		if err := s.EnsureBucket(ctx); err != nil {
			t.Fatalf("EnsureBucket call %d: %v", i+1, err)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after EnsureBucket: %v", err)
	}
	if err := s.Put(ctx, "k", "text/plain", []byte("v")); err != nil {
		t.Errorf("Put into the ensured bucket: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = rawClient(cfg).DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &cfg.Bucket, Key: aws.String("k")})
	})
}

func TestUnreachableServerIsUnavailable(t *testing.T) {
	t.Parallel()
	s, err := archive.New(archive.Config{
		Endpoint:  "http://127.0.0.1:1", // nothing listens on port 1
		Region:    "us-east-1",
		Bucket:    "invoices",
		AccessKey: "k",
		SecretKey: "s",
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ops := []struct {
		name string
		call func(context.Context) error
	}{
		{"Put", func(ctx context.Context) error { return s.Put(ctx, "k", "text/plain", []byte("v")) }},
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, "k"); return err }},
		{"Ping", s.Ping},
		{"EnsureBucket", s.EnsureBucket},
	}
	for _, op := range ops {
		t.Run(op.name+" fails fast without a deadline", func(t *testing.T) {
			t.Parallel()
			// Bounded SDK retries alone must end the call well before a job times out.
			assertUnavailableWithin(t, context.Background(), op.call, 3*time.Second)
		})
		t.Run(op.name+" stops at the context deadline", func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			assertUnavailableWithin(t, ctx, op.call, time.Second)
		})
	}
}

func assertUnavailableWithin(t *testing.T, ctx context.Context, call func(context.Context) error, limit time.Duration) {
	t.Helper()
	start := time.Now()
	err := call(ctx)
	elapsed := time.Since(start)
	if got := gateway.ErrorKind(err); got != gateway.KindUnavailable {
		t.Errorf("kind %q (err %v), want %q", got, err, gateway.KindUnavailable)
	}
	if elapsed > limit {
		t.Errorf("took %v, want at most %v", elapsed, limit)
	}
}

func TestWrongCredentialsAreInternal(t *testing.T) {
	t.Parallel()
	cfg := archivetest.Config(t)
	cfg.SecretKey = "not-the-secret"
	s, err := archive.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// Refused credentials are a deployment mistake: retrying will not fix them.
	err = s.Put(t.Context(), "k", "text/plain", []byte("v"))
	if got := gateway.ErrorKind(err); got != gateway.KindInternal {
		t.Errorf("Put with a wrong secret: kind %q (err %v), want %q", got, err, gateway.KindInternal)
	}
}

func TestNewNamesMissingSettings(t *testing.T) {
	_, err := archive.New(archive.Config{Endpoint: "http://127.0.0.1:9100"})
	if err == nil {
		t.Fatal("New with an empty config succeeded, want an error")
	}
	want := "configure archive: missing region, bucket, access key, secret key"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

// TestObjectLockBucketAcceptsPut checks the WORM set-up the evidence archive is meant
// for: Put into a bucket with default retention works and the object is then retained.
// (MinIO does not insist on Content-MD5 for plain PUTs, so this cannot catch a missing
// header there; stricter servers such as AWS S3 do.)
func TestObjectLockBucketAcceptsPut(t *testing.T) {
	t.Parallel()
	cfg := archivetest.Config(t)
	cfg.Bucket += "-lock"
	client := rawClient(cfg)
	ctx := t.Context()
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                     &cfg.Bucket,
		ObjectLockEnabledForBucket: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("create object lock bucket: %v", err)
	}
	t.Cleanup(func() { removeLockedBucket(t, cfg) })
	_, err = client.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{
		Bucket: &cfg.Bucket,
		ObjectLockConfiguration: &types.ObjectLockConfiguration{
			ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{
				// GOVERNANCE so the cleanup may lift it; COMPLIANCE would outlive the test.
				Mode: types.ObjectLockRetentionModeGovernance,
				Days: aws.Int32(1),
			}},
		},
	})
	if err != nil {
		t.Fatalf("set default retention: %v", err)
	}

	s, err := archive.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	data := []byte("%PDF-1.7 evidence")
	if err := s.Put(ctx, "inv_1/invoice.pdf", "application/pdf", data); err != nil {
		t.Fatalf("Put into an object lock bucket: %v", err)
	}
	got, err := s.Get(ctx, "inv_1/invoice.pdf")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("Get = %q, want %q", got, data)
	}

	// The point of such a bucket: the archived version cannot be deleted.
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &cfg.Bucket, Key: aws.String("inv_1/invoice.pdf")})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	_, err = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &cfg.Bucket, Key: aws.String("inv_1/invoice.pdf"), VersionId: head.VersionId})
	if err == nil {
		t.Error("deleting the retained version succeeded, want it refused")
	}
}

func removeLockedBucket(t *testing.T, cfg archive.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := rawClient(cfg)
	out, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &cfg.Bucket})
	if err != nil {
		t.Errorf("list versions in %s: %v", cfg.Bucket, err)
		return
	}
	var errs []error
	for _, v := range out.Versions {
		_, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{
			Bucket: &cfg.Bucket, Key: v.Key, VersionId: v.VersionId,
			BypassGovernanceRetention: aws.Bool(true),
		})
		errs = append(errs, err)
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &cfg.Bucket}); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		t.Errorf("remove object lock bucket %s: %v", cfg.Bucket, err)
	}
}

func rawClient(cfg archive.Config) *s3.Client {
	return s3client.New(cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey)
}
