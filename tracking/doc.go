// Package tracking holds the mechanics of delivery tracking that do not depend on how
// the gateway serves or stores them: opaque tracking tokens and their hashes, the open
// pixel, and the classification of a hit as a person or a machine.
//
// It imports no HTTP framework and no storage: callers pass in plain values (a token
// from a URL, a request's method and user agent) and get plain values back.
package tracking
