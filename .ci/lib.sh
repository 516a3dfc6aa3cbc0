# Shared by the .ci/ensure-*.sh scripts: source it after setting `name`.

say() { printf '%s: %s\n' "$name" "$*"; }
die() { printf '%s: ERROR: %s\n' "$name" "$*" >&2; exit 1; }

# as_root runs a command as root: directly when we are root, through sudo
# when it is available, and fails clearly otherwise. RabbitMQ's and
# PostgreSQL's Debian wrappers only work for root or their own user, so
# their CLIs go through this too.
as_root() {
	if [[ "$(id -u)" -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}
