package archive

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/invoicegw/invoicegw/gateway"
)

var _ gateway.LegalHolder = (*S3)(nil)

// ObjectLockEnabled is in lock.go (the delivery work's cached version; both
// branches wrote one).

// SetLegalHold puts every current object under prefix under legal hold (on) or
// releases it (off). A held object version cannot be deleted or overwritten in
// place, whatever its retention, until the hold is released: invoicegw holds an
// invoice's evidence while a dispute about it is open. On a bucket without Object
// Lock it does nothing. Errors: KindUnavailable, KindInternal.
func (s *S3) SetLegalHold(ctx context.Context, prefix string, on bool) error {
	enabled, err := s.ObjectLockEnabled(ctx)
	if err != nil || !enabled {
		return err
	}
	status := types.ObjectLockLegalHoldStatusOff
	if on {
		status = types.ObjectLockLegalHoldStatusOn
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return s3Error(fmt.Errorf("list objects under %s: %w", prefix, err), "archived objects")
		}
		for _, obj := range page.Contents {
			if _, err := s.client.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{
				Bucket:    aws.String(s.bucket),
				Key:       obj.Key,
				LegalHold: &types.ObjectLockLegalHold{Status: status},
			}); err != nil {
				return s3Error(fmt.Errorf("set legal hold %s on %s: %w", status, aws.ToString(obj.Key), err), "archived object")
			}
		}
	}
	return nil
}

// LegalHold reports whether the current version of key is under legal hold.
// Errors: KindNotFound, KindUnavailable, KindInternal.
func (s *S3) LegalHold(ctx context.Context, key string) (bool, error) {
	out, err := s.client.GetObjectLegalHold(ctx, &s3.GetObjectLegalHoldInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		if apiCode(err) == "NoSuchObjectLockConfiguration" {
			return false, nil
		}
		// Servers answer a bucket without Object Lock with differing codes; none holds.
		if possible, perr := s.ObjectLockEnabled(ctx); perr == nil && !possible {
			return false, nil
		}
		return false, s3Error(fmt.Errorf("get legal hold of %s: %w", key, err), "archived object")
	}
	return out.LegalHold != nil && out.LegalHold.Status == types.ObjectLockLegalHoldStatusOn, nil
}
