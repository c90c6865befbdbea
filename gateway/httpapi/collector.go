package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/labstack/echo/v4"
)

// CollectorPages renders the collector workspace. Implemented by templates.
type CollectorPages interface {
	CollectorLogin(w io.Writer, v gateway.CollectorLoginView) error
	CollectorList(w io.Writer, v gateway.CollectorListView) error
	CollectorInvoice(w io.Writer, v gateway.CollectorInvoiceView) error
	CollectorMessage(w io.Writer, v gateway.CollectorMessageView) error
	CollectorCSS() []byte
}

// CollectorDeps is what the collector workspace needs besides the API's deps.
type CollectorDeps struct {
	Collector *gateway.Collector
	Pages     CollectorPages
	// PublicURL is the gateway's external base URL. With https, cookies are Secure
	// and carry the __Host- prefix (bound to this host, path /, never sent in clear).
	PublicURL string
	// MaxAge bounds the session cookie's life, like the session's own.
	MaxAge time.Duration
}

// collectorCSP allows nothing but the workspace's own stylesheet and forms posting
// back to itself: no scripts at all, no inline styles, no third-party anything.
const collectorCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// loginFormMaxAge bounds how long a sign-in form stays usable.
const loginFormMaxAge = time.Hour

type collectorHandlers struct {
	CollectorDeps
	log    *slog.Logger
	secure bool
	origin string
}

type collectorSessionKey struct{}

type signedIn struct {
	id string
	s  gateway.CollectorSession
}

// addCollectorRoutes adds the collector workspace under /c. Every page is HTML,
// works without JavaScript, and answers another tenant's invoice exactly like a
// missing one: 404.
func addCollectorRoutes(e *echo.Echo, d Deps) {
	u, _ := url.Parse(d.Collector.PublicURL)
	h := &collectorHandlers{CollectorDeps: d.Collector, log: d.Log, secure: u != nil && u.Scheme == "https"}
	if u != nil && u.Host != "" {
		h.origin = u.Scheme + "://" + u.Host
	}
	e.GET("/c/static/collector.css", h.css, h.enabled)

	open := e.Group("/c", h.enabled, h.headers, h.sameOrigin)
	open.GET("/login", h.wrap(h.loginForm))
	open.POST("/login", h.wrap(h.login))

	c := e.Group("/c", h.enabled, h.headers, h.sameOrigin, h.requireSession)
	c.GET("", h.wrap(h.worklist))
	c.POST("/logout", h.wrap(h.logout), h.requireCSRF)
	c.GET("/search", h.wrap(h.search))
	c.GET("/invoices/:id", h.wrap(h.invoice))
	c.GET("/invoices/:id/pdf", h.wrap(h.pdf))
	c.GET("/invoices/:id/artefacts/:sha256", h.wrap(h.artefact))
	c.GET("/invoices/:id/proof.zip", h.wrap(h.bundle))
	c.POST("/invoices/:id/disputes", h.wrap(h.raiseDispute), h.requireCSRF)
	c.POST("/invoices/:id/disputes/:dispute/resolve", h.wrap(h.resolveDispute), h.requireCSRF)
	c.RouteNotFound("/*", h.wrap(func(c echo.Context) error {
		if c.Request().URL.Path == "/c/" {
			return c.Redirect(http.StatusSeeOther, "/c")
		}
		return gateway.Errorf(gateway.KindNotFound, "page not found")
	}))
}

// enabled answers 404 while the workspace is not wired (Deps.Collector unset): the
// routes exist either way, so the route table and the OpenAPI document agree.
func (h *collectorHandlers) enabled(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if h.Collector == nil || h.Pages == nil {
			return echo.ErrNotFound
		}
		return next(c)
	}
}

func (h *collectorHandlers) cookie(name string) string {
	if h.secure {
		return "__Host-" + name
	}
	return name
}

const (
	sessionCookie = "igw_session"
	loginCookie   = "igw_login"
)

func (h *collectorHandlers) setCookie(c echo.Context, name, value string, maxAge time.Duration, sameSite http.SameSite) {
	ck := &http.Cookie{Name: h.cookie(name), Value: value, Path: "/", HttpOnly: true, Secure: h.secure, SameSite: sameSite}
	if maxAge > 0 {
		ck.MaxAge = int(maxAge.Seconds())
	} else {
		ck.MaxAge = -1
	}
	c.SetCookie(ck)
}

func (h *collectorHandlers) cookieValue(c echo.Context, name string) string {
	ck, err := c.Cookie(h.cookie(name))
	if err != nil {
		return ""
	}
	return ck.Value
}

