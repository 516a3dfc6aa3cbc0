#!/usr/bin/env bash
# Makes sure a local RabbitMQ broker is installed, running and accepting
# connections. Safe to run any number of times: it only acts on what is
# missing (package not installed, node down, or node up with the app stopped).
#
# Environment:
#   RABBITMQ_WAIT_SECONDS  how long to wait for the broker to come up (default 60)
set -euo pipefail

wait_seconds="${RABBITMQ_WAIT_SECONDS:-60}"
log=/var/log/rabbitmq/ensure-rabbitmq.log

name=ensure-rabbitmq
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Quiet probes; each is bounded so a wedged node cannot hang the script.
node_up() { as_root timeout 30 rabbitmq-diagnostics -q ping >/dev/null 2>&1; }
app_running() { as_root timeout 30 rabbitmq-diagnostics -q check_running >/dev/null 2>&1; }
ports_open() { as_root timeout 30 rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; }
ready() { app_running && ports_open; }
booting() {
	as_root timeout 30 rabbitmq-diagnostics -q is_booting --formatter json 2>/dev/null |
		grep -q '"result":true'
}

wait_ready() {
	local deadline=$((SECONDS + wait_seconds))
	say "waiting up to ${wait_seconds}s for RabbitMQ to accept connections..."
	until ready; do
		if ((SECONDS >= deadline)); then
			die "RabbitMQ did not come up within ${wait_seconds}s; see /var/log/rabbitmq/ (and $log)"
		fi
		sleep 1
	done
}

# 1. Installed?
if ! command -v rabbitmq-server >/dev/null 2>&1 && [[ ! -x /usr/sbin/rabbitmq-server ]]; then
	say "rabbitmq-server is not installed; installing it from Debian's packages"
	as_root apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server
fi
# /usr/sbin is not always on PATH for non-root users.
PATH="$PATH:/usr/sbin:/sbin"

# 2. Running?
if ready; then
	:
elif node_up; then
	if booting; then
		say "RabbitMQ node is running and its app is still booting"
	else
		say "RabbitMQ node is running but its app is stopped; starting the app"
		as_root timeout 60 rabbitmqctl -q start_app || say "start_app returned an error; waiting anyway"
	fi
	wait_ready
else
	say "RabbitMQ is not running; starting it with 'rabbitmq-server -detached'"
	as_root mkdir -p "$(dirname "$log")"
	# Detach fully: never hand our stdout/stderr (maybe a pipe that make or CI
	# waits on) to the long-lived broker.
	as_root sh -c 'rabbitmq-server -detached </dev/null >>"$1" 2>&1' sh "$log" ||
		die "'rabbitmq-server -detached' failed; see $log"
	wait_ready
fi

say "RabbitMQ is ready: $(as_root rabbitmq-diagnostics -q check_port_connectivity 2>/dev/null | sed -n 1p)"
