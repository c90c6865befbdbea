#!/usr/bin/env bash
# `make run`: starts the local services, builds the gateway, starts the
# development SMTP catcher (unless INVOICEGW_SMTP_URL points elsewhere),
# migrates, creates the archive bucket and a demo tenant, prints how to send
# an invoice, then runs `invoicegw serve` in the foreground (Ctrl-C stops it;
# the background services stay up until `make services-down`).
#
# Any INVOICEGW_* variable already set in the environment wins over the
# defaults below.
set -euo pipefail

# shellcheck source=deployments/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

"$ROOT/deployments/local/services.sh" up

say build "bin/invoicegw"
make --no-print-directory -C "$ROOT" build >/dev/null

export INVOICEGW_HTTP_ADDR=${INVOICEGW_HTTP_ADDR:-127.0.0.1:8080}
export INVOICEGW_PUBLIC_URL=${INVOICEGW_PUBLIC_URL:-http://127.0.0.1:8080}
export INVOICEGW_DATABASE_URL=${INVOICEGW_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
export INVOICEGW_REDIS_URL=${INVOICEGW_REDIS_URL:-redis://127.0.0.1:6379/1}
export INVOICEGW_S3_ENDPOINT=${INVOICEGW_S3_ENDPOINT:-http://127.0.0.1:${MINIO_PORT:-9100}}
export INVOICEGW_S3_REGION=${INVOICEGW_S3_REGION:-us-east-1}
export INVOICEGW_S3_BUCKET=${INVOICEGW_S3_BUCKET:-invoicegw-dev}
export INVOICEGW_S3_ACCESS_KEY=${INVOICEGW_S3_ACCESS_KEY:-invoicegw}
export INVOICEGW_S3_SECRET_KEY=${INVOICEGW_S3_SECRET_KEY:-invoicegw-secret}
export INVOICEGW_MAIL_FROM=${INVOICEGW_MAIL_FROM:-invoices@acme.test}
export INVOICEGW_LOG_LEVEL=${INVOICEGW_LOG_LEVEL:-info}
export INVOICEGW_HIT_LOG_DIR=${INVOICEGW_HIT_LOG_DIR:-$TMP/hitlog}
# The development signing key is made once and kept in tmp/, so that bundles from
# earlier runs still verify against the same public key.
if [[ -z ${INVOICEGW_SIGNING_KEY:-} ]]; then
	mkdir -p "$TMP"
	[[ -s $TMP/signing-key.env ]] || (umask 077 && "$BIN/invoicegw" keys generate >"$TMP/signing-key.env")
	# shellcheck disable=SC1091
	source "$TMP/signing-key.env"
	export INVOICEGW_SIGNING_KEY
fi

if [[ -n ${INVOICEGW_SMTP_URL:-} ]]; then
	mail_note="e-mails go to the SMTP server in INVOICEGW_SMTP_URL"
	say dev-smtp "not needed: INVOICEGW_SMTP_URL is set"
else
	export INVOICEGW_SMTP_URL='smtp://127.0.0.1:1025?starttls=none'
	mail_note="e-mails land in tmp/mail/*.eml (log: tmp/dev-smtp.log)"
	if smtp_ok 127.0.0.1 1025; then
		say dev-smtp "already listening on 127.0.0.1:1025"
	else
		mkdir -p "$TMP/mail"
		say dev-smtp "starting on 127.0.0.1:1025 (mail in tmp/mail, log tmp/dev-smtp.log)"
		start_background "$TMP/dev-smtp.pid" "$TMP/dev-smtp.log" \
			"$BIN/invoicegw" dev-smtp --addr 127.0.0.1:1025 --dir "$TMP/mail"
		deadline=$((SECONDS + 15))
		until smtp_ok 127.0.0.1 1025; do
			if ! pid_alive "$TMP/dev-smtp.pid" dev-smtp || ((SECONDS >= deadline)); then
				tail -n 20 "$TMP/dev-smtp.log" >&2
				die "dev-smtp is not listening on 127.0.0.1:1025 (full log: tmp/dev-smtp.log)"
			fi
			sleep 0.2
		done
	fi
fi

say migrate "applying migrations"
"$BIN/invoicegw" migrate
say archive "ensuring bucket $INVOICEGW_S3_BUCKET"
"$BIN/invoicegw" archive init
say tenant "creating \"Demo tenant\""
tenant_json=$("$BIN/invoicegw" tenant create --name "Demo tenant")
json_field() {
	sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" <<<"$tenant_json" | head -n 1
}
tenant_id=$(json_field tenant_id)
api_key=$(json_field api_key)
[[ -n $api_key ]] || die "tenant create printed no api_key: $tenant_json"
# A collector user of the demo tenant for the workspace at /c (e-mails are unique, so
# each run makes a new one).
collector_email="demo-$(date +%Y%m%d%H%M%S)@collector.test"
collector_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
"$BIN/invoicegw" user create --tenant "$tenant_id" --email "$collector_email" <<<"$collector_password" >/dev/null

api=http://$INVOICEGW_HTTP_ADDR
[[ $INVOICEGW_HTTP_ADDR == :* ]] && api=http://127.0.0.1$INVOICEGW_HTTP_ADDR
example=$ROOT/deployments/local/example-invoice.json
rule='=============================================================================='

# The pasted command stamps a fresh invoice number when it runs (numbers are
# unique per tenant), so it can be pasted again and again: $(date ...) is
# printed as written, not expanded now.
cat <<BANNER

$rule
 invoicegw is starting on $api  (Ctrl-C stops it)

 Demo tenant  $tenant_id
 API key      $api_key

 Send the example invoice (a new invoice number each time):

   sed "s/INV-2026-0042/INV-\$(date +%Y%m%d-%H%M%S)/g" "$example" |
     curl -sS -X POST $api/v1/invoices \\
       -H 'Authorization: Bearer $api_key' \\
       -H 'Content-Type: application/json' --data-binary @-

 Follow its timeline (use the id from the reply):

   curl -sS -H 'Authorization: Bearer $api_key' $api/v1/invoices/<id>/events

 Collector workspace: $api/c
   sign in as $collector_email with password $collector_password

 $mail_note
 MinIO console: http://127.0.0.1:${MINIO_CONSOLE_PORT:-9101}  (invoicegw / invoicegw-secret)
 The background services stay up after Ctrl-C; \`make services-down\` stops them.
$rule

BANNER

exec "$BIN/invoicegw" serve
