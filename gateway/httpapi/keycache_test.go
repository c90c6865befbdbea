package httpapi

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
)

func TestKeyCacheSharesOneLookupAmongConcurrentMisses(t *testing.T) {
	k := newKeyCache(5*time.Second, time.Now)
	var lookups atomic.Int32
	release := make(chan struct{})
	lookup := func(context.Context) (gateway.Tenant, error) {
		lookups.Add(1)
		<-release
		return gateway.Tenant{ID: "ten_1"}, nil
	}
	var wg sync.WaitGroup
	got := make([]string, 20)
	for i := range got {
		wg.Go(func() {
			ten, err := k.resolve(context.Background(), "key", lookup)
			if err != nil {
				t.Errorf("resolve: %v", err)
			}
			got[i] = ten.ID
		})
	}
	time.Sleep(50 * time.Millisecond) // let every request miss while the look-up is out
	close(release)
	wg.Wait()
	if n := lookups.Load(); n != 1 {
		t.Errorf("look-ups = %d, want 1", n)
	}
	for i, id := range got {
		if id != "ten_1" {
			t.Errorf("request %d got tenant %q, want ten_1", i, id)
		}
	}
	if _, err := k.resolve(context.Background(), "key", func(context.Context) (gateway.Tenant, error) {
		t.Error("looked up a cached key again")
		return gateway.Tenant{}, nil
	}); err != nil {
		t.Errorf("cached resolve: %v", err)
	}
}

func TestKeyCacheDoesNotRememberAFailedLookup(t *testing.T) {
	k := newKeyCache(5*time.Second, time.Now)
	unknown := func(context.Context) (gateway.Tenant, error) {
		return gateway.Tenant{}, gateway.Errorf(gateway.KindNotFound, "no such key")
	}
	if _, err := k.resolve(context.Background(), "key", unknown); gateway.ErrorKind(err) != gateway.KindNotFound {
		t.Fatalf("err = %v, want not found", err)
	}
	// The key is created now: it must work at once.
	ten, err := k.resolve(context.Background(), "key", func(context.Context) (gateway.Tenant, error) {
		return gateway.Tenant{ID: "ten_new"}, nil
	})
	if err != nil || ten.ID != "ten_new" {
		t.Errorf("after the key was created: tenant %q, err %v; want ten_new", ten.ID, err)
	}
}

func TestKeyCacheWaiterLeavesWhenItsRequestEnds(t *testing.T) {
	k := newKeyCache(5*time.Second, time.Now)
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := k.resolve(ctx, "key", func(context.Context) (gateway.Tenant, error) {
		<-release
		return gateway.Tenant{ID: "ten_1"}, nil
	})
	if gateway.ErrorKind(err) != gateway.KindUnavailable {
		t.Errorf("err = %v, want unavailable", err)
	}
}
