#!/usr/bin/env bash
# Runs every Fuzz target in the module, one after another, each for FUZZTIME.
# Targets are found with `go test -list`, so new ones are picked up without
# editing anything. Fails (after trying them all) if any target fails.
#
# Usage: deployments/local/fuzz.sh [FUZZTIME]    FUZZTIME defaults to 30s
set -euo pipefail

# shellcheck source=deployments/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

fuzztime=${1:-30s}

# `go test -list` prints each package's matching names, then a line
# "ok <import path> <time>" for that package.
listing=$(go test -list '^Fuzz' ./...) || die "go test -list failed"
targets=()
names=()
while read -r first second _; do
	case $first in
	Fuzz*) names+=("$first") ;;
	ok)
		for name in "${names[@]}"; do
			targets+=("$second $name")
		done
		names=()
		;;
	esac
done <<<"$listing"

if ((${#targets[@]} == 0)); then
	say fuzz "no Fuzz targets found"
	exit 0
fi

# crashers NAME DIR: the inputs saved for target NAME under package DIR.
crashers() {
	find "$2/testdata/fuzz/$1" -type f 2>/dev/null | sort
}

# fuzz_once PKG NAME DIR: 0 when the target passed, 1 when it failed with a
# saved input (a real finding), 2 when it failed with nothing saved and only
# "context deadline exceeded": the Go 1.26 coordinator's shutdown race at the
# -fuzztime boundary (go.dev/issue/75804, fixed in Go 1.27), not our code.
# A crasher or a hung target always leaves an input under testdata/fuzz/.
fuzz_once() {
	local pkg=$1 name=$2 dir=$3 before out status=0
	before=$(crashers "$name" "$dir")
	out=$(mktemp)
	go test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$out" || status=$?
	if ((status == 0)); then
		rm -f "$out"
		return 0
	fi
	if [[ $(crashers "$name" "$dir") == "$before" ]] &&
		grep -q '^    context deadline exceeded$' "$out" &&
		! grep -q 'Failing input written to' "$out"; then
		rm -f "$out"
		return 2
	fi
	rm -f "$out"
	return 1
}

say fuzz "${#targets[@]} targets, $fuzztime each"
failed=()
raced=()
for target in "${targets[@]}"; do
	read -r pkg name <<<"$target"
	dir=$(go list -f '{{.Dir}}' "$pkg")
	say fuzz "$name in ${pkg#github.com/invoicegw/invoicegw/}"
	status=0
	fuzz_once "$pkg" "$name" "$dir" || status=$?
	if ((status == 2)); then
		say fuzz "$name: stopped by Go's fuzztime deadline race (go.dev/issue/75804), no input saved; running it again"
		status=0
		fuzz_once "$pkg" "$name" "$dir" || status=$?
		if ((status == 2)); then
			raced+=("$name ($pkg)")
			status=0
		fi
	fi
	if ((status != 0)); then
		failed+=("$name ($pkg)")
	fi
done

if ((${#raced[@]} > 0)); then
	printf 'fuzz target hit the deadline race twice, with no input saved: %s\n' "${raced[@]}" >&2
fi

if ((${#failed[@]} > 0)); then
	printf 'fuzz target failed: %s\n' "${failed[@]}" >&2
	die "${#failed[@]} of ${#targets[@]} fuzz targets failed (new crashers are saved under the package's testdata/fuzz/)"
fi
say fuzz "all ${#targets[@]} targets passed"
