package s3client

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyauth "github.com/aws/smithy-go/auth"
)

func TestCachedEndpointsEqualFreshOnes(t *testing.T) {
	ctx := context.Background()
	fresh := s3.NewDefaultEndpointResolverV2()
	cached := newCachedResolver(fresh)
	base := func(bucket, key string) s3.EndpointParameters {
		return s3.EndpointParameters{Bucket: aws.String(bucket), Key: aws.String(key), Region: aws.String("us-east-1"),
			Endpoint: aws.String("http://127.0.0.1:9100"), ForcePathStyle: aws.Bool(true),
			UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false), Accelerate: aws.Bool(false)}
	}
	onAWS := base("archive", "a")
	onAWS.Endpoint, onAWS.ForcePathStyle = nil, nil
	cases := []struct {
		name string
		p    s3.EndpointParameters
	}{
		{"first key of a bucket", base("archive", "tenants/t1/invoices/i1/invoice.pdf")},
		{"another key of the same bucket answers from the cache", base("archive", "tenants/t2/invoices/i2/d/x.eml")},
		{"another bucket", base("other-bucket", "tenants/t1/invoices/i1/invoice.pdf")},
		{"a bucket that needs encoding", base("a.b", "k")},
		{"no bucket", func() s3.EndpointParameters { p := base("", ""); p.Bucket, p.Key = nil, nil; return p }()},
		{"AWS itself, virtual-host style", onAWS},
		{"AWS itself, another key", func() s3.EndpointParameters { p := onAWS; p.Key = nil; return p }()},
	}
	for _, tc := range cases {
		for range 2 {
			want, werr := fresh.ResolveEndpoint(ctx, tc.p)
			got, gerr := cached.ResolveEndpoint(ctx, tc.p)
			if (werr == nil) != (gerr == nil) || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: got %+v, %v; want %+v, %v", tc.name, got, gerr, want, werr)
			}
		}
	}
}

// The SDK rewrites the auth options of the answer it gets (scheme IDs, signing name
// and region) while it signs; run with -race, this fails if requests share them.
func TestCachedEndpointsAreEachRequestsOwn(t *testing.T) {
	ctx := context.Background()
	cached := newCachedResolver(s3.NewDefaultEndpointResolverV2())
	p := s3.EndpointParameters{Bucket: aws.String("archive"), Region: aws.String("us-east-1"),
		Endpoint: aws.String("http://127.0.0.1:9100"), ForcePathStyle: aws.Bool(true)}
	want, err := s3.NewDefaultEndpointResolverV2().ResolveEndpoint(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				e, err := cached.ResolveEndpoint(ctx, p)
				if err != nil {
					t.Error(err)
					return
				}
				opts, _ := smithyauth.GetAuthOptions(&e.Properties)
				for _, o := range opts {
					o.SchemeID = "changed"
					o.SignerProperties.Set("signing", "changed")
				}
				e.Properties.Set("changed", true)
				e.Headers.Set("X-Changed", "1")
			}
		})
	}
	wg.Wait()
	if got, _ := cached.ResolveEndpoint(ctx, p); !reflect.DeepEqual(got, want) {
		t.Errorf("after requests changed their copies: got %+v, want %+v", got, want)
	}
}
