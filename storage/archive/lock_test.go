package archive_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/storage/archive/archivetest"
	"github.com/invoicegw/invoicegw/storage/archive/internal/s3client"
)

// TestObjectLockRefusesDeletion writes the way deliveries do (Put with the
// configured retention) into a bucket created with Object Lock, and shows that the
// store refuses to delete the written version.
func TestObjectLockRefusesDeletion(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"COMPLIANCE", "GOVERNANCE"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			cfg := archivetest.Config(t) // an ordinary bucket, for the unlocked case below
			plain, err := archive.New(archive.Config{Endpoint: cfg.Endpoint, Region: cfg.Region, Bucket: cfg.Bucket,
				AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, Lock: archive.Lock{Mode: mode, Retention: time.Hour}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()

			const retention = 4 * time.Second // COMPLIANCE binds us too: the test must be able to clean up
			locked := cfg
			locked.Bucket = cfg.Bucket[:min(len(cfg.Bucket), 55)] + "-lock"
			locked.Lock = archive.Lock{Mode: mode, Retention: retention}
			s, err := archive.New(locked)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreateLockedBucket(ctx); err != nil {
				t.Fatalf("create locked bucket: %v", err)
			}
			client := s3client.New(locked.Endpoint, locked.Region, locked.AccessKey, locked.SecretKey)
			t.Cleanup(func() { removeRetainedBucket(t, client, locked.Bucket, retention) })

			if on, err := s.ObjectLockEnabled(ctx); err != nil || !on {
				t.Fatalf("ObjectLockEnabled = %v, %v; want true", on, err)
			}
			key := "tenants/t/invoices/i/deliveries/d/message.eml"
			if err := s.Put(ctx, key, "message/rfc822", []byte("Subject: x\r\n\r\nbody\r\n")); err != nil {
				t.Fatalf("Put: %v", err)
			}
			versions, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(locked.Bucket)})
			if err != nil || len(versions.Versions) != 1 {
				t.Fatalf("versions = %v, %v; want 1", versions, err)
			}
			version := aws.ToString(versions.Versions[0].VersionId)
			gotMode, until, err := s.Retention(ctx, key, version)
			if err != nil || gotMode != mode || until.Before(time.Now()) {
				t.Errorf("retention = %s until %v (%v), want %s in the future", gotMode, until, err, mode)
			}
			err = s.DeleteVersion(ctx, key, version)
			if gateway.ErrorKind(err) != gateway.KindConflict {
				t.Fatalf("DeleteVersion under retention: err = %v, want it refused (conflict)", err)
			}
			t.Logf("deletion refused as expected: %v", err)
			if data, err := s.Get(ctx, key); err != nil || len(data) == 0 {
				t.Errorf("object gone after the refused delete: %v", err)
			}

			// The same configuration on a bucket without Object Lock writes plainly.
			if err := plain.Put(ctx, key, "message/rfc822", []byte("x")); err != nil {
				t.Errorf("Put into a bucket without Object Lock: %v", err)
			}
			if on, err := plain.ObjectLockEnabled(ctx); err != nil || on {
				t.Errorf("ObjectLockEnabled on a plain bucket = %v, %v; want false", on, err)
			}
		})
	}
}

// removeRetainedBucket waits out the retention, then deletes every version (bypassing
// GOVERNANCE) and the bucket.
func removeRetainedBucket(t *testing.T, client *s3.Client, bucket string, retention time.Duration) {
	time.Sleep(retention + time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Errorf("list versions of %s: %v", bucket, err)
		return
	}
	for _, v := range out.Versions {
		if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: v.Key, VersionId: v.VersionId,
			BypassGovernanceRetention: aws.Bool(true)}); err != nil {
			t.Errorf("delete %s: %v", aws.ToString(v.Key), err)
		}
	}
	for _, m := range out.DeleteMarkers {
		_, _ = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: m.Key, VersionId: m.VersionId})
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Errorf("delete bucket %s: %v", bucket, err)
	}
}
