# Sourced by run.sh and smoke.sh: a private mosquitto on a free 127.0.0.1 port, stopped by its PID.
# broker_start DIR sets BROKER_PORT and BROKER_PID; broker_stop ends it.
# BENCH_BROKER_NODELAY=1: the broker sets TCP_NODELAY on its sockets (mosquitto's set_tcp_nodelay,
# off by default). With Nagle on, the broker holds a PUBLISH to the counting subscriber while its
# previous one is unacknowledged, which adds 0.5-1.5 ms to e2e at one message in flight (QoS 1,
# N=1) in most set-ups; with it on, e2e p50 falls to ~0.1 ms, but the broker spends ~30 % more CPU
# per QoS 0 message and its QoS 0 msgs/s fall, so the default stays off.

broker_binary() {
  local candidate
  for candidate in "${MQTTSN_MOSQUITTO:-}" /usr/sbin/mosquitto "$(command -v mosquitto || true)"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
  return 1
}

# A random port in 20000..59999 that nothing on 127.0.0.1 accepts connections on right now.
free_tcp_port() {
  local port i
  for i in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

broker_start() {
  local dir=$1 binary attempt
  binary=$(broker_binary)
  for attempt in 1 2 3; do
    BROKER_PORT=$(free_tcp_port)
    # Queues large enough that the broker never drops what a slow subscriber has not read yet:
    # loss must be the gateway's, not the broker's policy.
    cat >"$dir/mosquitto.conf" <<CONF
listener $BROKER_PORT 127.0.0.1
allow_anonymous true
max_queued_messages 10000000
max_queued_bytes 0
max_inflight_messages 0
max_connections -1
persistence false
log_dest stderr
log_type error
log_type warning
$([ "${BENCH_BROKER_NODELAY:-0}" = 1 ] && echo "set_tcp_nodelay true")
CONF
    # As root mosquitto drops to the "mosquitto" user, which must be able to read the config.
    chmod 755 "$dir"
    chmod 644 "$dir/mosquitto.conf"
    "$binary" -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
    BROKER_PID=$!
    local i
    for i in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$BROKER_PORT") 2>/dev/null; then return 0; fi
      kill -0 "$BROKER_PID" 2>/dev/null || break
      sleep 0.1
    done
    broker_stop
  done
  echo "cannot start mosquitto:" >&2
  cat "$dir/mosquitto.log" >&2
  return 1
}

broker_stop() {
  if [ -n "${BROKER_PID:-}" ]; then
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
  fi
}