// headers keep workspace pages private and locked down.
func (h *collectorHandlers) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", collectorCSP)
		hd.Set("Cache-Control", "no-store")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Robots-Tag", "noindex, nofollow")
		return next(c)
	}
}

// sameOrigin refuses state-changing requests that a browser says came from another
// site: a second line behind the CSRF token.
func (h *collectorHandlers) sameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Method == http.MethodPost {
			if o := c.Request().Header.Get("Origin"); o != "" && o != "null" && h.origin != "" && o != h.origin {
				return h.forbidden(c)
			}
		}
		return next(c)
	}
}

// requireSession lets signed-in collectors through. Anyone else is sent to sign in
// (and back here afterwards); the cookie of an ended session is cleared.
func (h *collectorHandlers) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := h.cookieValue(c, sessionCookie)
		s, err := h.Collector.Session(c.Request().Context(), id)
		if err != nil {
			if gateway.ErrorKind(err) != gateway.KindUnauthorized {
				return h.renderError(c, err)
			}
			if id != "" {
				h.setCookie(c, sessionCookie, "", 0, http.SameSiteLaxMode)
			}
			target := "/c/login"
			if c.Request().Method == http.MethodGet {
				target += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
			}
			return c.Redirect(http.StatusSeeOther, target)
		}
		ctx := context.WithValue(c.Request().Context(), collectorSessionKey{}, signedIn{id: id, s: s})
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

func sessionOf(c echo.Context) signedIn {
	s, _ := c.Request().Context().Value(collectorSessionKey{}).(signedIn)
	return s
}

// requireCSRF checks the synchronizer token every form of a session carries.
func (h *collectorHandlers) requireCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !sessionOf(c).s.CheckCSRF(c.FormValue("csrf")) {
			return h.forbidden(c)
		}
		return next(c)
	}
}

func (h *collectorHandlers) forbidden(c echo.Context) error {
	return h.message(c, http.StatusForbidden, "Form refused",
		"This form expired or did not come from this site. Go back, reload the page and try again.")
}

// wrap turns errors of collector handlers into HTML pages: collectors are people,
// not API clients.
func (h *collectorHandlers) wrap(fn echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := fn(c); err != nil {
			return h.renderError(c, err)
		}
		return nil
	}
}

func (h *collectorHandlers) renderError(c echo.Context, err error) error {
	var ge *gateway.Error
	msg := "Something went wrong on our side. Try again; if it persists, tell your administrator."
	status, title := http.StatusInternalServerError, "Error"
	switch gateway.ErrorKind(err) {
	case gateway.KindNotFound:
		status, title, msg = http.StatusNotFound, "Not found", "There is nothing here, or it belongs to someone else."
	case gateway.KindUnavailable:
		status, title, msg = http.StatusServiceUnavailable, "Temporarily unavailable", "A service the workspace needs is not answering. Try again in a minute."
		c.Response().Header().Set("Retry-After", "5")
	case gateway.KindInvalid, gateway.KindConflict, gateway.KindUnprocessable:
		status, title = http.StatusUnprocessableEntity, "Cannot do that"
		if asGatewayError(err, &ge) {
			msg = ge.Message
			for _, f := range ge.Fields {
				msg += " " + f.Message + "."
			}
		}
		if gateway.ErrorKind(err) == gateway.KindConflict {
			status = http.StatusConflict
		}
	}
	if status >= 500 {
		h.log.ErrorContext(c.Request().Context(), "collector request failed", "route", c.Path(), "status", status, "err", err)
	}
	return h.message(c, status, title, msg)
}

func (h *collectorHandlers) message(c echo.Context, status int, title, msg string) error {
	v := gateway.CollectorMessageView{CollectorLayout: h.layout(c, title), Message: msg}
	return h.render(c, status, func(w io.Writer) error { return h.Pages.CollectorMessage(w, v) })
}

func (h *collectorHandlers) layout(c echo.Context, title string) gateway.CollectorLayout {
	s := sessionOf(c)
	return gateway.CollectorLayout{Title: title, UserEmail: s.s.Email, CSRF: s.s.CSRF}
}

func (h *collectorHandlers) render(c echo.Context, status int, fn func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := fn(&buf); err != nil {
		return gateway.Wrap(gateway.KindInternal, err, "render collector page")
	}
	return c.HTMLBlob(status, buf.Bytes())
}

func (h *collectorHandlers) css(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	c.Response().Header().Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", h.Pages.CollectorCSS())
}

// safeNext keeps the after-sign-in redirect inside the workspace: no open redirect.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.IsAbs() || u.Host != "" || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") ||
		u.Path != path.Clean(u.Path) && u.Path != "/c/" || (u.Path != "/c" && !strings.HasPrefix(u.Path, "/c/")) || strings.HasPrefix(u.Path, "/c/login") || strings.HasPrefix(u.Path, "/c/logout") {
		return "/c"
	}
	return u.RequestURI()
}

