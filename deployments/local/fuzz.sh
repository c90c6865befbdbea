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

say fuzz "${#targets[@]} targets, $fuzztime each"
failed=()
for target in "${targets[@]}"; do
	read -r pkg name <<<"$target"
	say fuzz "$name in ${pkg#github.com/invoicegw/invoicegw/}"
	if ! go test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "$pkg"; then
		failed+=("$name ($pkg)")
	fi
done

if ((${#failed[@]} > 0)); then
	printf 'fuzz target failed: %s\n' "${failed[@]}" >&2
	die "${#failed[@]} of ${#targets[@]} fuzz targets failed (new crashers are saved under the package's testdata/fuzz/)"
fi
say fuzz "all ${#targets[@]} targets passed"
