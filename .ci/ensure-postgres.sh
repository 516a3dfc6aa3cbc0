#!/usr/bin/env bash
# Makes sure a local PostgreSQL is installed, running, listening on
# 127.0.0.1:5432 and trusting user postgres there, as the tests expect (they
# create and drop databases of their own). Safe to run any number of times:
# it only acts on what is missing. It never touches a database's contents.
#
# Environment:
#   POSTGRES_WAIT_SECONDS  how long to wait for the server to accept connections (default 60)
set -euo pipefail

wait_seconds="${POSTGRES_WAIT_SECONDS:-60}"

name=ensure-postgres
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# answers: the server takes a TCP connection from user postgres without a
# password, which is what the tests do.
answers() { PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -w -Atqc 'SELECT 1' >/dev/null 2>&1; }

if answers; then
	say "PostgreSQL answers on 127.0.0.1:5432"
	exit 0
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
	say "installing PostgreSQL (apt-get install -y postgresql)"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >/dev/null ||
		{ as_root apt-get update >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >/dev/null; } ||
		die "could not install postgresql"
fi

version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
[[ -n "$version" ]] || die "no PostgreSQL cluster under /etc/postgresql"
conf="/etc/postgresql/$version/main"
[[ -d "$conf" ]] || as_root pg_createcluster "$version" main >/dev/null

# Trust user postgres on loopback, as the tests connect: a fresh Debian
# cluster asks for a password (scram) there. The line goes first, so it wins.
hba="$conf/pg_hba.conf"
if ! as_root grep -Eq '^host[[:space:]]+all[[:space:]]+(all|postgres)[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
	say "trusting user postgres on 127.0.0.1 in $hba"
	as_root sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
	reload=1
fi

if ! as_root pg_ctlcluster "$version" main status >/dev/null 2>&1; then
	say "starting cluster $version/main"
	as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
		as_root service postgresql start ||
		die "could not start PostgreSQL $version/main"
elif [[ -n "${reload:-}" ]]; then
	as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
fi

for ((i = 0; i < wait_seconds; i++)); do
	if answers; then
		say "PostgreSQL $version answers on 127.0.0.1:5432"
		exit 0
	fi
	sleep 1
done
die "PostgreSQL does not answer on 127.0.0.1:5432 as user postgres after ${wait_seconds}s; see /var/log/postgresql/"
