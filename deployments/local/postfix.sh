#!/usr/bin/env bash
# A real MTA on loopback for delivery and DSN tests: Debian's postfix, used as the
# gateway's relay and, in direct mode, as the recipient domain's MX.
#
# Usage: deployments/local/postfix.sh install|configure|start|stop|reload|status|clear|env|mailbox
#   install    apt-get install postfix when missing (debconf preseeded "Local only")
#   configure  write the configuration (private instance, or the system one with
#              POSTFIX_MODE=system) and the maps; idempotent
#   start      configure, then start (or reload when running)
#   stop       stop the instance
#   reload     re-read maps and main.cf (a new transport entry needs this)
#   status     one line
#   clear      delete every queued message and every delivered mailbox file
#   env        print export lines the Go tests read (INVOICEGW_TEST_POSTFIX_*)
#   mailbox    print the Maildir all recipients of MAILBOX_DOMAIN share (new/ holds
#              one file per delivered message)
#
# Settings (environment):
#   POSTFIX_MODE      private (default): an instance of its own under tmp/postfix with
#                     its own queue, listening on 127.0.0.1:$POSTFIX_PORT; system: the
#                     machine's /etc/postfix, listening on 127.0.0.1:25
#   POSTFIX_DIR       private instance directory (default tmp/postfix)
#   POSTFIX_PORT      private instance SMTP port (default 2587)
#   GW_INBOUND_ADDR   the gateway's inbound SMTP listener, host:port (default
#                     127.0.0.1:2525); may also be given as the second argument
#   BOUNCE_DOMAIN     the VERP bounce domain routed to GW_INBOUND_ADDR (default gw.test)
#   MAILBOX_DOMAIN    virtual mailbox domain delivered locally (default customer.test);
#                     local parts starting with "nobody" do not exist (DSN 5.1.1)
#   SLOW_DOMAIN       routed to SLOW_ADDR where nothing listens (default slow.test),
#                     which gives "delayed" DSNs
#   SLOW_ADDR         default 127.0.0.1:2526
#
# Everything stays on loopback: "Local only" mode, inet_interfaces on 127.0.0.1, and
# anything not in the maps goes to the error transport. No chroot (Debian's chroot
# needs its init script's copies of /etc files). Checked with postfix 3.7.
set -euo pipefail

# shellcheck source=deployments/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

POSTFIX_MODE=${POSTFIX_MODE:-private}
POSTFIX_DIR=${POSTFIX_DIR:-$TMP/postfix}
POSTFIX_PORT=${POSTFIX_PORT:-2587}
GW_INBOUND_ADDR=${2:-${GW_INBOUND_ADDR:-127.0.0.1:2525}}
BOUNCE_DOMAIN=${BOUNCE_DOMAIN:-gw.test}
MAILBOX_DOMAIN=${MAILBOX_DOMAIN:-customer.test}
SLOW_DOMAIN=${SLOW_DOMAIN:-slow.test}
SLOW_ADDR=${SLOW_ADDR:-127.0.0.1:2526}

case $POSTFIX_MODE in
private)
	CONF=$POSTFIX_DIR/etc
	LISTEN=127.0.0.1:$POSTFIX_PORT
	MAILBOX_BASE=$POSTFIX_DIR/mail
	LOG=$POSTFIX_DIR/postfix.log
	PF=(/usr/sbin/postfix -c "$CONF")
	PC=(/usr/sbin/postconf -c "$CONF")
	;;
system)
	CONF=/etc/postfix
	LISTEN=127.0.0.1:25
	MAILBOX_BASE=/var/mail/vhosts
	LOG=/var/log/postfix.log
	PF=(/usr/sbin/postfix)
	PC=(/usr/sbin/postconf)
	;;
*) die "POSTFIX_MODE must be private or system, not $POSTFIX_MODE" ;;
esac

# hostport ADDR turns host:port into postfix's [host]:port (bracketed: no DNS here).
hostport() { printf '[%s]:%s' "${1%:*}" "${1##*:}"; }

