#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed at /usr/bin/chromium for the
# browser tests. Idempotent: does nothing when it is already there. The
# browser only ever comes from Debian's packages, never from a download.
set -euo pipefail

say() { printf 'ensure-chromium: %s\n' "$*"; }
die() { printf 'ensure-chromium: ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [[ "$(id -u)" -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

if [[ ! -x /usr/bin/chromium ]]; then
	say "/usr/bin/chromium is missing; installing Debian's chromium package"
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
	[[ -x /usr/bin/chromium ]] || die "chromium was installed but /usr/bin/chromium is still missing"
fi

say "ready: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
