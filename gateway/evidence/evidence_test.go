package evidence

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func testSigner(t testing.TB) *Signer {
	t.Helper()
	priv, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return NewSigner(key)
}

func chain(t testing.TB, invoiceID string, n int) []Event {
	t.Helper()
	at := time.Date(2026, 11, 23, 10, 2, 33, 123456789, time.UTC)
	var evs []Event
	prev := ""
	for i := range n {
		e := Event{Seq: int64(i + 1), InvoiceID: invoiceID, Type: "opened", Level: 4, At: at.Add(time.Duration(i) * time.Minute),
			Detail: json.RawMessage(fmt.Sprintf(`{"n": %d, "ua": "Mozilla/5.0 \u00e9"}`, i)), PrevHash: prev}
		h, err := e.ComputeHash()
		if err != nil {
			t.Fatal(err)
		}
		e.Hash, prev = h, h
		evs = append(evs, e)
	}
	return evs
}

func TestEventHashIgnoresJSONFormattingButNotContent(t *testing.T) {
	base := Event{Seq: 1, InvoiceID: "inv_1", Type: "sent", Level: 2, At: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		Detail: json.RawMessage(`{"reply":"250 ok","relay":"mx"}`)}
	want, _ := base.ComputeHash()
	tests := []struct {
		name   string
		change func(e *Event)
		same   bool
	}{
		{"same hash for reordered keys and whitespace", func(e *Event) { e.Detail = json.RawMessage("{ \"relay\": \"mx\",\n \"reply\": \"250 ok\" }") }, true},
		{"same hash for nanoseconds below the microsecond", func(e *Event) { e.At = e.At.Add(999) }, true},
		{"same hash in another time zone", func(e *Event) { e.At = e.At.In(time.FixedZone("CET", 3600)) }, true},
		{"other hash for a changed reply", func(e *Event) { e.Detail = json.RawMessage(`{"reply":"250 OK","relay":"mx"}`) }, false},
		{"other hash for another previous hash", func(e *Event) { e.PrevHash = "00" }, false},
		{"other hash for another level", func(e *Event) { e.Level = 3 }, false},
		{"other hash for another seq", func(e *Event) { e.Seq = 2 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			tt.change(&e)
			got, err := e.ComputeHash()
			if err != nil {
				t.Fatal(err)
			}
			if (got == want) != tt.same {
				t.Errorf("hash %s vs %s, want same=%v", got, want, tt.same)
			}
		})
	}
}

func TestCheckChainNamesTheBrokenLink(t *testing.T) {
	tests := []struct {
		name   string
		change func([]Event) []Event
		want   string
	}{
		{"intact chain has no problems", func(e []Event) []Event { return e }, ""},
		{"dropped event breaks the next link", func(e []Event) []Event { return append(e[:2], e[3:]...) }, "event 4 (opened): sequence number 4 where 3"},
		{"altered detail is caught", func(e []Event) []Event { e[1].Detail = json.RawMessage(`{"n":99}`); return e }, "event 2 (opened): content does not match"},
		{"reordered events are caught", func(e []Event) []Event { e[1], e[2] = e[2], e[1]; return e }, "event 3 (opened): sequence number 3 where 2"},
		{"event of another invoice is caught", func(e []Event) []Event { e[0].InvoiceID = "inv_other"; return e }, "belongs to invoice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(CheckChain("inv_1", tt.change(chain(t, "inv_1", 5))), "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("problems = %q, want one containing %q", got, tt.want)
			}
		})
	}
}

func TestInclusionProofsVerifyForEveryLeafOfEveryTreeSize(t *testing.T) {
	for size := 1; size <= 33; size++ {
		leaves := make([][]byte, size)
		for i := range leaves {
			leaves[i] = Head{InvoiceID: fmt.Sprint("inv_", i), Seq: int64(i), Hash: "h"}.Leaf()
		}
		root := MerkleRoot(leaves)
		for i := range leaves {
			path, err := InclusionProof(leaves, i)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(leaves[i], i, size, path, root); err != nil {
				t.Fatalf("size %d leaf %d: %v", size, i, err)
			}
			if err := VerifyInclusion([]byte("forged"), i, size, path, root); err == nil {
				t.Fatalf("size %d leaf %d: a forged leaf verified", size, i)
			}
			if size > 1 {
				if err := VerifyInclusion(leaves[i], (i+1)%size, size, path, root); err == nil {
					t.Fatalf("size %d leaf %d: verified at the wrong index", size, i)
				}
			}
		}
	}
}

