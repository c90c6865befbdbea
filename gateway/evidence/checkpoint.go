package evidence

import (
	"fmt"
	"time"
)

// Checkpoint commits, signed, to the heads of every chain that grew since the
// checkpoint before it, and to that checkpoint's hash: the checkpoints form a chain
// of their own. An invoice's events cannot later be truncated below a head a
// checkpoint committed to without the bundle showing it, and a checkpoint cannot be
// dropped without breaking the next one's prev_hash.
type Checkpoint struct {
	Number    int64     `json:"number"`
	At        time.Time `json:"at"`
	PrevHash  string    `json:"prev_hash"` // "" for the first checkpoint
	Root      string    `json:"root"`      // Merkle root over the leaves (see Leaf)
	Size      int       `json:"size"`      // number of leaves
	Hash      string    `json:"hash"`      // SHA-256 of the canonical body
	Signature Signature `json:"signature"`
}

type checkpointBody struct {
	Number   int64  `json:"number"`
	At       string `json:"at"`
	PrevHash string `json:"prev_hash"`
	Root     string `json:"root"`
	Size     int    `json:"size"`
}

func (c Checkpoint) body() ([]byte, error) {
	return Canonical(checkpointBody{Number: c.Number, At: TruncateTime(c.At).Format(time.RFC3339Nano),
		PrevHash: c.PrevHash, Root: c.Root, Size: c.Size})
}

// Head is one chain's head as a checkpoint records it.
type Head struct {
	InvoiceID string `json:"invoice_id"`
	Seq       int64  `json:"seq"`
	Hash      string `json:"hash"`
}

// Leaf is the Merkle leaf of a chain head: its canonical JSON.
func (h Head) Leaf() []byte {
	b, _ := Canonical(h) // three plain fields: cannot fail
	return b
}

// NewCheckpoint builds and signs the checkpoint after prev (nil for the first) over
// heads, in the order given.
func NewCheckpoint(s *Signer, prev *Checkpoint, at time.Time, heads []Head) (Checkpoint, error) {
	leaves := make([][]byte, len(heads))
	for i, h := range heads {
		leaves[i] = h.Leaf()
	}
	c := Checkpoint{Number: 1, At: TruncateTime(at), Root: MerkleRoot(leaves), Size: len(heads)}
	if prev != nil {
		c.Number, c.PrevHash = prev.Number+1, prev.Hash
	}
	body, err := c.body()
	if err != nil {
		return Checkpoint{}, err
	}
	c.Hash = SHA256Hex(body)
	c.Signature = s.Sign(body)
	return c, nil
}

// CheckpointProof shows that a chain head is in a checkpoint.
type CheckpointProof struct {
	Checkpoint Checkpoint `json:"checkpoint"`
	Head       Head       `json:"head"`
	Index      int        `json:"index"`
	Path       []string   `json:"path"`
}

// Verify checks the checkpoint's hash and signature with pub and the head's
// inclusion in it.
func (p CheckpointProof) Verify(pub []byte) error {
	body, err := p.Checkpoint.body()
	if err != nil {
		return err
	}
	if SHA256Hex(body) != p.Checkpoint.Hash {
		return fmt.Errorf("checkpoint %d: content does not match its hash", p.Checkpoint.Number)
	}
	if err := p.Checkpoint.Signature.Verify(pub, body); err != nil {
		return fmt.Errorf("checkpoint %d: %w", p.Checkpoint.Number, err)
	}
	if err := VerifyInclusion(p.Head.Leaf(), p.Index, p.Checkpoint.Size, p.Path, p.Checkpoint.Root); err != nil {
		return fmt.Errorf("checkpoint %d: chain head not included: %w", p.Checkpoint.Number, err)
	}
	return nil
}
