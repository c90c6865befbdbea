package gateway

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ListQuery selects one page of a tenant's invoices, newest first.
type ListQuery struct {
	Limit         int
	StartingAfter string // an invoice id: the page starts after it
	CustomerID    string
	Status        Status
	Number        string
	Overdue       bool // due date passed and something is still due
	CreatedGTE    time.Time
	CreatedLTE    time.Time
}

var listParams = []string{"limit", "starting_after", "customer_id", "status", "number", "overdue",
	"created[gte]", "created[lte]", "created_after", "created_before"}

var statuses = []Status{StatusQueued, StatusSending, StatusDeferred, StatusSent, StatusDelivered, StatusFailed, StatusBounced, StatusUnknownOutcome}

// ParseListQuery reads the query string of GET /v1/invoices. Every bad parameter is
// reported at once; unknown parameters are refused so that a misspelt filter does
// not silently return everything.
func ParseListQuery(v url.Values) (ListQuery, error) {
	q := ListQuery{Limit: 10}
	var p Problems
	for name, vals := range v {
		switch {
		case !slices.Contains(listParams, name):
			p.Add(name, "unknown_parameter", fmt.Sprintf("%q is not a parameter of this list; use %s", name, strings.Join(listParams, ", ")))
		case len(vals) > 1:
			p.Add(name, "repeated", name+" may be given once")
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			p.Add("limit", "out_of_range", "limit must be a whole number from 1 to 100")
		} else {
			q.Limit = n
		}
	}
	if s := v.Get("starting_after"); s != "" {
		if !ValidID("inv", s) {
			p.Add("starting_after", "invalid_id", "starting_after must be an invoice id (inv_...) from a previous page")
		}
		q.StartingAfter = s
	}
	q.CustomerID = v.Get("customer_id")
	q.Number = v.Get("number")
	if len(q.CustomerID) > 64 || len(q.Number) > 64 {
		p.Add("customer_id", "too_long", "customer_id and number are at most 64 characters")
	}
	if s := v.Get("status"); s != "" {
		if !slices.Contains(statuses, Status(s)) {
			p.Add("status", "invalid_status", fmt.Sprintf("status must be one of %v", statuses))
		}
		q.Status = Status(s)
	}
	switch v.Get("overdue") {
	case "":
	case "true":
		q.Overdue = true
	case "false":
	default:
		p.Add("overdue", "invalid_boolean", "overdue must be true or false")
	}
	q.CreatedGTE = parseListTime(&p, v, "created[gte]", "created_after", false)
	q.CreatedLTE = parseListTime(&p, v, "created[lte]", "created_before", true)
	if !q.CreatedGTE.IsZero() && !q.CreatedLTE.IsZero() && q.CreatedLTE.Before(q.CreatedGTE) {
		p.Add("created[lte]", "before_start", "created[lte] must not be before created[gte]")
	}
	if err := p.Err("the list query has invalid parameters"); err != nil {
		return ListQuery{}, err
	}
	return q, nil
}

// parseListTime accepts an RFC 3339 time or a date (the day's start, or for an upper
// bound its end).
func parseListTime(p *Problems, v url.Values, name, alias string, endOfDay bool) time.Time {
	s, field := v.Get(name), name
	if s == "" {
		s, field = v.Get(alias), alias
	}
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if endOfDay {
			t = t.Add(24*time.Hour - time.Nanosecond)
		}
		return t
	}
	p.Add(field, "invalid_time", field+" must be an RFC 3339 time like 2026-11-23T00:00:00Z or a date like 2026-11-23")
	return time.Time{}
}
