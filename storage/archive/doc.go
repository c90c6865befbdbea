// Package archive keeps invoicegw's evidence artefacts (rendered PDFs, sent messages,
// DSNs) in S3-compatible object storage through aws-sdk-go-v2: MinIO in development
// and tests, any S3 API in production. Every upload carries a Content-MD5 so that
// buckets with Object Lock (WORM retention) accept it, and every failure is translated
// here into a gateway error kind so callers can decide between retrying and giving up.
package archive
