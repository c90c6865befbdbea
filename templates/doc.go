// Package templates holds the text the gateway shows to people: the invoice e-mail
// (subject, plain text and HTML), the hosted invoice page and its "not found" page.
//
// The template files are embedded in the binary and parsed once by New, so a broken
// template stops start-up instead of the first delivery. Every template takes a typed
// struct from package gateway; HTML output goes through html/template, which escapes
// whatever the accounting system sent us for the context it lands in.
package templates
