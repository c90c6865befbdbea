package s3client

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

// maxCachedEndpoints bounds the cache; the archive uses one bucket, tests one each.
const maxCachedEndpoints = 256

// cachedResolver remembers the SDK's endpoint answers. The S3 endpoint rules run twice
// for every request (once for the auth scheme, once for the URL) and cost about a
// tenth of a millisecond each time, yet for one client their answer depends only on
// the bucket. The rules of this SDK read neither Key, Prefix nor CopySource, so those
// are left out of the cache key (TestCachedEndpointsEqualFreshOnes checks that an
// answer for one key is the answer for another). The SDK writes into the answer's
// auth options while signing, so every request gets its own copy.
type cachedResolver struct {
	next s3.EndpointResolverV2
	mu   sync.Mutex
	seen map[endpointKey]smithyendpoints.Endpoint
}

// endpointKey is EndpointParameters without the per-object fields; a nil *bool and
// false differ for the rules, so each flag has three values.
type endpointKey struct {
	bucket, region, endpoint string
	hasBucket, hasRegion     bool
	hasEndpoint              bool
	flags                    [11]int8
}

func newCachedResolver(next s3.EndpointResolverV2) *cachedResolver {
	return &cachedResolver{next: next, seen: make(map[endpointKey]smithyendpoints.Endpoint)}
}

func (r *cachedResolver) ResolveEndpoint(ctx context.Context, p s3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	k := keyOf(p)
	r.mu.Lock()
	e, ok := r.seen[k]
	r.mu.Unlock()
	if ok {
		return cloneEndpoint(e), nil
	}
	e, err := r.next.ResolveEndpoint(ctx, p)
	if err != nil {
		return e, err
	}
	r.mu.Lock()
	if len(r.seen) >= maxCachedEndpoints {
		clear(r.seen)
	}
	r.seen[k] = cloneEndpoint(e)
	r.mu.Unlock()
	return e, nil
}

// cloneEndpoint copies everything of e that a request may change: the headers, the
// properties and the auth options in them with their own properties.
func cloneEndpoint(e smithyendpoints.Endpoint) smithyendpoints.Endpoint {
	c := smithyendpoints.Endpoint{URI: e.URI, Headers: e.Headers.Clone()}
	c.Properties.SetAll(&e.Properties)
	if opts, ok := smithyauth.GetAuthOptions(&e.Properties); ok {
		copies := make([]*smithyauth.Option, len(opts))
		for i, o := range opts {
			oc := &smithyauth.Option{SchemeID: o.SchemeID}
			oc.IdentityProperties.SetAll(&o.IdentityProperties)
			oc.SignerProperties.SetAll(&o.SignerProperties)
			copies[i] = oc
		}
		smithyauth.SetAuthOptions(&c.Properties, copies)
	}
	return c
}

func keyOf(p s3.EndpointParameters) endpointKey {
	k := endpointKey{}
	if p.Bucket != nil {
		k.bucket, k.hasBucket = *p.Bucket, true
	}
	if p.Region != nil {
		k.region, k.hasRegion = *p.Region, true
	}
	if p.Endpoint != nil {
		k.endpoint, k.hasEndpoint = *p.Endpoint, true
	}
	for i, b := range []*bool{p.UseFIPS, p.UseDualStack, p.ForcePathStyle, p.Accelerate, p.UseGlobalEndpoint,
		p.UseObjectLambdaEndpoint, p.DisableAccessPoints, p.DisableMultiRegionAccessPoints, p.UseArnRegion,
		p.UseS3ExpressControlEndpoint, p.DisableS3ExpressSessionAuth} {
		switch {
		case b == nil:
		case *b:
			k.flags[i] = 2
		default:
			k.flags[i] = 1
		}
	}
	return k
}