func (h *collectorHandlers) loginForm(c echo.Context) error {
	if _, err := h.Collector.Session(c.Request().Context(), h.cookieValue(c, sessionCookie)); err == nil {
		return c.Redirect(http.StatusSeeOther, safeNext(c.QueryParam("next")))
	}
	return h.showLogin(c, http.StatusOK, "", c.QueryParam("next"), "")
}

// showLogin renders the sign-in form with a fresh pre-session CSRF token, kept in a
// short-lived cookie and compared with the form's copy on submit (the form has no
// session to tie a token to yet).
func (h *collectorHandlers) showLogin(c echo.Context, status int, email, next, problem string) error {
	token, err := gateway.NewCSRFToken()
	if err != nil {
		return err
	}
	h.setCookie(c, loginCookie, token, loginFormMaxAge, http.SameSiteStrictMode)
	v := gateway.CollectorLoginView{CollectorLayout: gateway.CollectorLayout{Title: "Sign in", CSRF: token},
		Email: email, Next: safeNext(next), Error: problem}
	return h.render(c, status, func(w io.Writer) error { return h.Pages.CollectorLogin(w, v) })
}

func (h *collectorHandlers) login(c echo.Context) error {
	email, next := c.FormValue("email"), c.FormValue("next")
	want := h.cookieValue(c, loginCookie)
	got := c.FormValue("csrf")
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return h.showLogin(c, http.StatusForbidden, email, next, "The sign-in form expired or did not come from this site. Please try again.")
	}
	id, _, err := h.Collector.Login(c.Request().Context(), email, c.FormValue("password"), c.RealIP(), h.cookieValue(c, sessionCookie))
	if err != nil {
		var ge *gateway.Error
		switch gateway.ErrorKind(err) {
		case gateway.KindUnauthorized:
			return h.showLogin(c, http.StatusUnauthorized, email, next, "The e-mail or password is wrong.")
		case gateway.KindThrottled:
			if asGatewayError(err, &ge) {
				c.Response().Header().Set("Retry-After", ge.Detail["retry_after"])
				return h.showLogin(c, http.StatusTooManyRequests, email, next, ge.Message)
			}
		}
		return err
	}
	h.setCookie(c, loginCookie, "", 0, http.SameSiteStrictMode)
	h.setCookie(c, sessionCookie, id, h.MaxAge, http.SameSiteLaxMode)
	return c.Redirect(http.StatusSeeOther, safeNext(next))
}

func (h *collectorHandlers) logout(c echo.Context) error {
	if err := h.Collector.Logout(c.Request().Context(), sessionOf(c).id); err != nil {
		return err
	}
	h.setCookie(c, sessionCookie, "", 0, http.SameSiteLaxMode)
	return c.Redirect(http.StatusSeeOther, "/c/login")
}

func invoiceURL(id string) string { return "/c/invoices/" + url.PathEscape(id) }

func (h *collectorHandlers) worklist(c echo.Context) error {
	s := sessionOf(c).s
	items, err := h.Collector.Worklist(c.Request().Context(), s.TenantID)
	if err != nil {
		return err
	}
	v := gateway.CollectorListView{CollectorLayout: h.layout(c, "Call first"), Heading: "Call first",
		Intro: "Past due, money owed, and no sign that a person at the customer has opened, viewed, clicked or acknowledged the invoice. Most days overdue times amount due first."}
	for _, it := range items {
		v.Rows = append(v.Rows, gateway.SummaryRow(it, invoiceURL(it.ID)))
	}
	return h.render(c, http.StatusOK, func(w io.Writer) error { return h.Pages.CollectorList(w, v) })
}

func (h *collectorHandlers) search(c echo.Context) error {
	s := sessionOf(c).s
	q := c.QueryParam("q")
	v := gateway.CollectorListView{CollectorLayout: h.layout(c, "Search"), Heading: "Search", Searched: strings.TrimSpace(q) != ""}
	v.Query = q
	if v.Searched {
		v.Heading = "Results for “" + strings.TrimSpace(q) + "”"
	}
	status := http.StatusOK
	items, err := h.Collector.Search(c.Request().Context(), s.TenantID, q)
	switch {
	case gateway.ErrorKind(err) == gateway.KindInvalid:
		status, v.Error = http.StatusUnprocessableEntity, "Search with at most 200 characters."
	case err != nil:
		return err
	}
	for _, it := range items {
		v.Rows = append(v.Rows, gateway.SummaryRow(it, invoiceURL(it.ID)))
	}
	return h.render(c, status, func(w io.Writer) error { return h.Pages.CollectorList(w, v) })
}

