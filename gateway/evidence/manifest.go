package evidence

import (
	"encoding/json"
	"fmt"
	"time"
)

// Format names the bundle format in manifest.json.
const Format = "invoicegw-proof/1"

// ManifestName is the bundle member holding the signed manifest.
const ManifestName = "manifest.json"

// Manifest is the signed table of contents of a proof bundle: what the invoice was,
// to whom it went, every event in its hash chain, and the SHA-256 of every other
// member. The signature covers the canonical JSON of everything else in it.
type Manifest struct {
	Format      string            `json:"format"`
	GeneratedAt time.Time         `json:"generated_at"`
	Invoice     Invoice           `json:"invoice"`
	Recipients  []Recipient       `json:"recipients"`
	Summary     []string          `json:"summary"`
	Events      []Event           `json:"events"`
	Chain       Chain             `json:"chain"`
	Checkpoint  *CheckpointProof  `json:"checkpoint,omitempty"`
	Artefacts   []Artefact        `json:"artefacts"`
	Disputes    []Dispute         `json:"disputes"`
	Levels      map[string]string `json:"levels"` // what each evidence level proves, in words
	Signature   *Signature        `json:"signature,omitempty"`
}

// Invoice is what the bundle says about the invoice itself.
type Invoice struct {
	ID            string `json:"id"`
	Number        string `json:"number"`
	Seller        string `json:"seller"`
	Customer      string `json:"customer"`
	Currency      string `json:"currency"`
	Total         string `json:"total"`
	AmountDue     string `json:"amount_due"`
	IssueDate     string `json:"issue_date"`
	DueDate       string `json:"due_date"`
	Status        string `json:"status"`
	PayloadSHA256 string `json:"payload_sha256"` // of the request body the accounting system sent
	TermsSHA256   string `json:"terms_sha256"`
}

// Recipient is one delivery and the strongest evidence reached for it.
type Recipient struct {
	DeliveryID   string `json:"delivery_id"`
	Name         string `json:"name"`
	Email        string `json:"email"`
	Status       string `json:"status"`
	HighestLevel int    `json:"highest_level"`
	HighestEvent string `json:"highest_event"`
}

// Chain describes the hash chain the events form.
type Chain struct {
	Algorithm string `json:"algorithm"`
	Length    int    `json:"length"`
	Head      string `json:"head"`
}

// Artefact is one evidence file in the bundle. EventSeq names the chained event
// that recorded its hash (0 for files the bundle itself adds, like the certificate).
type Artefact struct {
	Name        string `json:"name"` // path inside the ZIP
	Kind        string `json:"kind"` // invoice_pdf, message, dsn, provider_payload, attachment, certificate, ...
	ContentType string `json:"content_type"`
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
	ArchiveKey  string `json:"archive_key,omitempty"`
	EventSeq    int64  `json:"event_seq,omitempty"`
}

// Dispute is a query the customer raised about the invoice.
type Dispute struct {
	ID         string     `json:"id"`
	Reason     string     `json:"reason"`
	Note       string     `json:"note"`
	Source     string     `json:"source"`
	Status     string     `json:"status"`
	OpenedAt   time.Time  `json:"opened_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	Resolution string     `json:"resolution,omitempty"`
}

// signedBytes is the canonical JSON of raw without its "signature" member. Taking
// it from the raw object rather than from the Go struct means a field the struct
// does not know about is still covered.
func signedBytes(raw []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("manifest is not a JSON object: %w", err)
	}
	delete(m, "signature")
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return Canonical(json.RawMessage(b))
}

// Sign sets m.Signature over the rest of m.
func (m *Manifest) Sign(s *Signer) error {
	m.Signature = nil
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	body, err := signedBytes(raw)
	if err != nil {
		return err
	}
	sig := s.Sign(body)
	m.Signature = &sig
	return nil
}