func TestCheckpointsChainAndVerify(t *testing.T) {
	s := testSigner(t)
	heads := []Head{{"inv_a", 3, "aa"}, {"inv_b", 1, "bb"}, {"inv_c", 7, "cc"}}
	first, err := NewCheckpoint(s, nil, time.Now(), heads)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := NewCheckpoint(s, &first, time.Now(), heads[:1])
	if second.Number != 2 || second.PrevHash != first.Hash {
		t.Errorf("second checkpoint = %+v, want number 2 chained to %s", second, first.Hash)
	}
	leaves := [][]byte{heads[0].Leaf(), heads[1].Leaf(), heads[2].Leaf()}
	path, _ := InclusionProof(leaves, 2)
	p := CheckpointProof{Checkpoint: first, Head: heads[2], Index: 2, Path: path}
	if err := p.Verify(s.Public()); err != nil {
		t.Fatalf("verify: %v", err)
	}
	p.Head.Seq = 6
	if err := p.Verify(s.Public()); err == nil {
		t.Error("a checkpoint proof with a changed head verified")
	}
	p.Head.Seq = 7
	if err := p.Verify(testSigner(t).Public()); err == nil {
		t.Error("a checkpoint verified with another key")
	}
}

func TestKeysRoundTripAndRefuseTheWrongKind(t *testing.T) {
	priv, pub, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatPublicKey(NewSigner(key).Public()); got != pub {
		t.Errorf("public key = %s, want %s", got, pub)
	}
	if _, err := ParsePrivateKey(pub); err == nil {
		t.Error("a public key was accepted as a signing key")
	}
	if _, err := ParsePublicKey(priv); err == nil {
		t.Error("a signing key was accepted as a public key")
	}
	for _, bad := range []string{"", "abc", "ed25519:***", "rsa:AAAA"} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
	}
}

// testBundle is a small signed bundle with two evidence files.
func testBundle(t testing.TB, s *Signer) []byte {
	t.Helper()
	pdf := []byte("%PDF-1.7 the invoice")
	eml := []byte("From: a@b\r\n\r\nhello")
	evs := chain(t, "inv_1", 4)
	evs[1].Detail = json.RawMessage(fmt.Sprintf(`{"key":"k/invoice.pdf","sha256":%q}`, SHA256Hex(pdf)))
	evs[2].Detail = json.RawMessage(fmt.Sprintf(`{"message_key":"k/m.eml","message_sha256":%q}`, SHA256Hex(eml)))
	prev := ""
	for i := range evs {
		evs[i].PrevHash = prev
		evs[i].Hash, _ = evs[i].ComputeHash()
		prev = evs[i].Hash
	}
	m := &Manifest{Format: Format, GeneratedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Invoice: Invoice{ID: "inv_1", Number: "INV-1"}, Events: evs,
		Chain: Chain{Algorithm: ChainAlgorithm, Length: len(evs), Head: prev},
		Artefacts: []Artefact{
			{Name: "evidence/2-invoice.pdf", SHA256: SHA256Hex(pdf), Size: int64(len(pdf)), EventSeq: 2},
			{Name: "evidence/3-m.eml", SHA256: SHA256Hex(eml), Size: int64(len(eml)), EventSeq: 3},
		}}
	heads := []Head{{"inv_0", 1, "x"}, {"inv_1", 3, evs[2].Hash}}
	cp, _ := NewCheckpoint(s, nil, time.Now(), heads)
	path, _ := InclusionProof([][]byte{heads[0].Leaf(), heads[1].Leaf()}, 1)
	m.Checkpoint = &CheckpointProof{Checkpoint: cp, Head: heads[1], Index: 1, Path: path}
	if err := m.Sign(s); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteBundle(&buf, m, []Member{{"evidence/2-invoice.pdf", pdf}, {"evidence/3-m.eml", eml}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func members(t testing.TB, b []byte) (names []string, data map[string][]byte) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	data = map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		rc.Close()
		names = append(names, f.Name)
		data[f.Name] = buf.Bytes()
	}
	return names, data
}

func rezip(names []string, data map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		if d, ok := data[n]; ok {
			w, _ := zw.Create(n)
			w.Write(d)
		}
	}
	zw.Close()
	return buf.Bytes()
}

