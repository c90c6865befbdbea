package dsn

import (
	"os"
	"path/filepath"
	"testing"
)

// Every file in testdata/ has its expected reading here. The postfix-* files are
// real reports captured from postfix 3.7 (see /work/shared/notes/postfix-dsn.md);
// the others are hand-written after each server family's published format.
func TestParseCorpus(t *testing.T) {
	tests := []struct {
		file string
		want Report
	}{
		{"postfix-delivered.eml", Report{Kind: KindDelivered, Format: FormatDSN, Status: "2.0.0", Recipient: "alice@customer.test",
			ReportingMTA: "mta.test", QueueID: "2D86FD808B", OriginalMessageID: "deliv2@gw.test",
			Diagnostic: "delivery via virtual: delivered to maildir"}},
		{"postfix-delivered-global-smtputf8.eml", Report{Kind: KindDelivered, Format: FormatDSN, Status: "2.0.0", Recipient: "alice@customer.test",
			ReportingMTA: "mta.test", QueueID: "894BBD8080", OriginalMessageID: "deliv1@gw.test",
			Diagnostic: "delivery via virtual: delivered to maildir"}},
		{"postfix-failed.eml", Report{Kind: KindBounced, Bounce: BounceHard, Format: FormatDSN, Status: "5.1.1",
			Recipient: "nobody@customer.test", ReportingMTA: "mta.test", QueueID: "3502BD808B", OriginalMessageID: "fail1@gw.test",
			Diagnostic: `unknown user: "nobody@customer.test"`}},
		{"postfix-failed-local-unknown.eml", Report{Kind: KindBounced, Bounce: BounceHard, Format: FormatDSN, Status: "5.1.1",
			Recipient: "ghost@mta.test", ReportingMTA: "mta.test", QueueID: "3C273D808E", OriginalMessageID: "fail2@gw.test",
			Diagnostic: `unknown user: "ghost"`}},
		{"postfix-failed-remote-550.eml", Report{Kind: KindBounced, Bounce: BounceHard, Format: FormatDSN, Status: "5.1.1",
			Recipient: "eve@reject.test", ReportingMTA: "mta.test", QueueID: "459D7D80A5", RemoteMTA: "127.0.0.1",
			OriginalMessageID: "rfail2@gw.test", Diagnostic: "550 5.1.1 no such bounce address"}},
		{"postfix-delayed.eml", Report{Kind: KindDelayed, Format: FormatDSN, Status: "4.4.1", Recipient: "carol@slow.test",
			ReportingMTA: "mta.test", QueueID: "AF97CD8095", OriginalMessageID: "delay1@gw.test",
			Diagnostic: "connect to 127.0.0.1[127.0.0.1]:2526: Connection refused"}},
		{"postfix-relayed.eml", Report{Kind: KindRelayed, Format: FormatDSN, Status: "2.0.0", Recipient: "carol@slow.test",
			ReportingMTA: "mta.test", QueueID: "8CC52D80DC", RemoteMTA: "127.0.0.1", OriginalMessageID: "relay1@gw.test",
			Diagnostic: "250 2.0.0 OK: queued"}},
		{"dsn-failed-soft-4xx.eml", Report{Kind: KindBounced, Bounce: BounceSoft, Format: FormatDSN, Status: "4.4.7",
			Recipient: "busy@other.test", ReportingMTA: "mx.other.test", RemoteMTA: "mx.busy.test",
			OriginalMessageID: "dlv_soft@gw.test", Diagnostic: "451 4.4.7 try again later"}},
		{"dsn-envid-failed.eml", Report{Kind: KindBounced, Bounce: BounceHard, Format: FormatDSN, Status: "5.2.2",
			Recipient: "jane@final.test", ReportingMTA: "mx.forwarder.test", EnvelopeID: "dlv_06h4366jthwjqctnczc6rzdkb4",
			Diagnostic: "552 5.2.2 mailbox full"}},
		{"office365-ndr-dsn.eml", Report{Kind: KindBounced, Bounce: BounceHard, Format: FormatDSN, Status: "5.1.10",
			Recipient: "ap@contoso.test", ReportingMTA: "AM0PR01MB1234.eurprd01.prod.outlook.test", OriginalMessageID: "dlv_o365@gw.test",
			Diagnostic: "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"}},
		{"mdn-displayed.eml", Report{Kind: KindReadReceipt, Format: FormatMDN, Recipient: "jane.doe@globex.test",
			OriginalMessageID: "dlv_mdn@gw.test", Disposition: "manual-action/MDN-sent-manually; displayed",
			ReportingUA: "globex-pc1; Thunderbird 128.5.0"}},
		{"mdn-deleted.eml", Report{Kind: KindReadReceipt, Format: FormatMDN, Recipient: "jane.doe@globex.test",
			OriginalMessageID: "dlv_mdn@gw.test", Disposition: "automatic-action/MDN-sent-automatically; deleted",
			ReportingUA: "Microsoft Outlook 16.0"}},
		{"qmail-hard.eml", Report{Kind: KindBounced, Bounce: BounceHard, Format: "text/qmail", Status: "5.1.1",
			Recipient: "jane.doe@oldhost.test", Diagnostic: "Sorry, no mailbox here by that name. (#5.1.1)"}},
		{"qmail-remote-soft.eml", Report{Kind: KindBounced, Bounce: BounceSoft, Format: "text/qmail", Status: "4.2.2",
			Recipient: "ap@full.test", Diagnostic: "Remote host said: 452 4.2.2 Mailbox full"}},
		{"exim-hard.eml", Report{Kind: KindBounced, Bounce: BounceHard, Format: "text/exim", Status: "5.1.1",
			Recipient: "bob@exim.test", Diagnostic: "550 5.1.1 <bob@exim.test>: Recipient address rejected: User unknown"}},
		{"exim-delay.eml", Report{Kind: KindDelayed, Format: "text/exim", Status: "4.7.1",
			Recipient: "slow@exim.test", Diagnostic: "451 4.7.1 Greylisted, please try again later"}},
		{"exchange-ndr-text.eml", Report{Kind: KindBounced, Bounce: BounceHard, Format: "text/exchange", Status: "5.1.10",
			Recipient:  "finance@corp.exchange.test",
			Diagnostic: "#550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup ##"}},
		{"gmail-text-hard.eml", Report{Kind: KindBounced, Bounce: BounceHard, Format: "text/gmail", Status: "5.1.1",
			Recipient:  "someone.gone@gmail.test",
			Diagnostic: "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. d2-20020a05 - gsmtp"}},
		{"gmail-text-delay.eml", Report{Kind: KindDelayed, Format: "text/gmail", Status: "4.4.2", Recipient: "ar@slowcorp.test",
			Diagnostic: "421 4.4.2 mx.slowcorp.test Error: timeout exceeded"}},
		{"yahoo-hard.eml", Report{Kind: KindBounced, Bounce: BounceHard, Format: "text/yahoo", Recipient: "closed.account@yahoo.test",
			Diagnostic: "554: delivery error: dd This user doesn't have a yahoo.test account (closed.account@yahoo.test) [0] - mta1001.mail.gq1.yahoo.com"}},
		{"sendmail-old-plain.eml", Report{Kind: KindBounced, Bounce: BounceHard, Format: "text/sendmail", Recipient: "accounts@legacy.test",
			Diagnostic: "<<< 550 <accounts@legacy.test>... User unknown"}},
		{"sendmail-warning-delay.eml", Report{Kind: KindDelayed, Format: "text/sendmail", Recipient: "billing@legacy.test"}},
		{"generic-nocode-quota.eml", Report{Kind: KindBounced, Bounce: BounceSoft, Format: "text/generic", Recipient: "small@tiny.test"}},
		{"autoreply-unknown.eml", Report{Kind: KindUnknown, Format: "text/generic"}},
	}
	files, _ := filepath.Glob("testdata/*.eml")
	if len(files) != len(tests) {
		t.Errorf("testdata has %d samples, the table %d: every sample needs its expected event", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			check := func(name, got, want string) {
				if got != want {
					t.Errorf("%s: got %q, want %q", name, got, want)
				}
			}
			check("kind", string(got.Kind), string(tt.want.Kind))
			check("bounce", got.Bounce, tt.want.Bounce)
			check("format", got.Format, tt.want.Format)
			check("status", got.Status, tt.want.Status)
			check("recipient", got.Recipient, tt.want.Recipient)
			check("reporting mta", got.ReportingMTA, tt.want.ReportingMTA)
			check("queue id", got.QueueID, tt.want.QueueID)
			check("envelope id", got.EnvelopeID, tt.want.EnvelopeID)
			check("remote mta", got.RemoteMTA, tt.want.RemoteMTA)
			check("message id", got.OriginalMessageID, tt.want.OriginalMessageID)
			check("diagnostic", got.Diagnostic, tt.want.Diagnostic)
			check("disposition", got.Disposition, tt.want.Disposition)
			check("reporting ua", got.ReportingUA, tt.want.ReportingUA)
		})
	}
}

