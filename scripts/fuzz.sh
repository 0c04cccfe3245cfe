#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target in the repository for FUZZTIME each
# (default 30s), one at a time, and fails if any of them fails.
set -u
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}

failed=()
count=0
# Each package directory holding a "func FuzzXxx(" in a _test.go file.
while IFS= read -r dir; do
	pkg="./${dir#./}"
	for name in $(grep -ho '^func Fuzz[A-Za-z0-9_]*(' "$dir"/*_test.go | sed 's/^func //; s/($//' | sort -u); do
		count=$((count + 1))
		echo "== $name ($pkg) for $FUZZTIME"
		if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"; then
			failed+=("$pkg $name")
		fi
	done
done < <(grep -rl --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*(' . | grep -v '/\.' | xargs -r -n1 dirname | sort -u)

if [ "$count" -eq 0 ]; then
	echo "no fuzz targets found" >&2
	exit 1
fi
if [ "${#failed[@]}" -gt 0 ]; then
	echo "FAILED fuzz targets:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "all $count fuzz targets passed"
