package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/invoicegw/invoicegw/gateway"
	"github.com/invoicegw/invoicegw/gateway/evidence"
	"github.com/invoicegw/invoicegw/gateway/httpapi"
	"github.com/invoicegw/invoicegw/render"
	"github.com/invoicegw/invoicegw/storage/archive"
	"github.com/invoicegw/invoicegw/storage/postgres"
)

// ProofConfig is the evidence side of serve's configuration.
type ProofConfig struct {
	SigningKey         string        `env:"SIGNING_KEY,required"`
	CheckpointInterval time.Duration `env:"CHECKPOINT_INTERVAL" envDefault:"5m"`
}

// signer parses the signing key, naming the variable but never echoing its value.
func (c ProofConfig) signer() (*evidence.Signer, error) {
	key, err := evidence.ParsePrivateKey(c.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("configuration: INVOICEGW_SIGNING_KEY: %v; create one with `invoicegw keys generate`", err)
	}
	if c.CheckpointInterval < time.Second {
		return nil, fmt.Errorf("configuration: INVOICEGW_CHECKPOINT_INTERVAL must be at least 1s; got %s", c.CheckpointInterval)
	}
	return evidence.NewSigner(key), nil
}

// wireProof builds the proof, dispute and checkpoint use cases and starts the
// checkpointer, which stops with ctx.
func wireProof(ctx context.Context, cfg ProofConfig, db *postgres.DB, s3 *archive.S3, renderer *render.Renderer, log *slog.Logger) (httpapi.ProofDeps, error) {
	signer, err := cfg.signer()
	if err != nil {
		return httpapi.ProofDeps{}, err
	}
	cp := gateway.NewCheckpointer(db, s3, signer, time.Now, log)
	go cp.Run(ctx, cfg.CheckpointInterval)
	return httpapi.ProofDeps{
		Proofs:   gateway.NewProofs(db, s3, renderer, signer, time.Now, log),
		Disputes: gateway.NewDisputes(db, s3, s3, time.Now, log),
	}, nil
}

func keysCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 1 || (args[0] != "generate" && args[0] != "public") {
		fmt.Fprint(stderr, "usage: invoicegw keys generate | invoicegw keys public\n")
		return errUsage
	}
	if args[0] == "public" {
		cfg := ProofConfig{SigningKey: getenv("INVOICEGW_SIGNING_KEY"), CheckpointInterval: time.Minute}
		s, err := cfg.signer()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, evidence.FormatPublicKey(s.Public()))
		return nil
	}
	priv, pub, err := evidence.GenerateKey()
	if err != nil {
		return err
	}
	parsed, _ := evidence.ParsePublicKey(pub)
	fmt.Fprintf(stdout, "# Keep the signing key secret (e.g. in a Kubernetes secret); publish the public key.\n")
	fmt.Fprintf(stdout, "# public key %s (key id %s)\n", pub, evidence.KeyID(parsed))
	fmt.Fprintf(stdout, "INVOICEGW_SIGNING_KEY=%s\n", priv)
	return nil
}

// readPublicKey accepts the key itself ("ed25519:..."), or a file holding it or
// holding the JSON served at /.well-known/invoicegw-signing-key.
func readPublicKey(s string) (ed25519.PublicKey, error) {
	if !strings.HasPrefix(strings.TrimSpace(s), "ed25519:") {
		b, err := os.ReadFile(s)
		if err != nil {
			return nil, fmt.Errorf("--key: neither an ed25519:... key nor a readable file: %w", err)
		}
		s = string(b)
		var doc struct {
			PublicKey string `json:"public_key"`
		}
		if json.Unmarshal(b, &doc) == nil && doc.PublicKey != "" {
			s = doc.PublicKey
		}
	}
	pub, err := evidence.ParsePublicKey(s)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	return pub, nil
}

var errAltered = errors.New("the bundle does not verify")

func verifyCmd(args []string, stdout, stderr io.Writer) error {
	var file, keyArg string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--key" || a == "-key":
			if i+1 == len(args) {
				fmt.Fprint(stderr, "usage: invoicegw verify proof.zip [--key PUBLIC_KEY]\n")
				return errUsage
			}
			i++
			keyArg = args[i]
		case strings.HasPrefix(a, "--key="):
			keyArg = strings.TrimPrefix(a, "--key=")
		case file == "" && !strings.HasPrefix(a, "-"):
			file = a
		default:
			fmt.Fprint(stderr, "usage: invoicegw verify proof.zip [--key PUBLIC_KEY]\n")
			return errUsage
		}
	}
	if file == "" {
		fmt.Fprint(stderr, "usage: invoicegw verify proof.zip [--key PUBLIC_KEY]\n")
		return errUsage
	}
	var trusted ed25519.PublicKey
	if keyArg != "" {
		var err error
		if trusted, err = readPublicKey(keyArg); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	rep := evidence.Verify(data, trusted)
	printReport(stdout, file, rep)
	if !rep.OK() {
		return fmt.Errorf("%w: %s", errAltered, strings.Join(rep.Problems, "; "))
	}
	return nil
}

func printReport(w io.Writer, file string, rep evidence.Report) {
	if m := rep.Manifest; m != nil {
		inv := m.Invoice
		fmt.Fprintf(w, "%s: invoice %s (%s) from %s to %s, %s %s, issued %s, due %s\n", file, inv.Number, inv.ID,
			inv.Seller, inv.Customer, inv.Currency, inv.Total, inv.IssueDate, inv.DueDate)
		if m.Signature != nil {
			trust := "checked only against the key inside the bundle; pass --key with the gateway's published key to check who signed it"
			if rep.KeyTrusted {
				trust = "the trusted key given with --key"
			}
			fmt.Fprintf(w, "  signed %s with key %s (%s)\n", gateway.FormatTime(m.GeneratedAt), m.Signature.KeyID, trust)
		}
		fmt.Fprintf(w, "  hash chain: %d events, head %s\n", len(m.Events), m.Chain.Head)
		if cp := m.Checkpoint; cp != nil {
			fmt.Fprintf(w, "  checkpoint %d of %s recorded this chain up to event %d\n", cp.Checkpoint.Number, gateway.FormatTime(cp.Checkpoint.At), cp.Head.Seq)
		} else {
			fmt.Fprintf(w, "  no checkpoint covered this invoice yet when the bundle was made\n")
		}
		fmt.Fprintf(w, "  %d evidence files\n", len(m.Artefacts))
		for _, r := range m.Recipients {
			fmt.Fprintf(w, "  recipient %s <%s>: highest evidence level %d (%s)\n", r.Name, r.Email, r.HighestLevel, gateway.LevelName(r.HighestLevel))
		}
		for _, s := range m.Summary {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
	if rep.OK() {
		fmt.Fprintln(w, "OK: the signature, the hash chain and every file's hash check out; nothing was altered.")
		return
	}
	fmt.Fprintf(w, "FAILED: %d problem(s):\n", len(rep.Problems))
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  ✗ %s\n", p)
	}
}
