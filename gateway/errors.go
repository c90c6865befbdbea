package gateway

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an Error so that every adapter can translate it once: the HTTP
// layer into a status code, the job worker into retry-or-give-up.
type Kind string

const (
	KindInvalid       Kind = "invalid"       // the caller sent something wrong; fixing the request helps
	KindNotFound      Kind = "not_found"     // no such object for this tenant
	KindConflict      Kind = "conflict"      // the object exists or is in a state that forbids this
	KindUnauthorized  Kind = "unauthorized"  // no or bad credentials
	KindUnprocessable Kind = "unprocessable" // well-formed but cannot be acted on (e.g. no terms)
	KindUnavailable   Kind = "unavailable"   // a dependency is down; retrying later helps
	KindInternal      Kind = "internal"      // a bug or an unexpected failure
)

// FieldError names one bad field of a request with a JSON-path-like pointer
// ("lines[2].unit_price"), a stable machine code and a message saying how to fix it.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is the one application error type. Message is safe to show a client; Err is
// the cause, for logs only.
type Error struct {
	Kind    Kind
	Message string
	Fields  []FieldError
	// Detail carries structured facts a client may need to act (e.g. the id of an
	// existing invoice on a conflict). Safe to show.
	Detail map[string]string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Kind))
	b.WriteString(": ")
	b.WriteString(e.Message)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error of the given kind with a client-safe message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an Error of the given kind around a cause that is logged, not shown.
func Wrap(kind Kind, err error, message string) *Error {
	return &Error{Kind: kind, Message: message, Err: err}
}

// ErrorKind returns the kind of the first *Error in err's chain, or KindInternal.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Problems collects field errors during validation so that all of them are reported
// at once.
type Problems []FieldError

func (p *Problems) Add(field, code, message string) {
	*p = append(*p, FieldError{Field: field, Code: code, Message: message})
}

// Err returns nil when nothing was added, else a KindInvalid error listing every field.
func (p Problems) Err(message string) error {
	if len(p) == 0 {
		return nil
	}
	return &Error{Kind: KindInvalid, Message: message, Fields: p}
}
