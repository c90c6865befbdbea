# Shared helpers for the scripts in deployments/local/. Sourced, not run.
# shellcheck shell=bash
# The bash -c programs below are single-quoted on purpose: they expand their
# own arguments. BIN and TMP are used by the scripts that source this file.
# shellcheck disable=SC2016,SC2034

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$ROOT/bin
TMP=$ROOT/tmp

# say STEP MESSAGE prints the one short line each step reports.
say() { printf '%-9s %s\n' "$1:" "$2"; }

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# wait_until SECONDS COMMAND... retries COMMAND every half second until it
# succeeds (0) or SECONDS have passed (1).
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.5
	done
}

# port_open HOST PORT: something accepts TCP connections there.
port_open() {
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# http_ok HOST PORT PATH: a GET answers 200. Plain bash, so it works before
# curl is installed.
http_ok() {
	timeout 3 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		printf "GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n" "$2" "$0" "$1" >&3
		read -r _ code _ <&3
		[[ $code == 200 ]]' "$1" "$2" "$3" 2>/dev/null
}

# smtp_ok HOST PORT: an SMTP server there greets with 220. Says QUIT
# politely, so the probe does not show up as an error in the server's log.
smtp_ok() {
	timeout 3 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		read -r code _ <&3
		printf "QUIT\r\n" >&3
		read -r _ <&3
		[[ $code == 220 ]]' "$1" "$2" 2>/dev/null
}

# detached COMMAND... runs COMMAND with every file descriptor above 2 closed.
# A daemon started from make must not keep a pipe of its caller (make's
# jobserver, a CI runner's log pipe) open, or the caller waits for it forever.
detached() {
	bash -c 'for fd in /proc/$$/fd/*; do
			fd=${fd##*/}
			if ((fd > 2)); then eval "exec $fd>&-"; fi
		done
		exec "$@"' detached "$@"
}

# start_background PIDFILE LOGFILE COMMAND... starts COMMAND as a daemon in its
# own session (so Ctrl-C in the terminal and the end of the make run leave it
# running), appends its output to LOGFILE and records its pid in PIDFILE.
start_background() {
	local pidfile=$1 logfile=$2
	shift 2
	rm -f "$pidfile"
	setsid bash -c 'pidfile=$1; shift
		for fd in /proc/$$/fd/*; do
			fd=${fd##*/}
			if ((fd > 2)); then eval "exec $fd>&-"; fi
		done
		echo $$ >"$pidfile"
		exec "$@"' start-background "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 &
	wait_until 5 test -s "$pidfile" || die "could not start $1 (see ${logfile#"$ROOT"/})"
}

# pid_alive PIDFILE PATTERN: the pid in PIDFILE runs a command line containing
# PATTERN (so a stale pidfile never makes us signal an unrelated process).
pid_alive() {
	local pid
	[[ -s $1 ]] || return 1
	pid=$(<"$1")
	[[ -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2"
}

# stop_pidfile NAME PIDFILE PATTERN stops the process recorded in PIDFILE, if
# it is still the one we started, and removes the pidfile.
stop_pidfile() {
	local name=$1 pidfile=$2 pattern=$3 pid
	if ! [[ -e $pidfile ]]; then
		say "$name" "not started by these scripts (no ${pidfile#"$ROOT"/}); left alone"
		return
	fi
	if ! pid_alive "$pidfile" "$pattern"; then
		say "$name" "not running (removed stale ${pidfile#"$ROOT"/})"
		rm -f "$pidfile"
		return
	fi
	pid=$(<"$pidfile")
	kill -TERM "$pid"
	if ! wait_until 20 eval "! kill -0 $pid 2>/dev/null"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
	say "$name" "stopped (pid $pid)"
}

# as_root COMMAND... runs COMMAND as root (through sudo when not root).
as_root() {
	if ((EUID == 0)); then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root for: $*"
	fi
}