func TestVerifyNamesWhatWasAltered(t *testing.T) {
	s := testSigner(t)
	good := testBundle(t, s)
	if rep := Verify(good, s.Public()); !rep.OK() || !rep.KeyTrusted {
		t.Fatalf("untouched bundle: %q (trusted %v)", rep.Problems, rep.KeyTrusted)
	}
	if rep := Verify(good, nil); !rep.OK() || rep.KeyTrusted {
		t.Fatalf("untouched bundle without a key: %q (trusted %v)", rep.Problems, rep.KeyTrusted)
	}
	names, data := members(t, good)
	editManifest := func(f func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(data[ManifestName], &m)
		f(m)
		d := map[string][]byte{}
		for k, v := range data {
			d[k] = v
		}
		d[ManifestName], _ = json.Marshal(m)
		return rezip(names, d)
	}
	tests := []struct {
		name   string
		bundle []byte
		key    []byte
		want   string
	}{
		{"wrong key", good, testSigner(t).Public(), "not with the trusted key"},
		{"removed member", rezip(names, map[string][]byte{ManifestName: data[ManifestName], "evidence/2-invoice.pdf": data["evidence/2-invoice.pdf"]}), s.Public(), "evidence/3-m.eml: listed in the manifest but missing"},
		{"added member", rezip(append(names, "evidence/x.pdf"), func() map[string][]byte {
			d := map[string][]byte{"evidence/x.pdf": []byte("x")}
			for k, v := range data {
				d[k] = v
			}
			return d
		}()), s.Public(), "evidence/x.pdf: not listed in the manifest"},
		{"truncated chain re-signed by nobody", editManifest(func(m map[string]any) {
			evs := m["events"].([]any)
			m["events"] = evs[:2]
		}), s.Public(), "the chain was truncated"},
		{"unknown manifest field", editManifest(func(m map[string]any) { m["note"] = "added" }), s.Public(), "manifest.json: signature does not match"},
		{"damaged zip checksum", func() []byte {
			b := bytes.Clone(good)
			zr, _ := zip.NewReader(bytes.NewReader(b), int64(len(b)))
			for _, f := range zr.File {
				if f.Name == "evidence/3-m.eml" {
					off, _ := f.DataOffset()
					b[off+int64(f.CompressedSize64)/2] ^= 0x01
				}
			}
			return b
		}(), s.Public(), "evidence/3-m.eml"},
		{"not a zip", []byte("PK nothing"), s.Public(), "not a readable ZIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Verify(tt.bundle, tt.key)
			got := strings.Join(rep.Problems, "\n")
			if rep.OK() || !strings.Contains(got, tt.want) {
				t.Errorf("problems:\n%s\nwant one containing %q", got, tt.want)
			}
		})
	}
	for _, name := range names {
		t.Run("flipped byte in "+name, func(t *testing.T) {
			d := map[string][]byte{}
			for k, v := range data {
				d[k] = bytes.Clone(v)
			}
			d[name][len(d[name])/2] ^= 1
			rep := Verify(rezip(names, d), s.Public())
			if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), name) {
				t.Errorf("problems %q, want one naming %s", rep.Problems, name)
			}
		})
	}
}

// FuzzVerify feeds the bundle reader arbitrary archives: it must never panic, and
// only an untouched bundle may pass.
func FuzzVerify(f *testing.F) {
	s := testSigner(f)
	good := testBundle(f, s)
	f.Add(good)
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rep := Verify(b, s.Public())
		if rep.OK() && !bytes.Equal(b, good) {
			// Another byte sequence can still be the same bundle (e.g. different ZIP
			// framing); its contents must then be identical.
			_, got := members(t, b)
			_, want := members(t, good)
			for name, data := range want {
				if !bytes.Equal(got[name], data) {
					t.Fatalf("an altered bundle verified: %s differs", name)
				}
			}
		}
	})
}
