#!/bin/sh
# Entrypoint of the `demo` image (Dockerfile): the origin farm on this container's own loopback, then the
# consumer in the foreground (PID 1, so SIGTERM drains it) with the arguments given.
#
# Why beside each consumer: the farm tells its simulated hosts apart by the loopback address a connection
# arrives on (127.0.0.11-18, originfarm/hosts.py), and the bundled sample's URLs name those addresses. A
# container's loopback is its own, so a farm in another container could not be reached at them.
set -eu
python -m originfarm serve --port "${ORIGIN_FARM_PORT:-8970}" >/tmp/origin-farm.log 2>&1 &
exec docfetch-consumer "$@"
