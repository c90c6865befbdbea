package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/tracking"
	"github.com/labstack/echo/v4"
)

// formBodyLimit bounds the hosted page's form posts: a name and a 4000-character query.
const formBodyLimit = "64K"

func hitOf(c echo.Context) gateway.Hit {
	r := c.Request()
	return gateway.Hit{Method: r.Method, UserAgent: gateway.CleanUserAgent(r.UserAgent()), IP: c.RealIP(), Prefetch: isPrefetch(r.Header)}
}

// isPrefetch recognises the headers browsers and proxies send on speculative loads.
func isPrefetch(h http.Header) bool {
	for _, name := range []string{"Purpose", "Sec-Purpose", "X-Purpose", "X-Moz"} {
		v := strings.ToLower(h.Get(name))
		if strings.Contains(v, "prefetch") || strings.Contains(v, "preview") {
			return true
		}
	}
	return false
}

// pixel always answers with the image, whatever the token: a broken image in an
// e-mail helps nobody, and the answer must not reveal which tokens exist. When the
// hit cannot be stored it is still the image, but with 503: a 2xx promises the hit
// was recorded.
func (h *handlers) pixel(c echo.Context) error {
	token := strings.TrimSuffix(c.Param("file"), ".gif")
	status := http.StatusOK
	if err := h.Tracker.Open(c.Request().Context(), token, hitOf(c)); err != nil {
		h.Log.ErrorContext(c.Request().Context(), "pixel hit not recorded", "err", err)
		status = http.StatusServiceUnavailable
	}
	hd := c.Response().Header()
	hd.Set("Cache-Control", "no-store, no-cache, must-revalidate, private")
	hd.Set("Pragma", "no-cache")
	return c.Blob(status, tracking.PixelContentType, tracking.PixelGIF())
}

