#!/usr/bin/env bash
# Black-box checks of the mqttsn-gateway command line, one case per ctest test.
# Usage: cli_test.sh CASE GATEWAY_BINARY SOURCE_DIR PROJECT_VERSION
set -euo pipefail

case_name=$1 gateway=$2 source_dir=$3 version=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL ($case_name): $*" >&2; exit 1; }

# Runs the gateway with the given arguments; leaves $status, $work/out and $work/err.
run() {
  status=0
  "$gateway" "$@" >"$work/out" 2>"$work/err" || status=$?
  echo "\$ mqttsn-gateway $* -> exit $status"
  sed 's/^/  stdout: /' "$work/out"
  sed 's/^/  stderr: /' "$work/err"
}

expect_status() { [[ $status -eq $1 ]] || fail "exit status $status, expected $1"; }
expect_stdout() { [[ $(cat "$work/out") == "$1" ]] || fail "stdout is not: $1"; }
expect_stderr() { [[ $(cat "$work/err") == "$1" ]] || fail "stderr is not: $1"; }
stdout_has() { grep -qF -- "$1" "$work/out" || fail "stdout lacks: $1"; }
stdout_lacks() { ! grep -qF -- "$1" "$work/out" || fail "stdout has: $1"; }
stderr_has() { grep -qF -- "$1" "$work/err" || fail "stderr lacks: $1"; }

write_config() { printf '%s\n' "$2" >"$work/$1"; }

case $case_name in
  version)
    run --version
    expect_status 0
    expect_stdout "mqttsn-gateway $version"
    ;;
  help)
    run --help
    expect_status 0
    for option in --config --check-config --print-config --log-level --version; do stdout_has "$option"; done
    ;;
  help_example)
    # The example in --help is complete: its configuration is valid as printed.
    run --help
    expect_status 0
    stdout_has "mqttsn-pub -p 1884"
    stdout_has "SIGHUP"
    sed -n "/<<'END'/,/^  END\$/p" "$work/out" | sed '1d;$d' >"$work/example.json"
    [[ -s $work/example.json ]] || fail "--help shows no configuration example"
    run --check-config "$work/example.json"
    expect_status 0
    ;;
  check_examples)
    for file in "$source_dir"/configs/*.json; do
      # The schema the others are checked against is not a gateway config.
      [[ $(basename "$file") == schema.json ]] && continue
      # Certificates and keys an example names (certs/..., next to it) are the user's to provide:
      # such an example is checked from a copy with empty stand-ins at those paths, and without
      # them it must name the first one missing.
      named=$(grep -o '"certs/[^"]*"' "$file" | tr -d '"' || true)
      if [[ -n $named ]]; then
        run --check-config "$file"
        expect_status 2
        stderr_has "does not exist"
        mkdir -p "$work/example/certs"
        cp "$file" "$work/example/"
        for relative in $named; do : > "$work/example/$relative"; done
        file="$work/example/$(basename "$file")"
      fi
      run --check-config "$file"
      expect_status 0
      expect_stdout "$file: ok"
    done
    ;;
  check_bad_bind)
    write_config bad.json '{ "transports": [ { "type": "udp", "bind": "0.0.0.0" } ] }'
    run --check-config "$work/bad.json"
    expect_status 2
    expect_stderr "$work/bad.json: transports[0].bind: expected \"host:port\""
    [[ ! -s $work/out ]] || fail "stdout is not empty"
    ;;
  check_unknown_key)
    write_config typo.json '{ "upstream": { "passwrd": "x" } }'
    run --check-config "$work/typo.json"
    expect_status 2
    expect_stderr "$work/typo.json: upstream.passwrd: unknown key"
    ;;
  check_syntax_error)
    printf '{\n  "gateway": {\n    "id": 1,\n  }\n}\n' >"$work/syntax.json"
    run --check-config "$work/syntax.json"
    expect_status 2
    stderr_has "$work/syntax.json: parse error at line 4, column 3"
    ;;
  missing_file)
    run --check-config "$work/absent.json"
    expect_status 2
    expect_stderr "$work/absent.json: cannot open: No such file or directory"
    run --config "$work/absent.json"
    expect_status 2
    expect_stderr "$work/absent.json: cannot open: No such file or directory"
    ;;
  unknown_option)
    run --check-config "$source_dir/configs/gateway.json" --no-such-option
    expect_status 2
    stderr_has "--no-such-option"
    ;;
  bad_log_level)
    run --config "$source_dir/configs/gateway.json" --log-level loud
    expect_status 2
    stderr_has "--log-level"
    ;;
  no_mode)
    run
    expect_status 2
    stderr_has "--help"
    run --log-level debug
    expect_status 2
    ;;
  both_modes)
    run --config "$source_dir/configs/gateway.json" --check-config "$source_dir/configs/gateway.json"
    expect_status 2
    ;;
  config_prints_effective)
    write_config minimal.json '{ "transports": [ { "bind": "[::1]:0" } ] }'
    run --print-config "$work/minimal.json"
    expect_status 0
    [[ $(head -n 1 "$work/out") == "{" && $(tail -n 1 "$work/out") == "}" ]] \
      || fail "stdout is not one JSON object"
    stdout_has '"bind": "[::1]:0"'
    stdout_has '"type": "udp"'
    stdout_has '"uri": "tcp://127.0.0.1:1883"'
    stdout_has '"max_attempts": 3'
    stdout_has '"interval_ms": 10000'
    stdout_has '"level": "info"'
    stderr_has "configuration loaded from $work/minimal.json"
    ;;
  config_masks_and_overrides)
    write_config secret.json \
      '{ "upstream": { "username": "gw", "password": "hunter2" }, "log": { "level": "error" } }'
    run --print-config "$work/secret.json" --log-level debug
    expect_status 0
    stdout_has '"password": "***"'
    stdout_lacks hunter2
    stdout_has '"level": "debug"'
    stderr_has "configuration loaded from"
    ;;
  check_bad_serial)
    write_config serial.json '{ "transports": [ { "type": "serial", "device": "/dev/ttyUSB0", "baud": 1234 } ] }'
    run --check-config "$work/serial.json"
    expect_status 2
    expect_stderr "$work/serial.json: transports[0].baud: expected a standard baud rate (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600)"
    ;;
  bluetooth_unavailable)
    # Only where the kernel has no AF_BLUETOOTH (the build machines): exactly this, exit 2.
    write_config bt.json '{ "upstream": { "uri": "tcp://127.0.0.1:1" },
      "transports": [ { "bind": "127.0.0.1:0" }, { "bind": "127.0.0.1:0" }, { "type": "l2cap", "psm": 129 } ] }'
    binary=$gateway gateway=timeout
    run 10 "$binary" --config "$work/bt.json"  # bounded: with Bluetooth it would keep running
    if [[ $status -eq 124 ]] || grep -qF "l2cap psm 129" "$work/err"; then
      echo "SKIP ($case_name): this kernel has Bluetooth sockets"
      exit 0
    fi
    expect_status 2
    stderr_has "transports[2]: Bluetooth is not available in this kernel (EAFNOSUPPORT)"
    ;;
  *)
    fail "unknown case"
    ;;
esac
echo "PASS ($case_name)"
