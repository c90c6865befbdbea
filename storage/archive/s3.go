package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/archive/internal/s3client"
)

// Config says where the archive lives. Endpoint is the S3 API base URL
// (e.g. "http://127.0.0.1:9100"); empty means AWS itself.
type Config struct {
	Endpoint  string
	Region    string
	Bucket    string
	AccessKey string
	SecretKey string
	// Lock is the Object Lock retention applied to every object, where the bucket
	// has Object Lock enabled.
	Lock Lock
}

// S3 is the archive in one bucket. It is safe for concurrent use.
type S3 struct {
	client *s3.Client
	bucket string
	region string
	lock   Lock
	// bucketLock remembers whether the bucket has Object Lock, asked once.
	bucketLock lockState
}

var _ gateway.Archive = (*S3)(nil)

// New checks cfg and builds the client; it does not contact the server (see Ping and
// EnsureBucket), so start-up order between the gateway and the store does not matter.
func New(cfg Config) (*S3, error) {
	var missing []string
	if cfg.Region == "" {
		missing = append(missing, "region")
	}
	if cfg.Bucket == "" {
		missing = append(missing, "bucket")
	}
	if cfg.AccessKey == "" {
		missing = append(missing, "access key")
	}
	if cfg.SecretKey == "" {
		missing = append(missing, "secret key")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("configure archive: missing %s", strings.Join(missing, ", "))
	}
	return &S3{
		client: s3client.New(cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey),
		bucket: cfg.Bucket,
		region: cfg.Region,
		lock:   cfg.Lock,
	}, nil
}

// Put stores data under key with the configured retention (see PutWith). Errors:
// KindUnavailable when the store cannot be reached or is overloaded, else
// KindInternal.
func (s *S3) Put(ctx context.Context, key, contentType string, data []byte) error {
	opts, err := s.defaultPutOptions(ctx)
	if err != nil {
		return err
	}
	_, err = s.PutWith(ctx, key, contentType, data, opts)
	return err
}

// Get returns the bytes stored under key. Errors: KindNotFound when there is no such
// key, KindUnavailable when the store cannot be reached, else KindInternal.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	})
	if err != nil {
		return nil, s3Error(fmt.Errorf("get object %s: %w", key, err), "archived object")
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if n := aws.ToInt64(out.ContentLength); n > 0 {
		buf.Grow(int(n))
	}
	if _, err := io.Copy(&buf, out.Body); err != nil {
		// The connection broke mid-body: the object exists, the store is flaky.
		return nil, gateway.Wrap(gateway.KindUnavailable, fmt.Errorf("read object %s: %w", key, err), "archive unavailable")
	}
	return buf.Bytes(), nil
}

// Ping checks that the bucket exists and the credentials may use it; for /readyz.
// Errors: KindUnavailable when the store cannot be reached, else KindInternal (a
// missing bucket or refused credentials is a deployment mistake, not an outage).
func (s *S3) Ping(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		// HEAD responses have no body, so a missing bucket is only a bare 404.
		if httpStatus(err) == 404 {
			return gateway.Wrap(gateway.KindInternal, fmt.Errorf("head bucket %s: %w", s.bucket, err), "archive bucket does not exist")
		}
		return s3Error(fmt.Errorf("head bucket %s: %w", s.bucket, err), "archive bucket")
	}
	return nil
}

// EnsureBucket creates the bucket unless it exists already and is ours, so that it can
// run at every start-up. Errors: KindConflict when the name is taken by another
// account, KindUnavailable when the store cannot be reached, else KindInternal.
func (s *S3) EnsureBucket(ctx context.Context) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(s.bucket)}
	// us-east-1 is S3's default location and must not be named; every other region must.
	if s.region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(s.region),
		}
	}
	_, err := s.client.CreateBucket(ctx, in)
	if err == nil {
		return nil
	}
	var owned *types.BucketAlreadyOwnedByYou
	if errors.As(err, &owned) || apiCode(err) == "BucketAlreadyOwnedByYou" {
		return nil
	}
	var taken *types.BucketAlreadyExists
	if errors.As(err, &taken) || apiCode(err) == "BucketAlreadyExists" {
		return gateway.Wrap(gateway.KindConflict, fmt.Errorf("create bucket %s: %w", s.bucket, err), "archive bucket name is taken by another account")
	}
	return s3Error(fmt.Errorf("create bucket %s: %w", s.bucket, err), "archive bucket")
}

// nonEmpty leaves an unknown content type unset, so the server applies its default
// instead of storing an empty header.
func nonEmpty(v string) *string {
	if v == "" {
		return nil
	}
	return aws.String(v)
}