install() {
	if command -v /usr/sbin/postfix >/dev/null && [[ -x /usr/sbin/postfix ]]; then
		say postfix "installed ($(/usr/sbin/postconf -h mail_version 2>/dev/null))"
		return
	fi
	say postfix "installing (non-interactive, Local only)"
	as_root debconf-set-selections <<-EOF
		postfix postfix/main_mailer_type select Local only
		postfix postfix/mailname string mta.test
	EOF
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix >/dev/null
	# The package may start the system instance; whoever needs it starts it.
	as_root /usr/sbin/postfix stop >/dev/null 2>&1 || true
}

configure() {
	[[ -x /usr/sbin/postfix ]] || install
	id vmail >/dev/null 2>&1 || as_root useradd --system --no-create-home --shell /usr/sbin/nologin vmail
	local uid gid
	uid=$(id -u vmail)
	gid=$(id -g vmail)

	if [[ $POSTFIX_MODE == private ]]; then
		mkdir -p "$CONF" "$POSTFIX_DIR/queue" "$POSTFIX_DIR/data" "$MAILBOX_BASE"
		if ! [[ -e $CONF/master.cf ]]; then
			cp /etc/postfix/master.cf "$CONF/master.cf"
			# Only our loopback port instead of *:25.
			sed -i -E "s/^smtp( +)inet /$LISTEN inet /" "$CONF/master.cf"
		fi
		[[ -e $CONF/main.cf ]] || : >"$CONF/main.cf"
		"${PC[@]}" -e \
			"queue_directory = $POSTFIX_DIR/queue" \
			"data_directory = $POSTFIX_DIR/data" \
			"syslog_name = postfix-invoicegw" \
			"mail_owner = postfix" \
			"setgid_group = postdrop"
	else
		mkdir -p "$MAILBOX_BASE"
	fi
	chown -R "$uid:$gid" "$MAILBOX_BASE"

	"${PC[@]}" -e \
		"compatibility_level = 3.6" \
		"myhostname = mta.test" \
		"mydestination = \$myhostname, localhost" \
		"inet_interfaces = ${LISTEN%:*}" \
		"inet_protocols = ipv4" \
		"mynetworks = 127.0.0.0/8" \
		"alias_maps =" "alias_database =" \
		"default_transport = error:outside mail is disabled on this test MTA" \
		"relay_transport = error:outside mail is disabled on this test MTA" \
		"transport_maps = hash:$CONF/transport" \
		"virtual_mailbox_domains = $MAILBOX_DOMAIN" \
		"virtual_mailbox_maps = regexp:$CONF/vmailbox" \
		"virtual_mailbox_base = $MAILBOX_BASE" \
		"virtual_uid_maps = static:$uid" \
		"virtual_gid_maps = static:$gid" \
		"virtual_minimum_uid = 100" \
		"smtpd_reject_unlisted_recipient = no" \
		"smtpd_tls_security_level = none" \
		"smtp_tls_security_level = none" \
		"maillog_file_prefixes = /var, /dev/stdout, ${LOG%/*}" \
		"maillog_file = $LOG" \
		"queue_run_delay = 5s" \
		"minimal_backoff_time = 5s" \
		"maximal_backoff_time = 10s" \
		"delay_warning_time = 15s" \
		"smtpd_client_connection_count_limit = 0" \
		"smtpd_client_message_rate_limit = 0" \
		"default_process_limit = 100"
	"${PC[@]}" -F '*/*/chroot = n'
	if [[ $POSTFIX_MODE == system ]]; then
		sed -i -E "s/^smtp( +)inet /$LISTEN inet /" "$CONF/master.cf"
	fi

	cat >"$CONF/transport" <<-EOF
		$BOUNCE_DOMAIN smtp:$(hostport "$GW_INBOUND_ADDR")
		$SLOW_DOMAIN smtp:$(hostport "$SLOW_ADDR")
	EOF
	/usr/sbin/postmap "$CONF/transport"
	# Every recipient of the domain shares one Maildir (the trailing slash; virtual(8)
	# refuses regexp substitutions, so no per-user directory); "nobody*" stays unknown.
	local domain_re=${MAILBOX_DOMAIN//./\\.}
	cat >"$CONF/vmailbox" <<-EOF
		if !/^nobody/
		/@$domain_re\$/ $MAILBOX_DOMAIN/inbox/
		endif
	EOF
	as_root "${PF[@]}" set-permissions >/dev/null 2>&1 || true
	# postfix reports fatal errors only to a terminal or its log.
	as_root "${PF[@]}" check || { tail -n 5 "$LOG" >&2; die "postfix check failed"; }
	say postfix "configured ($POSTFIX_MODE, $LISTEN, $BOUNCE_DOMAIN -> $GW_INBOUND_ADDR)"
}

running() { as_root "${PF[@]}" status >/dev/null 2>&1; }

start() {
	if ! running && smtp_ok "${LISTEN%:*}" "${LISTEN##*:}"; then
		die "something else answers on $LISTEN (another checkout's postfix? stop it with its postfix.sh stop, or set POSTFIX_PORT)"
	fi
	configure
	if running; then
		as_root "${PF[@]}" reload >/dev/null 2>&1
		say postfix "reloaded"
	else
		as_root "${PF[@]}" start >/dev/null 2>&1 || { tail -n 5 "$LOG" >&2; die "postfix did not start"; }
		say postfix "started"
	fi
	wait_until 10 smtp_ok "${LISTEN%:*}" "${LISTEN##*:}" || die "postfix does not answer on $LISTEN (see $LOG)"
}

stop() {
	if running; then
		as_root "${PF[@]}" stop >/dev/null 2>&1
		say postfix "stopped"
	else
		say postfix "not running"
	fi
}

reload() {
	/usr/sbin/postmap "$CONF/transport"
	as_root "${PF[@]}" reload >/dev/null 2>&1
	say postfix "reloaded"
}

status() {
	if running; then say postfix "running on $LISTEN ($POSTFIX_MODE)"; else say postfix "not running ($POSTFIX_MODE)"; fi
}

clear_all() {
	as_root /usr/sbin/postsuper -c "$CONF" -d ALL >/dev/null 2>&1 || true
	find "$MAILBOX_BASE" -type f -path '*/new/*' -delete 2>/dev/null || true
	find "$MAILBOX_BASE" -type f -path '*/cur/*' -delete 2>/dev/null || true
	say postfix "queue and mailboxes cleared"
}

env_lines() {
	cat <<-EOF
		export INVOICEGW_TEST_POSTFIX_ADDR=$LISTEN
		export INVOICEGW_TEST_POSTFIX_MAILDIR=$MAILBOX_BASE/$MAILBOX_DOMAIN/inbox
		export INVOICEGW_TEST_POSTFIX_LOG=$LOG
		export INVOICEGW_TEST_POSTFIX_BOUNCE_DOMAIN=$BOUNCE_DOMAIN
		export INVOICEGW_TEST_POSTFIX_INBOUND=$GW_INBOUND_ADDR
		export INVOICEGW_TEST_POSTFIX_SLOW_DOMAIN=$SLOW_DOMAIN
		export INVOICEGW_TEST_POSTFIX_MAILBOX_DOMAIN=$MAILBOX_DOMAIN
	EOF
}

case ${1:-} in
install) install ;;
configure) configure ;;
start) start ;;
stop) stop ;;
reload) reload ;;
status) status ;;
clear) clear_all ;;
env) env_lines ;;
mailbox) echo "$MAILBOX_BASE/$MAILBOX_DOMAIN/inbox" ;;
*) die "usage: $0 install|configure|start|stop|reload|status|clear|env|mailbox [gateway-inbound-host:port]" ;;
esac