func TestDisplayed(t *testing.T) {
	tests := []struct {
		disp string
		want bool
	}{
		{"manual-action/MDN-sent-manually; displayed", true},
		{"automatic-action/MDN-sent-automatically; displayed/warning", true},
		{"automatic-action/MDN-sent-automatically; deleted", false},
		{"manual-action/MDN-sent-manually;processed", false},
		{"displayed", false},
	}
	for _, tt := range tests {
		r := Report{Kind: KindReadReceipt, Disposition: tt.disp}
		if got := r.Displayed(); got != tt.want {
			t.Errorf("Displayed(%q): got %v, want %v", tt.disp, got, tt.want)
		}
	}
}

func TestParseRejectsNonMessages(t *testing.T) {
	if _, err := Parse([]byte("\x00\x01 no header here\r\n")); err == nil {
		t.Error("got no error for bytes that are not a message")
	}
}

// FuzzParse feeds arbitrary bytes, seeded with the corpus: the parser faces the
// Internet and must never panic or hang.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, p := range files {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := Parse(raw)
		if err != nil {
			return
		}
		switch r.Kind {
		case KindDelivered, KindRelayed, KindDelayed, KindBounced, KindReadReceipt, KindUnknown:
		default:
			t.Fatalf("kind %q is not one of the known kinds", r.Kind)
		}
		if r.Kind == KindBounced && r.Bounce != BounceHard && r.Bounce != BounceSoft {
			t.Fatalf("bounce without hard/soft: %q", r.Bounce)
		}
	})
}

// BenchmarkParse reads the real postfix failure report: what one inbound DSN costs.
func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"postfix-failed-remote-550.eml", "exim-hard.eml"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
