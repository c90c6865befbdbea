package evidence

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// Member is one file of a bundle besides the manifest.
type Member struct {
	Name string
	Data []byte
}

// WriteBundle writes the ZIP: manifest.json first, then the members in order. The
// manifest must be signed and list every member with its hash (see Manifest.Sign).
func WriteBundle(w io.Writer, m *Manifest, members []Member) error {
	if m.Signature == nil {
		return errors.New("write bundle: manifest is not signed")
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write bundle: encode manifest: %w", err)
	}
	zw := zip.NewWriter(w)
	add := func(name string, data []byte) error {
		// A fixed modification time keeps two downloads of the same bundle identical.
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: m.GeneratedAt})
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		return err
	}
	if err := add(ManifestName, append(manifest, '\n')); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	for _, mb := range members {
		if err := add(mb.Name, mb.Data); err != nil {
			return fmt.Errorf("write bundle: %s: %w", mb.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	return nil
}

// Limits on what the verifier reads, so that a hostile ZIP cannot exhaust memory.
const (
	maxMemberSize = 64 << 20
	maxTotalSize  = 256 << 20
	maxMembers    = 10000
)

// Report is the outcome of verifying a bundle.
type Report struct {
	Manifest *Manifest // nil when the manifest could not be read
	// KeyTrusted is false when no key was given and the signature was only checked
	// against the key the bundle itself carries, which proves integrity, not origin.
	KeyTrusted bool
	Problems   []string // each names the member or event that is wrong
}

// OK reports whether nothing is wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) fail(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Verify checks a bundle offline: the manifest's signature (against trusted when
// given, else against the key inside the bundle), the hash chain of its events, the
// checkpoint, and the SHA-256 of every member. It reports every problem, not just
// the first.
func Verify(data []byte, trusted ed25519.PublicKey) Report {
	var rep Report
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		rep.fail("the file is not a readable ZIP archive: %v", err)
		return rep
	}
	if len(zr.File) > maxMembers {
		rep.fail("the archive has %d members, more than a bundle ever holds", len(zr.File))
		return rep
	}
	files := map[string][]byte{}
	var total int64
	for _, f := range zr.File {
		if _, dup := files[f.Name]; dup {
			rep.fail("%s: appears twice in the archive", f.Name)
			continue
		}
		b, err := readMember(f, &total)
		if err != nil {
			rep.fail("%s: %v", f.Name, err)
			files[f.Name] = nil
			continue
		}
		files[f.Name] = b
	}
	raw, ok := files[ManifestName]
	if !ok || raw == nil {
		if !ok {
			rep.fail("%s: missing from the bundle", ManifestName)
		}
		return rep
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		rep.fail("%s: not a valid manifest (%v): it was altered or damaged", ManifestName, err)
		return rep
	}
	rep.Manifest = &m
	rep.checkSignature(raw, &m, trusted)
	rep.checkChain(&m)
	rep.checkArtefacts(&m, files)
	return rep
}

func readMember(f *zip.File, total *int64) ([]byte, error) {
	if strings.Contains(f.Name, "..") || path.IsAbs(f.Name) || strings.Contains(f.Name, `\`) {
		return nil, errors.New("unsafe member name")
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxMemberSize+1))
	if err != nil {
		// archive/zip reports a CRC mismatch here: bytes changed after zipping.
		return nil, fmt.Errorf("damaged or altered (%v)", err)
	}
	if len(b) > maxMemberSize {
		return nil, errors.New("larger than any evidence file")
	}
	if *total += int64(len(b)); *total > maxTotalSize {
		return nil, errors.New("the archive is larger than any bundle")
	}
	return b, nil
}

func (rep *Report) checkSignature(raw []byte, m *Manifest, trusted ed25519.PublicKey) {
	if m.Format != Format {
		rep.fail("%s: format %q, want %q", ManifestName, m.Format, Format)
	}
	if m.Signature == nil {
		rep.fail("%s: not signed", ManifestName)
		return
	}
	key := trusted
	if key == nil {
		embedded, err := ParsePublicKey(m.Signature.PublicKey)
		if err != nil {
			rep.fail("%s: signature carries no usable public key: %v", ManifestName, err)
			return
		}
		key = embedded
	} else {
		rep.KeyTrusted = true
		if m.Signature.KeyID != KeyID(trusted) {
			rep.fail("signature: made with key %s, not with the trusted key %s", m.Signature.KeyID, KeyID(trusted))
			return
		}
	}
	body, err := signedBytes(raw)
	if err != nil {
		rep.fail("%s: %v", ManifestName, err)
		return
	}
	if err := m.Signature.Verify(key, body); err != nil {
		rep.fail("%s: %v: the manifest was altered after signing, or signed by another key", ManifestName, err)
	}
	if m.Checkpoint != nil {
		if err := m.Checkpoint.Verify(key); err != nil {
			rep.fail("%s: %v", ManifestName, err)
		}
	}
}

func (rep *Report) checkChain(m *Manifest) {
	for _, p := range CheckChain(m.Invoice.ID, m.Events) {
		rep.fail("%s: %s", ManifestName, p)
	}
	if m.Chain.Algorithm != ChainAlgorithm {
		rep.fail("%s: chain algorithm %q, want %q", ManifestName, m.Chain.Algorithm, ChainAlgorithm)
	}
	head := ""
	if n := len(m.Events); n > 0 {
		head = m.Events[n-1].Hash
	}
	if m.Chain.Length != len(m.Events) || m.Chain.Head != head {
		rep.fail("%s: the chain holds %d events ending in %.12s, but the manifest records %d ending in %.12s: events were dropped or added",
			ManifestName, len(m.Events), head, m.Chain.Length, m.Chain.Head)
	}
	if cp := m.Checkpoint; cp != nil {
		switch {
		case cp.Head.InvoiceID != m.Invoice.ID:
			rep.fail("%s: checkpoint %d speaks of invoice %q", ManifestName, cp.Checkpoint.Number, cp.Head.InvoiceID)
		case cp.Head.Seq < 1 || cp.Head.Seq > int64(len(m.Events)):
			rep.fail("%s: checkpoint %d recorded %d events for this invoice, the bundle has %d: the chain was truncated",
				ManifestName, cp.Checkpoint.Number, cp.Head.Seq, len(m.Events))
		case m.Events[cp.Head.Seq-1].Hash != cp.Head.Hash:
			rep.fail("%s: event %d differs from what checkpoint %d recorded: the chain was rewritten",
				ManifestName, cp.Head.Seq, cp.Checkpoint.Number)
		}
	}
}

func (rep *Report) checkArtefacts(m *Manifest, files map[string][]byte) {
	listed := map[string]bool{ManifestName: true}
	for _, a := range m.Artefacts {
		listed[a.Name] = true
		data, ok := files[a.Name]
		switch {
		case !ok:
			rep.fail("%s: listed in the manifest but missing from the bundle", a.Name)
			continue
		case data == nil:
			continue // already reported as unreadable
		case SHA256Hex(data) != a.SHA256:
			rep.fail("%s: SHA-256 does not match the manifest: the file was altered", a.Name)
		case int64(len(data)) != a.Size:
			rep.fail("%s: size %d, the manifest says %d", a.Name, len(data), a.Size)
		}
		if a.EventSeq != 0 {
			i := slices.IndexFunc(m.Events, func(e Event) bool { return e.Seq == a.EventSeq })
			if i < 0 || !bytes.Contains(m.Events[i].Detail, []byte(a.SHA256)) {
				rep.fail("%s: its hash is not the one event %d of the chain recorded", a.Name, a.EventSeq)
			}
		}
	}
	var extra []string
	for name := range files {
		if !listed[name] {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		rep.fail("%s: not listed in the manifest: it was added to the bundle", name)
	}
}
