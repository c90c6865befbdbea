// Command invoicegw is the one binary of the invoice delivery gateway: the HTTP API
// and job workers (serve), schema migrations (migrate), tenant administration
// (tenant), archive set-up (archive) and a development mail catcher (dev-smtp).
// This package only parses configuration and wires implementations together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) && !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "invoicegw:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// errReported is an error the command has already written to stderr in full.
var errReported = errors.New("reported")

const usage = `invoicegw: electronic invoice delivery and tracking gateway

Usage:
  invoicegw serve [--migrate]          run the HTTP API and the delivery workers
  invoicegw migrate                    apply database migrations
  invoicegw tenant create --name NAME [--default-terms TEXT]
                                       create a tenant; prints its id and API key (shown once)
  invoicegw tenant delivery-settings --tenant ID [--set FILE|-]
                                       print a tenant's delivery settings, or replace them
                                       with the JSON in FILE (- reads stdin)
  invoicegw key create|list|revoke --tenant TENANT_ID [--name NAME] [--id KEY_ID]
                                       manage a tenant's API keys (a new key is shown once)
  invoicegw user create --tenant TENANT_ID --email EMAIL < password
                                       create a collector user of the workspace at /c
  invoicegw archive init               create the S3 bucket if it does not exist
  invoicegw reports list [--all] [--limit N]
                                       delivery reports an operator should look at (unknown token, unreadable)
  invoicegw dev-smtp [--addr HOST:PORT] [--dir DIR]
                                       a development SMTP server that keeps every message as .eml
  invoicegw render [--locale xx] [--terms-file F] invoice.json > invoice.pdf
                                       print an invoice payload to PDF, validated as the API does
  invoicegw keys generate | public     create the Ed25519 signing key; print its public key
  invoicegw verify proof.zip [--key PUBLIC_KEY]
                                       check an evidence bundle offline; exits 1 naming what was altered
  invoicegw bench-seed [--schema bench_proof] [--invoices N] [--events-per-invoice M]
                                       fill a dedicated schema for the proof benchmark (skipped when already filled)

Configuration comes from INVOICEGW_* environment variables; see README.md.
`

// run is the whole program behind main, with its inputs and outputs passed in so
// that tests can run it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdout)
	case "tenant":
		return tenant(ctx, args[1:], getenv, stdout, stderr)
	case "key":
		return keyCmd(ctx, args[1:], getenv, stdout, stderr)
	case "user":
		return user(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "archive":
		return archiveCmd(ctx, args[1:], getenv, stdout, stderr)
	case "reports":
		return reportsCmd(ctx, args[1:], getenv, stdout, stderr)
	case "dev-smtp":
		return devSMTP(ctx, args[1:], stdout, stderr)
	case "render":
		return renderCmd(args[1:], stdin, stdout, stderr)
	case "keys":
		return keysCmd(args[1:], getenv, stdout, stderr)
	case "verify":
		return verifyCmd(args[1:], stdout, stderr)
	case "bench-seed":
		return benchSeed(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "invoicegw: unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}
