#!/usr/bin/env bash
# Re-fetches the htmx files in static/ from their npm packages, at exactly the
# versions pinned in static/VERSIONS (the one place they are kept).
# To upgrade: edit static/VERSIONS, then run `make vendor-htmx`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
static="$root/static"
versions="$static/VERSIONS"

version_of() {
	local v
	v="$(awk -v pkg="$1" '$1 == pkg { print $2 }' "$versions")"
	if [[ -z "$v" ]]; then
		echo "vendor-htmx: no version for $1 in $versions" >&2
		exit 1
	fi
	printf '%s\n' "$v"
}

htmx_version="$(version_of htmx.org)"
ws_version="$(version_of htmx-ext-ws)"

command -v npm >/dev/null || { echo "vendor-htmx: npm is required" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "vendor-htmx: fetching htmx.org@$htmx_version and htmx-ext-ws@$ws_version"
(cd "$work" && npm pack --silent "htmx.org@$htmx_version" "htmx-ext-ws@$ws_version" >/dev/null)

mkdir -p "$work/htmx" "$work/ws"
tar -xzf "$work/htmx.org-$htmx_version.tgz" -C "$work/htmx"
tar -xzf "$work/htmx-ext-ws-$ws_version.tgz" -C "$work/ws"

# The ws extension's minified build lives in dist/ in current releases;
# older ones shipped only ws.js at the package root.
ws_src="$work/ws/package/dist/ws.min.js"
[[ -f "$ws_src" ]] || ws_src="$work/ws/package/dist/ws.js"
[[ -f "$ws_src" ]] || ws_src="$work/ws/package/ws.js"

install -m 0644 "$work/htmx/package/dist/htmx.min.js" "$static/htmx.min.js"
install -m 0644 "$work/htmx/package/LICENSE" "$static/htmx.LICENSE"
install -m 0644 "$ws_src" "$static/htmx-ext-ws.js"
install -m 0644 "$work/ws/package/LICENSE" "$static/htmx-ext-ws.LICENSE"

echo "vendor-htmx: static/ now has htmx.org $htmx_version and htmx-ext-ws $ws_version"
