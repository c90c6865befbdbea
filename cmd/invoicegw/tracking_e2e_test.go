package main

import (
	"testing"
)

// setTracking chooses the tenant's privacy mode through the settings API.
func (g *gw) setTracking(key, mode string) {
	g.t.Helper()
	r := g.do("PUT", "/v1/settings/tracking", key, "application/json", `{"privacy_mode": "`+mode+`"}`)
	if r.status != 200 {
		g.t.Fatalf("PUT /v1/settings/tracking = %d %s", r.status, r.body)
	}
}

var _ = testing.Short

// visibleLink returns the submatch of the last tracked link in the HTML e-mail: the
// one a person copies or clicks (the first is the hidden honeypot).
func visibleLink(html string) []string {
	all := linkRE.FindAllStringSubmatch(html, -1)
	if len(all) == 0 {
		return nil
	}
	return all[len(all)-1]
}
