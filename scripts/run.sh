#!/usr/bin/env bash
# Set up and run: installs missing Debian packages, builds, and runs the gateway with
# configs/gateway.json (or the config given as $1). When the config's upstream broker is on
# loopback and nothing listens there, a local mosquitto is started for the session and stopped
# afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

config=${1:-configs/gateway.json}
ensure_packages "${RUN_PACKAGES[@]}"
# The gateway and the MQTT-SN client tools the README's "Try it" uses.
build_preset default --target mqttsn-gateway mqttsn-pub mqttsn-sub
gateway=build/bin/mqttsn-gateway
"$gateway" --check-config "$config" || exit 2

# The upstream URI the gateway will use (the documented default when the key is absent).
uri=$(sed -n 's/.*"uri"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$config" | head -n 1)
uri=${uri:-tcp://127.0.0.1:1883}
hostport=${uri#*://}
host=${hostport%:*}
port=${hostport##*:}
host=${host#[}
host=${host%]}

broker_pid=
stop_broker() { [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null; true; }
trap stop_broker EXIT

listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

case "$host" in
  127.*|localhost|::1)
    if listening "$host" "$port"; then
      log "using the broker already listening on $host:$port"
    else
      log "no broker on $host:$port: starting a local mosquitto on loopback for this session"
      conf=$(mktemp -d)/mosquitto.conf
      printf 'listener %s %s\nallow_anonymous true\n' "$port" "$host" > "$conf"
      mosquitto -c "$conf" >"${conf%.conf}.log" 2>&1 &
      broker_pid=$!
      for _ in $(seq 50); do listening "$host" "$port" && break; sleep 0.1; done
      listening "$host" "$port" || { echo "mosquitto did not start; see ${conf%.conf}.log" >&2; exit 1; }
    fi
    ;;
  *) log "upstream broker is $host:$port (not on loopback): not starting one" ;;
esac

log "running $gateway --config $config (stop with Ctrl-C)"
"$gateway" --config "$config" &
gateway_pid=$!
# SIGINT/SIGTERM to this script reach the gateway as SIGTERM: it stops cleanly, then the broker.
trap 'kill -TERM "$gateway_pid" 2>/dev/null' INT TERM
status=0
wait "$gateway_pid" || status=$?
while kill -0 "$gateway_pid" 2>/dev/null; do wait "$gateway_pid" || status=$?; done
exit "$status"
