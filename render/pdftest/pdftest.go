package pdftest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invoicegw/invoicegw/storage/servicetest"
)

// tool finds a command-line program or ends the test.
func tool(t testing.TB, name, debPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		servicetest.Unavailable(t, fmt.Sprintf("%s not found: install the Debian package %s (deployments/local/services.sh tools)", name, debPackage))
	}
	return path
}

func run(t testing.TB, cmd *exec.Cmd) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v: %s", filepath.Base(cmd.Path), err, stderr.String())
	}
	return out
}

// Pages returns the text of each page as `pdftotext -layout` extracts it.
func Pages(t testing.TB, pdf []byte) []string {
	t.Helper()
	cmd := exec.Command(tool(t, "pdftotext", "poppler-utils"), "-layout", "-enc", "UTF-8", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	pages := strings.Split(string(run(t, cmd)), "\f")
	if pages[len(pages)-1] == "" {
		pages = pages[:len(pages)-1] // pdftotext ends every page with a form feed
	}
	return pages
}

// Collapse turns every run of white space, no-break spaces included, into one
// space, so that assertions do not depend on column layout or on how a line of
// text was wrapped.
func Collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// Lines is s split into lines, each collapsed, without empty ones: the stable form
// of extracted text kept in golden files.
func Lines(s string) []string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if c := Collapse(line); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// Info returns the document information as `pdfinfo` prints it (Title, Author,
// Subject, CreationDate, Pages...), keyed by name.
func Info(t testing.TB, pdf []byte) map[string]string {
	t.Helper()
	cmd := exec.Command(tool(t, "pdfinfo", "poppler-utils"), "-isodates", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	info := map[string]string{}
	for line := range strings.SplitSeq(string(run(t, cmd)), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			info[k] = strings.TrimSpace(v)
		}
	}
	return info
}

// Check fails the test unless `qpdf --check` finds the PDF sound.
func Check(t testing.TB, pdf []byte) {
	t.Helper()
	path := writeTemp(t, pdf)
	out, err := exec.Command(tool(t, "qpdf", "qpdf"), "--check", path).CombinedOutput()
	if err != nil {
		t.Errorf("qpdf --check: got %v, want success; output:\n%s", err, out)
	}
}

// QRCodes renders page (1-based) at 200 dpi and returns the content of every QR
// code zbarimg finds on it.
func QRCodes(t testing.TB, pdf []byte, page int) []string {
	t.Helper()
	dir := t.TempDir()
	path := writeTemp(t, pdf)
	p := fmt.Sprint(page)
	run(t, exec.Command(tool(t, "pdftoppm", "poppler-utils"), "-r", "200", "-png", "-f", p, "-l", p, "-singlefile", path, filepath.Join(dir, "page")))
	cmd := exec.Command(tool(t, "zbarimg", "zbar-tools"), "-q", "--xml", "-Sdisable", "-Sqrcode.enable", filepath.Join(dir, "page.png"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if exit, ok := err.(*exec.ExitError); ok && exit.ExitCode() == 4 {
		return nil // zbarimg: no symbols found
	}
	if err != nil {
		t.Fatalf("zbarimg: %v: %s", err, stderr.String())
	}
	return cdata(string(out))
}

// cdata returns the CDATA sections of zbarimg's XML, one per symbol; the XML
// form keeps multi-line contents apart, which --raw output would run together.
func cdata(xml string) []string {
	var out []string
	for {
		_, rest, ok := strings.Cut(xml, "<![CDATA[")
		if !ok {
			return out
		}
		data, after, ok := strings.Cut(rest, "]]>")
		if !ok {
			return out
		}
		out = append(out, data)
		xml = after
	}
}

func writeTemp(t testing.TB, pdf []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatalf("write pdf: %v", err)
	}
	return path
}

// Image is one image drawn on a page, as `pdfimages -list` reports it.
type Image struct {
	Page          int
	Width, Height int
	Color         string // gray, rgb, index...
}

// Images lists the images of the PDF.
func Images(t testing.TB, pdf []byte) []Image {
	t.Helper()
	out := run(t, exec.Command(tool(t, "pdfimages", "poppler-utils"), "-list", writeTemp(t, pdf)))
	var images []Image
	for i, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if i < 2 {
			continue // header and rule
		}
		var img Image
		var num int
		var typ string
		if _, err := fmt.Sscan(line, &img.Page, &num, &typ, &img.Width, &img.Height, &img.Color); err != nil {
			t.Fatalf("pdfimages line %q: %v", line, err)
		}
		images = append(images, img)
	}
	return images
}