// click records the hit and redirects to the hosted page of the same delivery, and
// nowhere else: there is no redirect target in the URL to abuse.
func (h *handlers) click(c echo.Context) error {
	token := c.Param("token")
	target, err := h.Tracker.Click(c.Request().Context(), token, hitOf(c))
	if err != nil {
		return h.notFoundPage(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	if target == "" {
		// The honeypot: only machines get here, and they get nothing to follow.
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// pageHeaders keep the hosted page private: not cached by proxies, no referrer
// leaking the token, no third-party anything.
func pageHeaders(c echo.Context) {
	hd := c.Response().Header()
	hd.Set("Cache-Control", "no-store, private")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Robots-Tag", "noindex, nofollow")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

func (h *handlers) page(c echo.Context) error {
	token := c.Param("token")
	pv, err := h.Tracker.Page(c.Request().Context(), token, hitOf(c))
	if err != nil {
		return h.notFoundPage(c, err)
	}
	form := gateway.PageForm{}
	switch c.QueryParam("done") {
	case "acknowledged", "query":
		form.Done = c.QueryParam("done")
	}
	return h.renderPage(c, http.StatusOK, token, pv, form)
}

func (h *handlers) renderPage(c echo.Context, status int, token string, pv *gateway.PageView, form gateway.PageForm) error {
	base := "/i/" + url.PathEscape(token)
	form.ConfirmURL, form.QueryURL, form.CSRF = base+"/confirm", base+"/query", pv.CSRF
	data := pv.Record.Page(base + "/pdf")
	data.Form = form
	var buf bytes.Buffer
	if err := h.Pages.Page(&buf, data); err != nil {
		return gateway.Wrap(gateway.KindInternal, err, "render hosted page")
	}
	pageHeaders(c)
	return c.HTMLBlob(status, buf.Bytes())
}

func (h *handlers) download(c echo.Context) error {
	r, data, err := h.Tracker.Download(c.Request().Context(), c.Param("token"), hitOf(c))
	if err != nil {
		return h.notFoundPage(c, err)
	}
	pageHeaders(c)
	return writePDF(c, r, data, "attachment")
}

// confirm and query take the hosted page's forms. A GET never gets here; the form
// token, the Origin check and the classifier keep other sites and machines out.
func (h *handlers) confirm(c echo.Context) error { return h.form(c, false) }
func (h *handlers) query(c echo.Context) error   { return h.form(c, true) }

func (h *handlers) form(c echo.Context, isQuery bool) error {
	token := c.Param("token")
	ctx := c.Request().Context()
	f := gateway.Form{CSRF: c.FormValue("csrf"), Name: c.FormValue("name"), Message: c.FormValue("message")}
	var err error
	switch {
	case !sameOrigin(c.Request()):
		err = gateway.Errorf(gateway.KindUnprocessable, "this form can only be sent from the invoice page itself")
	case isQuery:
		err = h.Tracker.Query(ctx, token, hitOf(c), f)
	default:
		err = h.Tracker.Acknowledge(ctx, token, hitOf(c), f)
	}
	if err == nil {
		done := "acknowledged"
		if isQuery {
			done = "query"
		}
		return c.Redirect(http.StatusSeeOther, "/i/"+url.PathEscape(token)+"?done="+done)
	}
	form := gateway.PageForm{Name: f.Name, Message: f.Message, Errors: map[string]string{}}
	var ge *gateway.Error
	status := http.StatusUnprocessableEntity
	switch kind := gateway.ErrorKind(err); {
	case kind == gateway.KindNotFound:
		return h.notFoundPage(c, err)
	case kind == gateway.KindInvalid && errors.As(err, &ge):
		for _, fe := range ge.Fields {
			form.Errors[fe.Field] = fe.Message
		}
		if m, ok := form.Errors["csrf"]; ok {
			form.General = m
		}
	case kind == gateway.KindUnprocessable && errors.As(err, &ge):
		status, form.General = http.StatusForbidden, ge.Message
	default:
		return err
	}
	if isQuery {
		form.Errors["form"] = "query"
	} else {
		form.Errors["form"] = "confirm"
	}
	pv, perr := h.Tracker.PageAgain(ctx, token)
	if perr != nil {
		return h.notFoundPage(c, perr)
	}
	return h.renderPage(c, status, token, pv, form)
}

// sameOrigin refuses cross-site form posts by the browser's own word (Sec-Fetch-Site,
// Origin); requests without those headers rely on the form token alone. The page's
// no-referrer policy makes browsers send "Origin: null" for its own posts, so null
// proves nothing either way.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s == "cross-site" || s == "same-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// notFoundPage answers recipients with a readable page instead of a problem
// document; other errors go to the central handler.
func (h *handlers) notFoundPage(c echo.Context, err error) error {
	if gateway.ErrorKind(err) != gateway.KindNotFound {
		return err
	}
	var buf bytes.Buffer
	if err := h.Pages.NotFound(&buf); err != nil {
		return gateway.Wrap(gateway.KindInternal, err, "render not-found page")
	}
	pageHeaders(c)
	return c.HTMLBlob(http.StatusNotFound, buf.Bytes())
}

// trackingSettingsRequest is the PUT body; omitted numbers keep their defaults.
type trackingSettingsRequest struct {
	PrivacyMode            *gateway.PrivacyMode `json:"privacy_mode"`
	RawRetentionDays       *int                 `json:"raw_retention_days"`
	LinkExpiryDaysAfterDue *int                 `json:"link_expiry_days_after_due"`
}

func (h *handlers) getTrackingSettings(c echo.Context) error {
	s, err := h.Tracker.Settings(c.Request().Context(), tenantOf(c).ID)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, s)
}

func (h *handlers) putTrackingSettings(c echo.Context) error {
	var req trackingSettingsRequest
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return gateway.Wrap(gateway.KindMalformed, err, "the body must be a JSON object with privacy_mode, raw_retention_days and link_expiry_days_after_due: "+err.Error())
	}
	s := gateway.DefaultTrackingSettings()
	var p gateway.Problems
	if req.PrivacyMode == nil {
		p.Add("privacy_mode", "required", `choose "off", "anonymous" or "full"`)
	} else {
		s.PrivacyMode = *req.PrivacyMode
	}
	if req.RawRetentionDays != nil {
		s.RawRetentionDays = *req.RawRetentionDays
	}
	if req.LinkExpiryDaysAfterDue != nil {
		s.LinkExpiryDaysAfterDue = *req.LinkExpiryDaysAfterDue
	}
	if err := s.Validate(); err != nil {
		var ge *gateway.Error
		if errors.As(err, &ge) {
			p = append(p, ge.Fields...)
		}
	}
	if err := p.Err("the tracking settings have invalid fields"); err != nil {
		return err
	}
	out, err := h.Tracker.SetSettings(c.Request().Context(), tenantOf(c).ID, s)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, out)
}

type revokeResponse struct {
	DeliveryID string    `json:"delivery_id"`
	RevokedAt  time.Time `json:"revoked_at"`
}

func (h *handlers) revokeLinks(c echo.Context) error {
	at, err := h.Tracker.RevokeLinks(c.Request().Context(), tenantOf(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, revokeResponse{DeliveryID: c.Param("id"), RevokedAt: at})
}

func (h *handlers) invoiceTracking(c echo.Context) error {
	e, err := h.Tracker.Engagement(c.Request().Context(), tenantOf(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, e)
}
