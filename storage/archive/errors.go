package archive

import (
	"context"
	"errors"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	"github.com/invoicegw/invoicegw/gateway"
)

// unavailableCodes are S3 error codes meaning "try again later" that the SDK's throttle
// list does not hold: MinIO's own overload and start-up codes among them.
var unavailableCodes = map[string]bool{
	"ServiceUnavailable":         true,
	"InternalError":              true,
	"RequestTimeout":             true,
	"SlowDownRead":               true,
	"SlowDownWrite":              true,
	"XMinioServerNotInitialized": true,
}

// s3Error translates an SDK failure into a gateway error kind, once, here: callers
// (the job worker, the HTTP layer) decide on retrying or on a status code by kind.
// what names the thing for the client-safe message.
func s3Error(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case isNotFound(err):
		return gateway.Wrap(gateway.KindNotFound, err, what+" not found")
	case isUnavailable(err):
		return gateway.Wrap(gateway.KindUnavailable, err, "archive unavailable")
	default:
		return gateway.Wrap(gateway.KindInternal, err, "archive failed")
	}
}

func isNotFound(err error) bool {
	switch apiCode(err) {
	case "NoSuchKey", "NotFound":
		return true
	case "NoSuchBucket":
		// A missing bucket is a deployment mistake; reporting it as "not found" would
		// tell a collector that the evidence is gone when in fact nothing is reachable.
		return false
	}
	return httpStatus(err) == 404
}

func isUnavailable(err error) bool {
	var canceled *smithy.CanceledError
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &canceled) {
		return true
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
		return true
	}
	if unavailableCodes[apiCode(err)] {
		return true
	}
	if status := httpStatus(err); status >= 500 || status == 429 {
		return true
	}
	// Connection refused, reset, DNS failure, TLS or read timeouts: the SDK marks these
	// as connection errors (RequestSendError and friends); net.Error covers the rest.
	if (retry.RetryableConnectionError{}).IsErrorRetryable(err) == aws.TrueTernary {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// apiCode is the S3 error code ("NoSuchKey"), or "" when the server did not answer.
func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// httpStatus is the HTTP status of the server's answer, or 0 when there was none.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
