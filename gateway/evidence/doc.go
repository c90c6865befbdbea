// Package evidence is the format of invoicegw's proof: the per-invoice hash chain of
// events, Ed25519 signing keys, signed checkpoints over all chains (a Merkle tree of
// chain heads), and the evidence bundle (a ZIP with a signed manifest.json) together
// with its offline verifier. It needs no database and no network, so that a third
// party can check a bundle with nothing but the gateway binary and a public key; for
// the same reason it imports nothing else of invoicegw.
package evidence
