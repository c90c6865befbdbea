package main

// testSigningKey signs the bundles of the end-to-end tests. It is a test key and
// signs nothing real; `invoicegw keys generate` made it.
const testSigningKey = "ed25519-private:+/qoXSYmzVsfMSdiUBCeIaQozkLUj4AO9OrD3OWEnwA="
