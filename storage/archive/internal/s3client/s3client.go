// Package s3client builds the one S3 client configuration that invoicegw uses, so that
// the archive and its test helper talk to S3-compatible servers (MinIO, versitygw, AWS)
// in exactly the same way.
package s3client

import (
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	// maxAttempts bounds the SDK's own retries. The job worker retries whole deliveries
	// later, so a dependency that is down must fail fast rather than hold a worker.
	maxAttempts = 3
	// maxBackoff caps the wait between attempts: with 3 attempts an unreachable server
	// costs at most about a second plus the dial timeouts, not the SDK's default 20 s waits.
	maxBackoff = 500 * time.Millisecond
	// dialTimeout bounds connecting when the caller's context has no deadline; a
	// blackholed address otherwise waits for the kernel's TCP timeout.
	dialTimeout = 3 * time.Second
)

// New returns an S3 client for endpoint (empty means AWS itself) with static credentials.
func New(endpoint, region, accessKey, secretKey string) *s3.Client {
	httpClient := awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) {
		d.Timeout = dialTimeout
	})
	retryer := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = maxBackoff
		// The token bucket would turn a long outage into "retry quota exceeded"
		// errors that hide the real cause; three attempts are bound enough.
		o.RateLimiter = ratelimit.None
	})
	return s3.New(s3.Options{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		// S3-compatible servers are addressed by host:port, where virtual-host buckets
		// (bucket.127.0.0.1) cannot resolve.
		UsePathStyle: true,
		BaseEndpoint: baseEndpoint(endpoint),
		// Newer SDKs add CRC checksums to every request by default, which some
		// S3-compatible servers reject; the archive sends Content-MD5 itself instead.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		Retryer:                    retryer,
		HTTPClient:                 httpClient,
		EndpointResolverV2:         newCachedResolver(s3.NewDefaultEndpointResolverV2()),
	})
}

func baseEndpoint(endpoint string) *string {
	if endpoint == "" {
		return nil
	}
	return aws.String(endpoint)
}
