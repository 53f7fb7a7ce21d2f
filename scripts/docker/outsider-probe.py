# Runs inside a third container of the example's client image that does NOT mount the shared
# volume, fed on stdin by scenario.mjs:  docker run -i ... totp-handshake-example-client python -
#
# Without the key, all a container can send is no code, a malformed one, or a guess. It sends
# each kind to $API_URL, with the codes made by client.py's own totp() from a key of its own, and
# prints one JSON line: whether it sees a key file at all, and the status of each request. It
# prints no code. (A guess is valid by chance with probability about (keys within grace x 3
# accepted steps) / 10^6 each, below 3e-5 here: such a run would fail, not pass silently.)
import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, "/app")
import client  # noqa: E402  (examples/python/client.py, as the image installs it)

URL = os.environ["API_URL"]
KEY_PATH = os.environ.get("OTP_KEY_PATH", "/opt/shared/otp.key")


def status_of(headers):
    request = urllib.request.Request(URL, data=b"{}", method="POST", headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


own_key = os.urandom(20)
attempts = {
    "no header": {},
    "not digits": {"X-OTP": "abcdef"},
    "wrong length": {"X-OTP": "1234567"},
    "guess, this step": {"X-OTP": client.totp(own_key, "SHA1", 6, 30, time.time())},
    "guess, last step": {"X-OTP": client.totp(own_key, "SHA1", 6, 30, time.time() - 30)},
}
print(json.dumps({"keyFile": os.path.exists(KEY_PATH), "statuses": {name: status_of(headers) for name, headers in attempts.items()}}))
