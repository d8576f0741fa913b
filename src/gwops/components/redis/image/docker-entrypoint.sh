#!/bin/sh
# Minimal re-implementation of the official redis entrypoint contract (see Dockerfile).
set -eu

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = "redis-server" ] && [ "$(id -u)" = "0" ]; then
    find /data \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

umask 0077
exec "$@"
