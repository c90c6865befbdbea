#!/usr/bin/env bash
# Local services for development and tests, shared by `make run`, `make test`
# and `make services-up`:
#
#   PostgreSQL  127.0.0.1:5432, database test, user postgres (the machine's own)
#   Redis       127.0.0.1:6379 (the machine's own)
#   MinIO       127.0.0.1:9100, console :9101, built into bin/minio, data in tmp/minio
#
# Usage: deployments/local/services.sh up|down|status|env|tools
#   up      start whatever is not answering (builds bin/minio when missing)
#   down    stop what these scripts started (MinIO, dev-smtp); PostgreSQL and
#           Redis belong to the machine and stay up
#   status  one line per service
#   env     print the test environment as `export` lines, for
#           eval "$(deployments/local/services.sh env)"
#   tools   install the Debian tools the tests call, when any is missing
#
# Every step is idempotent: running `up` or `tools` twice does nothing new.
# MINIO_PORT and MINIO_CONSOLE_PORT move MinIO off its usual ports.
set -euo pipefail

# shellcheck source=deployments/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MINIO_MODULE=github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_PORT=${MINIO_PORT:-9100}
MINIO_CONSOLE_PORT=${MINIO_CONSOLE_PORT:-9101}
MINIO_USER=invoicegw
MINIO_PASSWORD=invoicegw-secret

PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
PG_DB="test"
REDIS_HOST=127.0.0.1
REDIS_PORT=6379

# Commands the tests call, each with the Debian package that provides it.
TOOLS=(
	pdftotext:poppler-utils
	qpdf:qpdf
	zbarimg:zbar-tools
	chromium:chromium
	postfix:postfix
	wrk:wrk
	curl:curl
)

# --- PostgreSQL --------------------------------------------------------------

postgres_ready() {
	pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2
}

postgres_up() {
	command -v pg_isready >/dev/null || die "PostgreSQL client tools (pg_isready, psql) are not installed"
	if ! postgres_ready; then
		local version
		version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
		[[ -n $version ]] || die "PostgreSQL is not answering on $PG_HOST:$PG_PORT and is not installed here (no /etc/postgresql)"
		say postgres "not answering; starting cluster $version/main"
		as_root detached pg_ctlcluster --skip-systemctl-redirect "$version" main start </dev/null
		wait_until 30 postgres_ready || die "PostgreSQL did not accept connections on $PG_HOST:$PG_PORT within 30s"
	fi
	if ! psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -Atqc 'select 1' >/dev/null 2>&1; then
		say postgres "creating database $PG_DB"
		createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$PG_DB"
	fi
	say postgres "ready on $PG_HOST:$PG_PORT (database $PG_DB, user $PG_USER)"
}

# --- Redis -------------------------------------------------------------------

