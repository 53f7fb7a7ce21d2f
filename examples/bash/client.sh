#!/usr/bin/env bash
# A thin client in bash: computes the TOTP code from the shared key file with oathtool and calls a
# guarded endpoint with curl. Proof that the wire format is plain RFC 6238.
#
# Usage: client.sh [URL]
#   URL           the guarded endpoint (default $API_URL, else http://127.0.0.1:8080/secure)
#   OTP_KEY_PATH  the key file: a base32 secret or an otpauth:// URI (default /opt/shared/otp.key)
#   API_SOCKET    talk to the API over this Unix socket (e.g. /opt/shared/api.sock, beside the
#                 key) instead of TCP; the URL then gives only the path, e.g. http://localhost/secure
# Prints the response body. Exit 0 on success, 1 when the API refuses, 2 on any other error.
#
# Neither the secret nor the code appears in a command line (where `ps` would show it): oathtool
# reads the secret and curl reads the header from standard input.
set -euo pipefail

key_path=${OTP_KEY_PATH:-/opt/shared/otp.key}
url=${1:-${API_URL:-http://127.0.0.1:8080/secure}}

fail() {
  echo "client.sh: $*" >&2
  exit 2
}

[[ -r $key_path ]] || fail "cannot read the key file $key_path"
key=$(tr -d '[:space:]' <"$key_path")

secret=$key algorithm=SHA1 digits=6 period=30
if [[ $key == otpauth://* ]]; then
  [[ ${key,,} == otpauth://totp/* ]] || fail "the key file holds an otpauth URI that is not TOTP"
  secret=''
  IFS='&' read -ra parameters <<<"${key#*\?}"
  for parameter in "${parameters[@]}"; do
    value=${parameter#*=}
    case ${parameter%%=*} in
      secret) secret=$value ;;
      algorithm) algorithm=${value^^} ;;
      digits) digits=$value ;;
      period) period=$value ;;
    esac
  done
fi
[[ -n $secret ]] || fail "the key file holds no secret"

code=$(printf '%s' "${secret^^}" | oathtool --totp="$algorithm" --digits="$digits" --time-step-size="${period}s" --base32 -) ||
  fail "oathtool could not compute a code from the key file"

transport=()
[[ -z ${API_SOCKET:-} ]] || transport=(--unix-socket "$API_SOCKET")

status=0
body=$(printf 'X-OTP: %s\n' "$code" |
  curl --silent --show-error --fail-with-body --max-time 10 "${transport[@]}" \
    --header @- --header 'Content-Type: application/json' --data '{}' "$url") || status=$?
[[ -z $body ]] || printf '%s\n' "$body"
case $status in
  0) exit 0 ;;
  22) exit 1 ;; # curl's code for an HTTP error status (--fail-with-body)
  *) exit 2 ;;
esac
