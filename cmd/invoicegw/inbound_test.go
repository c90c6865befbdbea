package main

import (
	"strings"
	"testing"
)

func TestReportsConfigValidate(t *testing.T) {
	ok := func() ReportsConfig {
		return ReportsConfig{InboundMaxBytes: "10M", SNSCertHosts: []string{"sns.*.amazonaws.com"}}
	}
	tests := []struct {
		name   string
		change func(*ReportsConfig)
		domain string
		want   string // part of the error naming the variable; "" is valid
	}{
		{"the defaults are valid", func(*ReportsConfig) {}, "", ""},
		{"a listener needs a bounce domain", func(c *ReportsConfig) { c.InboundSMTPAddr = ":25" }, "", "INVOICEGW_BOUNCE_DOMAIN"},
		{"a listener with a bounce domain is valid", func(c *ReportsConfig) { c.InboundSMTPAddr = ":25" }, "gw.test", ""},
		{"a bad size is named", func(c *ReportsConfig) { c.InboundMaxBytes = "lots" }, "", "INVOICEGW_INBOUND_MAX_BYTES"},
		{"an SNS host with a scheme is named", func(c *ReportsConfig) { c.SNSCertHosts = []string{"https://sns.x"} }, "", "INVOICEGW_SNS_CERT_HOSTS"},
		{"a Postmark user needs its password", func(c *ReportsConfig) { c.PostmarkUser = "pm" }, "", "INVOICEGW_POSTMARK_WEBHOOK_PASSWORD"},
		{"a SendGrid key that is not a key is named", func(c *ReportsConfig) { c.SendGridPublicKey = "bm90IGEga2V5" }, "", "INVOICEGW_SENDGRID_PUBLIC_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.change(&c)
			err := c.validate(tt.domain)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
