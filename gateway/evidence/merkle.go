package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// The Merkle tree is RFC 6962's (Certificate Transparency): leaf hashes are
// SHA-256(0x00 || leaf), interior nodes SHA-256(0x01 || left || right), and the
// split is at the largest power of two below the size. Using a published
// construction lets a third party check an inclusion proof with any CT tooling.

func leafHash(leaf []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	return h.Sum(nil)
}

func nodeHash(l, r []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}

func splitPoint(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// MerkleRoot returns the hex root over leaves; the empty tree's root is SHA-256("").
func MerkleRoot(leaves [][]byte) string {
	if len(leaves) == 0 {
		return SHA256Hex(nil)
	}
	hashes := make([][]byte, len(leaves))
	for i, l := range leaves {
		hashes[i] = leafHash(l)
	}
	return hex.EncodeToString(subtreeRoot(hashes))
}

func subtreeRoot(h [][]byte) []byte {
	if len(h) == 1 {
		return h[0]
	}
	k := splitPoint(len(h))
	return nodeHash(subtreeRoot(h[:k]), subtreeRoot(h[k:]))
}

// InclusionProof returns the audit path (hex, leaf to root) for leaves[index].
func InclusionProof(leaves [][]byte, index int) ([]string, error) {
	if index < 0 || index >= len(leaves) {
		return nil, fmt.Errorf("inclusion proof: index %d outside a tree of %d leaves", index, len(leaves))
	}
	hashes := make([][]byte, len(leaves))
	for i, l := range leaves {
		hashes[i] = leafHash(l)
	}
	var path []string
	for _, p := range auditPath(hashes, index) {
		path = append(path, hex.EncodeToString(p))
	}
	return path, nil
}

func auditPath(h [][]byte, m int) [][]byte {
	if len(h) <= 1 {
		return nil
	}
	k := splitPoint(len(h))
	if m < k {
		return append(auditPath(h[:k], m), subtreeRoot(h[k:]))
	}
	return append(auditPath(h[k:], m-k), subtreeRoot(h[:k]))
}

// VerifyInclusion checks that leaf is at index of a tree of size leaves with the
// given hex root, using the audit path (RFC 9162 §2.1.3.2).
func VerifyInclusion(leaf []byte, index, size int, path []string, root string) error {
	if index < 0 || index >= size {
		return fmt.Errorf("leaf index %d outside a tree of %d leaves", index, size)
	}
	fn, sn := index, size-1
	r := leafHash(leaf)
	for _, ph := range path {
		p, err := hex.DecodeString(ph)
		if err != nil || len(p) != sha256.Size {
			return errors.New("audit path holds something that is not a SHA-256 hash")
		}
		if sn == 0 {
			return errors.New("audit path is longer than the tree is deep")
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return errors.New("audit path is shorter than the tree is deep")
	}
	if hex.EncodeToString(r) != root {
		return errors.New("audit path does not lead to the checkpoint's root")
	}
	return nil
}
