#!/usr/bin/env bash
# Closes `make test` with one line of counts. gotestsum runs it after the
# tests (--post-run-command), once its own summary has named every skipped
# and failed test with its output, so the reason of each skip is already
# on screen. gotestsum hands the counts over in TESTS_* and the go test
# -json stream in GOTESTSUM_JSONFILE.
#
# The last line is "N passed, N failed, N skipped" alone, the shape CI
# reads. The exit status of `make test` stays go test's: gotestsum returns
# it, and this script fails only if it cannot count.
set -euo pipefail

total="${TESTS_TOTAL:?run by gotestsum --post-run-command}"
failed="${TESTS_FAILED:?}"
skipped="${TESTS_SKIPPED:?}"
errors="${TESTS_ERRORS:-0}"

# A package that does not build has no failed test but a package-level
# failure that gotestsum counts apart from the tests, and no test of it ran:
# the line must still not read "0 failed" then.
passed=$((total - failed - skipped))
((passed >= 0)) || passed=0
if ((failed == 0 && errors > 0)); then
	failed=$errors
fi

# Outside CI a missing broker skips the broker tests instead of failing them
# (CI fails them). A green run that tested nothing across the broker is easy
# to mistake for a real one, so say it last and loud.
if [[ "${CI:-}" != "true" && -s "${GOTESTSUM_JSONFILE:-}" ]]; then
	broker="$(grep -F 'RabbitMQ is not reachable' "$GOTESTSUM_JSONFILE" |
		grep -o '"Test":"[^"]*"' | cut -d'"' -f4 | sort -u || true)"
	if [[ -n "$broker" ]]; then
		n="$(printf '%s\n' "$broker" | wc -l)"
		echo
		echo "!!! $n broker test(s) were SKIPPED: RabbitMQ is not reachable on localhost:5672."
		echo "!!! Nothing that crosses the broker was tested. Run \`make broker\`, then \`make test\` again."
		printf '%s\n' "$broker" | sed 's/^/!!!   /'
		echo
	fi
fi

printf '%d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
