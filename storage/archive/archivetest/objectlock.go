package archivetest

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/storage/archive/internal/s3client"
)

// ObjectLockConfig is Config for a bucket created with S3 Object Lock (hence
// versioned), without default retention, for tests of WORM storage and legal holds.
// When the test ends, holds are released and every version deleted (GOVERNANCE
// retention bypassed) before the bucket goes.
func ObjectLockConfig(t testing.TB) archive.Config {
	t.Helper()
	cfg := Config(t)                                             // reachability check, skip/fail rule and a unique name
	cfg.Bucket = cfg.Bucket[:min(len(cfg.Bucket), 58)] + "-lock" // names end at 63 characters
	client := s3client.New(cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &cfg.Bucket, ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatalf("create object lock bucket %s: %v", cfg.Bucket, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		out, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &cfg.Bucket})
		if err != nil {
			t.Errorf("list versions of %s: %v", cfg.Bucket, err)
			return
		}
		var errs []error
		for _, v := range out.Versions {
			_, _ = client.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: &cfg.Bucket, Key: v.Key, VersionId: v.VersionId,
				LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}})
			_, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &cfg.Bucket, Key: v.Key, VersionId: v.VersionId,
				BypassGovernanceRetention: aws.Bool(true)})
			errs = append(errs, err)
		}
		for _, m := range out.DeleteMarkers {
			_, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &cfg.Bucket, Key: m.Key, VersionId: m.VersionId})
			errs = append(errs, err)
		}
		_, err = client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &cfg.Bucket})
		if err := errors.Join(append(errs, err)...); err != nil {
			t.Errorf("remove object lock bucket %s: %v", cfg.Bucket, err)
		}
	})
	return cfg
}
