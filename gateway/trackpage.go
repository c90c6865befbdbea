package gateway

// PageForm is the state of the hosted page's two forms: where they post, the form
// token, what was typed, what went wrong and what was done.
type PageForm struct {
	ConfirmURL string
	QueryURL   string
	CSRF       string
	Name       string
	Message    string
	// Errors by field ("name", "message", "csrf"), and General for the whole form.
	Errors  map[string]string
	General string
	// Done is "acknowledged" or "query" after a successful post, else empty.
	Done string
}
