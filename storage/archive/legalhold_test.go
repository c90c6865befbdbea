package archive_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/storage/archive/archivetest"
	"github.com/invoicegw/invoicegw/storage/archive/internal/s3client"
)

func TestLegalHoldProtectsAnInvoicesObjectsUntilReleased(t *testing.T) {
	t.Parallel()
	cfg := archivetest.ObjectLockConfig(t)
	s, err := archive.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const prefix = "tenants/ten_1/invoices/inv_1/"
	keys := []string{prefix + "invoice.pdf", prefix + "disputes/dsp_1/1-note.pdf", "tenants/ten_1/invoices/inv_2/invoice.pdf"}
	for _, k := range keys {
		if err := s.Put(ctx, k, "application/pdf", []byte("%PDF "+k)); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	if err := s.SetLegalHold(ctx, prefix, true); err != nil {
		t.Fatalf("hold: %v", err)
	}
	for i, want := range []bool{true, true, false} {
		if got, err := s.LegalHold(ctx, keys[i]); err != nil || got != want {
			t.Errorf("legal hold on %s = %v (%v), want %v", keys[i], got, err, want)
		}
	}
	client := s3client.New(cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey)
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &cfg.Bucket, Key: &keys[0]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &cfg.Bucket, Key: &keys[0], VersionId: head.VersionId}); err == nil {
		t.Fatal("deleting a held object version succeeded, want it refused")
	}
	if err := s.SetLegalHold(ctx, prefix, false); err != nil {
		t.Fatalf("release: %v", err)
	}
	if got, _ := s.LegalHold(ctx, keys[0]); got {
		t.Error("hold still on after release")
	}
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &cfg.Bucket, Key: &keys[0], VersionId: head.VersionId}); err != nil {
		t.Errorf("deleting a released object version: %v", err)
	}
}

func TestLegalHoldDoesNothingWithoutObjectLock(t *testing.T) {
	t.Parallel()
	s := archivetest.MustOpen(t)
	ctx := t.Context()
	if err := s.Put(ctx, "tenants/t/invoices/i/invoice.pdf", "application/pdf", []byte("%PDF")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLegalHold(ctx, "tenants/t/invoices/i/", true); err != nil {
		t.Errorf("hold on a plain bucket: %v, want no-op", err)
	}
	if on, err := s.LegalHold(ctx, "tenants/t/invoices/i/invoice.pdf"); err != nil || on {
		t.Errorf("legal hold on a plain bucket's object = %v (%v), want off", on, err)
	}
}
