package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/storage/postgres"
	"github.com/invoicegw/invoicegw/storage/postgres/pgtest"
	"github.com/invoicegw/invoicegw/tracking/dsn"
)

func TestReportsList(t *testing.T) {
	ctx := context.Background()
	pool, dbURL := pgtest.MustOpen(t)
	db, err := postgres.New(pool, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, outcome := range []string{gateway.ReportUnknown, gateway.ReportUnclassified} {
		rep := &gateway.InboundReport{ID: gateway.NewID("rpt"), Source: "smtp", DedupKey: "smtp:x:" + outcome, Outcome: outcome,
			Kind: dsn.KindBounced, Token: "tok" + string(rune('a'+i)), RcptTo: "bounce+tok@gw.test",
			Raw: &gateway.Object{Key: "reports/x.eml", SHA256: "abc", Size: 10}, Summary: &dsn.Report{Kind: dsn.KindBounced, Status: "5.1.1"},
			ReceivedAt: time.Now().Add(time.Duration(i) * time.Second)}
		if _, err := db.SaveReport(ctx, rep, nil, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"INVOICEGW_DATABASE_URL": dbURL}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"reports", "list", "--limit", "10"}, func(k string) string { return env[k] }, nil, &out, &errOut); err != nil {
		t.Fatalf("reports list: %v %s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), out.String())
	}
	var first gateway.InboundReport
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Outcome != gateway.ReportUnclassified || first.Raw == nil || first.Raw.Key != "reports/x.eml" || first.Summary.Status != "5.1.1" {
		t.Errorf("got newest first %+v, want the unclassified report with its raw key and summary", first)
	}
}
