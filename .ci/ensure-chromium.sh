#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed at /usr/bin/chromium for the
# browser tests. Idempotent: does nothing when it is already there. The
# browser only ever comes from Debian's packages, never from a download.
set -euo pipefail

name=ensure-chromium
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ! -x /usr/bin/chromium ]]; then
	say "/usr/bin/chromium is missing; installing Debian's chromium package"
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
	[[ -x /usr/bin/chromium ]] || die "chromium was installed but /usr/bin/chromium is still missing"
fi

say "ready: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