redis_ready() {
	[[ $(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

redis_up() {
	command -v redis-cli >/dev/null || die "redis-cli is not installed"
	if ! redis_ready; then
		command -v redis-server >/dev/null || die "Redis is not answering on $REDIS_HOST:$REDIS_PORT and redis-server is not installed"
		say redis "not answering; starting redis-server"
		as_root mkdir -p /var/lib/redis /var/log/redis
		as_root detached redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
			--save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log </dev/null >/dev/null
		wait_until 15 redis_ready || die "Redis did not answer PING on $REDIS_HOST:$REDIS_PORT within 15s (see /var/log/redis/ci.log)"
	fi
	say redis "ready on $REDIS_HOST:$REDIS_PORT"
}

# --- MinIO -------------------------------------------------------------------

minio_healthy() {
	http_ok 127.0.0.1 "$MINIO_PORT" /minio/health/live
}

minio_build() {
	if [[ -x $BIN/minio ]]; then
		return
	fi
	command -v go >/dev/null || die "go is not on PATH; it is needed to build bin/minio"
	mkdir -p "$BIN" "$TMP"
	say minio "building bin/minio from $MINIO_MODULE (about 5 minutes the first time; log tmp/minio-build.log)"
	# flock: one build at a time, even from two make runs. Building into
	# tmp/gobin and renaming means bin/minio is never a half-written file.
	(
		flock 9
		[[ -x $BIN/minio ]] && exit 0
		rm -rf "$TMP/gobin"
		if ! GOBIN=$TMP/gobin go install "$MINIO_MODULE" >"$TMP/minio-build.log" 2>&1; then
			tail -n 20 "$TMP/minio-build.log" >&2
			die "building MinIO failed (full log: tmp/minio-build.log)"
		fi
		mv "$TMP/gobin/minio" "$BIN/minio"
		rmdir "$TMP/gobin"
	) 9>"$TMP/minio-build.lock"
	say minio "built bin/minio"
}

minio_up() {
	if minio_healthy; then
		say minio "already answering on 127.0.0.1:$MINIO_PORT"
		return
	fi
	minio_build
	mkdir -p "$TMP/minio"
	say minio "starting on 127.0.0.1:$MINIO_PORT (console :$MINIO_CONSOLE_PORT, data tmp/minio, log tmp/minio.log)"
	start_background "$TMP/minio.pid" "$TMP/minio.log" \
		env MINIO_ROOT_USER="$MINIO_USER" MINIO_ROOT_PASSWORD="$MINIO_PASSWORD" MINIO_UPDATE=off \
		"$BIN/minio" server --address "127.0.0.1:$MINIO_PORT" \
		--console-address "127.0.0.1:$MINIO_CONSOLE_PORT" "$TMP/minio"
	local deadline=$((SECONDS + 60))
	until minio_healthy; do
		if ! pid_alive "$TMP/minio.pid" "$BIN/minio"; then
			tail -n 20 "$TMP/minio.log" >&2
			die "MinIO exited during start-up (full log: tmp/minio.log)"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 20 "$TMP/minio.log" >&2
			die "MinIO did not become healthy on 127.0.0.1:$MINIO_PORT within 60s (full log: tmp/minio.log)"
		fi
		sleep 0.5
	done
	say minio "healthy (pid $(<"$TMP/minio.pid"))"
}

# --- subcommands ---------------------------------------------------------------

cmd_up() {
	postgres_up
	redis_up
	minio_up
}

cmd_down() {
	stop_pidfile dev-smtp "$TMP/dev-smtp.pid" dev-smtp
	stop_pidfile minio "$TMP/minio.pid" "$BIN/minio"
	say note "PostgreSQL and Redis are the machine's services and stay up"
}

cmd_status() {
	local state
	state=down
	postgres_ready 2>/dev/null && state=up
	say postgres "$state ($PG_HOST:$PG_PORT)"
	state=down
	redis_ready && state=up
	say redis "$state ($REDIS_HOST:$REDIS_PORT)"
	state=down
	minio_healthy && state=up
	pid_alive "$TMP/minio.pid" "$BIN/minio" && state="$state, pid $(<"$TMP/minio.pid")"
	say minio "$state (127.0.0.1:$MINIO_PORT)"
	state=down
	smtp_ok 127.0.0.1 1025 && state=up
	pid_alive "$TMP/dev-smtp.pid" dev-smtp && state="$state, pid $(<"$TMP/dev-smtp.pid")"
	say dev-smtp "$state (127.0.0.1:1025)"
}

# cmd_env prints the variables integration tests read. A value already set in
# the environment wins, so a test run can point at other servers.
cmd_env() {
	local name default
	while read -r name default; do
		printf 'export %s=%q\n' "$name" "${!name:-$default}"
	done <<-EOF
		INVOICEGW_TEST_DATABASE_URL postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB?sslmode=disable
		INVOICEGW_TEST_REDIS_URL redis://$REDIS_HOST:$REDIS_PORT/0
		INVOICEGW_TEST_S3_ENDPOINT http://127.0.0.1:$MINIO_PORT
		INVOICEGW_TEST_S3_REGION us-east-1
		INVOICEGW_TEST_S3_ACCESS_KEY $MINIO_USER
		INVOICEGW_TEST_S3_SECRET_KEY $MINIO_PASSWORD
	EOF
}

have_command() {
	command -v "$1" >/dev/null || [[ -x /usr/sbin/$1 ]]
}

cmd_tools() {
	local entry missing=() names=()
	for entry in "${TOOLS[@]}"; do
		names+=("${entry%%:*}")
		have_command "${entry%%:*}" || missing+=("${entry#*:}")
	done
	if ((${#missing[@]} == 0)); then
		say tools "all present (${names[*]})"
		return
	fi
	command -v apt-get >/dev/null || die "missing Debian packages ${missing[*]} and no apt-get to install them"
	mkdir -p "$TMP"
	local log=$TMP/apt.log
	say tools "installing ${missing[*]} with apt-get (log tmp/apt.log)"
	if [[ " ${missing[*]} " == *" postfix "* ]]; then
		# "Local only": loopback listener, anything non-local goes to the error
		# transport, so nothing can leave the machine. Tests configure the rest.
		as_root debconf-set-selections <<-EOF
			postfix postfix/main_mailer_type select Local only
			postfix postfix/mailname string mta.test
		EOF
	fi
	local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
	if ! as_root "${apt[@]}" update >"$log" 2>&1 ||
		! as_root "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
		tail -n 20 "$log" >&2
		die "apt-get failed (full log: tmp/apt.log)"
	fi
	if [[ " ${missing[*]} " == *" postfix "* ]] && as_root /usr/sbin/postfix status >/dev/null 2>&1; then
		# The package may start postfix; the tests start and configure it themselves.
		as_root /usr/sbin/postfix stop >>"$log" 2>&1 || true
	fi
	for entry in "${TOOLS[@]}"; do
		have_command "${entry%%:*}" || die "${entry%%:*} is still missing after installing ${entry#*:}"
	done
	say tools "installed ${missing[*]}"
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) cmd_env ;;
tools) cmd_tools ;;
*)
	sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" >&2
	exit 2
	;;
esac