// notices are the messages a redirect after a form may show, by key: the URL never
// carries text that the page would echo.
var notices = map[string]string{
	"dispute-raised":   "The dispute was recorded.",
	"dispute-resolved": "The dispute was resolved.",
}

func (h *collectorHandlers) invoice(c echo.Context) error {
	return h.showInvoice(c, http.StatusOK, "")
}

func (h *collectorHandlers) showInvoice(c echo.Context, status int, disputeError string) error {
	s := sessionOf(c).s
	f, err := h.Collector.Invoice(c.Request().Context(), s.TenantID, c.Param("id"))
	if err != nil {
		return err
	}
	base := invoiceURL(f.Record.ID)
	v := f.View(func(sha string) string { return base + "/artefacts/" + sha })
	v.CollectorLayout = h.layout(c, "Invoice "+v.Number)
	v.Notice = notices[c.QueryParam("notice")]
	v.DisputeError = disputeError
	v.DisputeURL = base + "/disputes"
	if f.Record.PDF != nil {
		v.PDFURL = base + "/pdf"
	}
	if f.BundleAvailable {
		v.BundleURL = base + "/proof.zip"
	}
	for i := range v.Disputes {
		v.Disputes[i].ResolveURL = base + "/disputes/" + url.PathEscape(v.Disputes[i].ID) + "/resolve"
	}
	return h.render(c, status, func(w io.Writer) error { return h.Pages.CollectorInvoice(w, v) })
}

// download sends evidence as an attachment: never rendered inside the workspace's
// origin, whatever its bytes are.
func download(c echo.Context, name, contentType, sha string, data []byte) error {
	hd := c.Response().Header()
	if sha != "" {
		hd.Set("X-Content-SHA256", sha)
		hd.Set("ETag", `"`+sha+`"`)
	}
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	hd.Set("Content-Length", strconv.Itoa(len(data)))
	return c.Blob(http.StatusOK, contentType, data)
}

func (h *collectorHandlers) pdf(c echo.Context) error {
	r, data, err := h.Collector.PDF(c.Request().Context(), sessionOf(c).s.TenantID, c.Param("id"))
	if err != nil {
		return err
	}
	return download(c, gateway.PDFFilename(r.Invoice.Number), "application/pdf", r.PDF.SHA256, data)
}

func (h *collectorHandlers) artefact(c echo.Context) error {
	a, data, err := h.Collector.Artefact(c.Request().Context(), sessionOf(c).s.TenantID, c.Param("id"), c.Param("sha256"))
	if err != nil {
		return err
	}
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	return download(c, a.Name, ct, a.SHA256, data)
}

func (h *collectorHandlers) bundle(c echo.Context) error {
	name, data, err := h.Collector.ProofBundle(c.Request().Context(), sessionOf(c).s.TenantID, c.Param("id"))
	if err != nil {
		return err
	}
	return download(c, name, "application/zip", "", data)
}

func (h *collectorHandlers) raiseDispute(c echo.Context) error {
	in := sessionOf(c)
	_, err := h.Collector.RaiseDispute(c.Request().Context(), in.s, c.Param("id"),
		gateway.DisputeReason(c.FormValue("reason")), c.FormValue("note"))
	if gateway.ErrorKind(err) == gateway.KindInvalid {
		return h.showInvoice(c, http.StatusUnprocessableEntity, problemText(err))
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, invoiceURL(c.Param("id"))+"?notice=dispute-raised#disputes-h")
}

func (h *collectorHandlers) resolveDispute(c echo.Context) error {
	in := sessionOf(c)
	_, err := h.Collector.ResolveDispute(c.Request().Context(), in.s, c.Param("id"), c.Param("dispute"),
		gateway.DisputeOutcome(c.FormValue("outcome")), c.FormValue("note"))
	if k := gateway.ErrorKind(err); k == gateway.KindInvalid || k == gateway.KindConflict {
		return h.showInvoice(c, http.StatusUnprocessableEntity, problemText(err))
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, invoiceURL(c.Param("id"))+"?notice=dispute-resolved#disputes-h")
}

// problemText is a gateway error's safe message with every field's message.
func problemText(err error) string {
	var ge *gateway.Error
	if !asGatewayError(err, &ge) {
		return "The request was refused."
	}
	msg := ge.Message
	for _, f := range ge.Fields {
		msg += " " + f.Field + ": " + f.Message + "."
	}
	return msg
}

func asGatewayError(err error, target **gateway.Error) bool { return errors.As(err, target) }
