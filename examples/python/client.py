#!/usr/bin/env python3
"""A thin client in Python, standard library only: computes the TOTP code (RFC 6238) from the
shared key file and calls a guarded endpoint with it in X-OTP.

Usage: client.py [URL]
  URL           the guarded endpoint (default $API_URL, else http://127.0.0.1:8080/secure)
  OTP_KEY_PATH  the key file: a base32 secret or an otpauth:// URI (default /opt/shared/otp.key)
  API_SOCKET    talk to the API over this Unix socket (e.g. /opt/shared/api.sock, beside the key)
                instead of TCP; the URL then gives only the path, e.g. http://localhost/secure
Prints the response body. Exit 0 on success, 1 when the API refuses, 2 on any other error.
"""
import base64
import hashlib
import hmac
import http.client
import os
import socket
import struct
import sys
import time
import urllib.parse

HASHES = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


class KeyFileError(ValueError):
    """The key file cannot be used. The message never quotes the file's content."""


def decode_base32(text):
    cleaned = text.replace(" ", "").replace("=", "").upper()
    try:
        secret = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except ValueError:
        raise KeyFileError("the secret is not base32") from None
    if len(secret) < 16:
        raise KeyFileError("the secret is shorter than 16 bytes")
    return secret


def read_key(path):
    """Returns (secret bytes, algorithm, digits, period) from a key file in either format."""
    with open(path, encoding="ascii") as file:
        text = file.read().strip()
    if not text.startswith("otpauth://"):
        return decode_base32(text), "SHA1", 6, 30
    uri = urllib.parse.urlsplit(text)
    if uri.netloc.lower() != "totp":
        raise KeyFileError("the otpauth URI is not a TOTP key")
    query = dict(urllib.parse.parse_qsl(uri.query))
    if "secret" not in query:
        raise KeyFileError("the otpauth URI has no secret")
    algorithm = query.get("algorithm", "SHA1").upper()
    if algorithm not in HASHES:
        raise KeyFileError("unsupported algorithm " + algorithm)
    return decode_base32(query["secret"]), algorithm, int(query.get("digits", 6)), int(query.get("period", 30))


def totp(secret, algorithm, digits, period, now):
    counter = int(now) // period
    mac = hmac.new(secret, struct.pack(">Q", counter), HASHES[algorithm]).digest()
    offset = mac[-1] & 0x0F  # RFC 4226 §5.3 dynamic truncation
    binary = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix domain socket: the URL's host is only the Host header."""

    def __init__(self, socket_path, host, timeout):
        super().__init__(host, timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def post(url, headers, socket_path):
    """Sends `{}` to url; returns (status, body)."""
    target = urllib.parse.urlsplit(url)
    if socket_path:
        connection = UnixHTTPConnection(socket_path, target.netloc or "localhost", timeout=10)
    elif target.scheme == "https":
        connection = http.client.HTTPSConnection(target.netloc, timeout=10)
    else:
        connection = http.client.HTTPConnection(target.netloc, timeout=10)
    try:
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        connection.request("POST", path, body=b"{}", headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("API_URL", "http://127.0.0.1:8080/secure")
    key_path = os.environ.get("OTP_KEY_PATH", "/opt/shared/otp.key")
    try:
        secret, algorithm, digits, period = read_key(key_path)
    except (OSError, ValueError) as error:
        print(f"client.py: cannot use the key file {key_path}: {error}", file=sys.stderr)
        return 2
    headers = {"X-OTP": totp(secret, algorithm, digits, period, time.time()), "Content-Type": "application/json"}
    socket_path = os.environ.get("API_SOCKET")
    try:
        status, body = post(url, headers, socket_path)
    except (OSError, http.client.HTTPException) as error:
        print(f"client.py: cannot reach {socket_path or url}: {error}", file=sys.stderr)
        return 2
    if 200 <= status < 300:
        print(body)
        return 0
    print(f"client.py: {status} {body}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
