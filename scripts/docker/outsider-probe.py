# Runs inside a container of the example's client image that may not read the key, fed on stdin
# by scenario.mjs:  docker run -i ... totp-handshake-example-client python -
# Two kinds of outsider: one without the shared volume that calls $API_URL over TCP, and one with
# the volume but another uid that calls the socket $API_SOCKET (client.py's own post() for both).
#
# Without the key, all it can send is no code, a malformed one, or a guess. It sends each kind
# and prints one JSON line: what opening the key file gives ("readable", or the errno's name), and
# for each request the status, or the errno's name when it cannot even connect. The guesses are
# made by client.py's own totp() from a key of its own; it prints no code. (A guess is valid by
# chance with probability about (keys within grace x 3 accepted steps) / 10^6 each, below 3e-5
# here: such a run would fail, not pass silently.)
import errno
import json
import os
import sys
import time

sys.path.insert(0, "/app")
import client  # noqa: E402  (examples/python/client.py, as the image installs it)

URL = os.environ["API_URL"]
SOCKET = os.environ.get("API_SOCKET")
KEY_PATH = os.environ.get("OTP_KEY_PATH", "/opt/shared/otp.key")


def errno_name(error):
    return errno.errorcode.get(error.errno, str(error.errno))


def key_file():
    try:
        with open(KEY_PATH, "rb"):
            return "readable"
    except OSError as error:
        return errno_name(error)


def status_of(headers):
    try:
        return client.post(URL, {"Content-Type": "application/json", **headers}, SOCKET)[0]
    except OSError as error:
        return errno_name(error)


own_key = os.urandom(20)
attempts = {
    "no header": {},
    "not digits": {"X-OTP": "abcdef"},
    "wrong length": {"X-OTP": "1234567"},
    "guess, this step": {"X-OTP": client.totp(own_key, "SHA1", 6, 30, time.time())},
    "guess, last step": {"X-OTP": client.totp(own_key, "SHA1", 6, 30, time.time() - 30)},
}
print(json.dumps({"keyFile": key_file(), "statuses": {name: status_of(headers) for name, headers in attempts.items()}}))
