# syntax=docker/dockerfile:1
# A thin client: the standard-library Python client, calling the API every 10 s. It needs no
# package from this repository, only the key file on the shared volume (mounted read-only) and,
# with API_SOCKET set, the API's socket beside it.
#
# PYTHON_IMAGE: any image with a Python 3 `python` and a POSIX `sh` on PATH. Where no registry is
# reachable, pass one built locally:  docker compose build --build-arg PYTHON_IMAGE=my/python:3
ARG PYTHON_IMAGE=python:3.12-alpine
FROM ${PYTHON_IMAGE}
WORKDIR /app
COPY examples/python/client.py ./
# The same uid as the API's `node` user, which owns the 0600 key file and socket.
USER 1000:1000
# A shell as PID 1 ignores SIGTERM unless it traps it; `wait` lets the trap run during the sleep.
CMD ["sh", "-c", "trap 'exit 0' TERM INT; while :; do python /app/client.py; sleep 10 & wait $!; done"]
