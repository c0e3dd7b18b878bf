#!/bin/sh
# Astronaut's container entrypoint.
#
# Sets the container's defaults as ASTRONAUT_* variables, which the astronaut
# CLI reads like command-line options (ASTRONAUT_REQUIREPASS, ASTRONAUT_APPENDFSYNC,
# any option named as in redis.conf with '-' as '_'), then execs node: node
# becomes this process (PID 1 in a container) and receives docker stop's SIGTERM
# itself, which shuts Astronaut down gracefully with the WAL flushed.
#
#   (no arguments)           astronaut with the defaults below
#   --option value …         astronaut with these options
#   /path/astronaut.conf …   astronaut with this config file (its settings win over the defaults below)
#   any other command        run that command instead (e.g. sh)
#
# Defaults, each only when the variable is unset and the config file does not set the option:
#   bind 0.0.0.0   port 6379   http-port 8080   dir /data
# Protected mode stays on: without a password only loopback clients are served.
# Set ASTRONAUT_REQUIREPASS (or ASTRONAUT_REQUIREPASS_FILE, e.g. a Docker secret) to serve the network.
set -eu

app_dir=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)

config=''
case "${1:-}" in
  ''|-*) ;;
  *) if [ -f "$1" ]; then config=$1; fi ;;
esac

# Does the config file set option $1?
in_config() {
  [ -n "$config" ] && grep -Eiq "^[[:space:]]*$1([[:space:]]|\$)" "$config"
}

# default <option> <value>: export ASTRONAUT_<OPTION>=<value> unless already set, or set by the config file.
default() {
  var=ASTRONAUT_$(printf '%s' "$1" | tr 'a-z-' 'A-Z_')
  eval "isset=\${$var+x}"
  if [ -z "$isset" ] && ! in_config "$1"; then
    export "$var=$2"
  fi
}

# A password kept in a file (Docker or compose secrets); a trailing newline is dropped.
if [ -n "${ASTRONAUT_REQUIREPASS_FILE:-}" ]; then
  ASTRONAUT_REQUIREPASS=$(cat -- "$ASTRONAUT_REQUIREPASS_FILE")
  export ASTRONAUT_REQUIREPASS
fi
unset ASTRONAUT_REQUIREPASS_FILE

default bind 0.0.0.0
default port 6379
default http-port 8080
default dir /data

if [ $# -gt 0 ] && [ -z "$config" ] && [ "${1#-}" = "$1" ]; then
  exec "$@"
fi
exec node "$app_dir/bin/astronaut.js" "$@"
