package archive

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/invoicegw/invoicegw/gateway"
)

// Lock is an Object Lock retention: objects cannot be deleted or overwritten in
// place until Retention has passed. COMPLIANCE binds everyone, the root account
// included; GOVERNANCE can be lifted by a user with s3:BypassGovernanceRetention.
// An empty Mode writes no retention.
type Lock struct {
	Mode      string // "COMPLIANCE", "GOVERNANCE" or ""
	Retention time.Duration
}

// PutOptions are per-object write options.
type PutOptions struct {
	// RetainUntil and Mode set an Object Lock retention on this version; zero
	// RetainUntil sets none.
	Mode        string
	RetainUntil time.Time
	// LegalHold places a legal hold, which has no end date, on this version.
	LegalHold bool
}

// PutResult is what the store says about a written object.
type PutResult struct {
	VersionID string // empty in unversioned buckets
}

// lockState caches whether the bucket has Object Lock enabled.
type lockState struct {
	mu      sync.Mutex
	known   bool
	enabled bool
}

// defaultPutOptions applies the configured retention when the bucket has Object
// Lock enabled (asked once; a failure to ask is retried on the next Put).
func (s *S3) defaultPutOptions(ctx context.Context) (PutOptions, error) {
	if s.lock.Mode == "" {
		return PutOptions{}, nil
	}
	enabled, err := s.ObjectLockEnabled(ctx)
	if err != nil {
		return PutOptions{}, err
	}
	if !enabled {
		return PutOptions{}, nil
	}
	return PutOptions{Mode: s.lock.Mode, RetainUntil: time.Now().Add(s.lock.Retention)}, nil
}

// ObjectLockEnabled reports whether the bucket was created with Object Lock.
// Errors: KindUnavailable, KindInternal.
func (s *S3) ObjectLockEnabled(ctx context.Context) (bool, error) {
	s.bucketLock.mu.Lock()
	defer s.bucketLock.mu.Unlock()
	if s.bucketLock.known {
		return s.bucketLock.enabled, nil
	}
	out, err := s.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(s.bucket)})
	switch {
	case err == nil:
		s.bucketLock.enabled = out.ObjectLockConfiguration != nil &&
			out.ObjectLockConfiguration.ObjectLockEnabled == types.ObjectLockEnabledEnabled
	case apiCode(err) == "ObjectLockConfigurationNotFoundError" || httpStatus(err) == 404:
		s.bucketLock.enabled = false
	default:
		return false, s3Error(fmt.Errorf("get object lock configuration of %s: %w", s.bucket, err), "archive bucket")
	}
	s.bucketLock.known = true
	return s.bucketLock.enabled, nil
}

// PutWith stores data under key with per-object options. Object Lock buckets refuse
// uploads without an integrity header; Content-MD5 is the one every S3-compatible
// server accepts, and the server verifies it, so a corrupted upload fails instead of
// being archived as evidence. Errors: KindUnavailable, else KindInternal.
func (s *S3) PutWith(ctx context.Context, key, contentType string, data []byte, opts PutOptions) (PutResult, error) {
	sum := md5.Sum(data)
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   nonEmpty(contentType),
		ContentMD5:    aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	}
	if !opts.RetainUntil.IsZero() {
		in.ObjectLockMode = types.ObjectLockMode(opts.Mode)
		in.ObjectLockRetainUntilDate = aws.Time(opts.RetainUntil.UTC())
	}
	if opts.LegalHold {
		in.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOn
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		return PutResult{}, s3Error(fmt.Errorf("put object %s: %w", key, err), "archived object")
	}
	return PutResult{VersionID: aws.ToString(out.VersionId)}, nil
}

// Retention returns the Object Lock retention of one version of key.
func (s *S3) Retention(ctx context.Context, key, versionID string) (mode string, until time.Time, err error) {
	out, err := s.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), VersionId: nonEmpty(versionID)})
	if err != nil {
		return "", time.Time{}, s3Error(fmt.Errorf("get retention of %s: %w", key, err), "archived object")
	}
	if out.Retention == nil {
		return "", time.Time{}, nil
	}
	return string(out.Retention.Mode), aws.ToTime(out.Retention.RetainUntilDate), nil
}

// DeleteVersion deletes one version of key for good. Under a retention or legal hold
// the store refuses: the error is KindConflict.
func (s *S3) DeleteVersion(ctx context.Context, key, versionID string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), VersionId: nonEmpty(versionID)})
	if err != nil {
		if st := httpStatus(err); st == 403 || st == 400 || st == 409 {
			return gateway.Wrap(gateway.KindConflict, fmt.Errorf("delete %s version %s: %w", key, versionID, err),
				"the archive refused to delete a retained object")
		}
		return s3Error(fmt.Errorf("delete %s version %s: %w", key, versionID, err), "archived object")
	}
	return nil
}

// CreateLockedBucket creates the bucket with Object Lock enabled (which also turns
// on versioning); Object Lock can only be chosen when a bucket is created. Errors as
// EnsureBucket.
func (s *S3) CreateLockedBucket(ctx context.Context) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(s.bucket), ObjectLockEnabledForBucket: aws.Bool(true)}
	if s.region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(s.region),
		}
	}
	if _, err := s.client.CreateBucket(ctx, in); err != nil {
		return s3Error(fmt.Errorf("create locked bucket %s: %w", s.bucket, err), "archive bucket")
	}
	return nil
}
