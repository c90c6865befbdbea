// Package pdftest checks PDFs the way a reader sees them, for tests: text as
// pdftotext extracts it, structure as qpdf checks it, QR codes as zbarimg reads
// them from the rendered page. A missing tool ends the test through
// servicetest.Unavailable: a failure in CI, a skip on a laptop. The tools come
// from the Debian packages poppler-utils, qpdf and zbar-tools
// (deployments/local/services.sh tools installs them).
package pdftest
