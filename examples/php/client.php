#!/usr/bin/env php
<?php
// A thin client in PHP: computes the TOTP code (RFC 6238) from the shared key file with
// hash_hmac and calls a guarded endpoint with it in X-OTP. No extension beyond the defaults.
//
// Usage: client.php [URL]
//   URL           the guarded endpoint (default $API_URL, else http://127.0.0.1:8080/secure)
//   OTP_KEY_PATH  the key file: a base32 secret or an otpauth:// URI (default /opt/shared/otp.key)
//   API_SOCKET    talk to the API over this Unix socket (e.g. /opt/shared/api.sock, beside the
//                 key) instead of TCP; the URL then gives only the path, e.g. http://localhost/secure
// Prints the response body. Exit 0 on success, 1 when the API refuses, 2 on any other error.
declare(strict_types=1);

const HASHES = ['SHA1' => 'sha1', 'SHA256' => 'sha256', 'SHA512' => 'sha512'];

function fail(string $message): never
{
    fwrite(STDERR, "client.php: $message\n");
    exit(2);
}

function base32_decode(string $text): string
{
    $alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    $bits = 0;
    $buffer = 0;
    $bytes = '';
    foreach (str_split(strtoupper(str_replace([' ', '='], '', $text))) as $char) {
        $value = strpos($alphabet, $char);
        if ($value === false) {
            fail('the secret is not base32');
        }
        $buffer = (($buffer << 5) | $value) & 0xFFFF;
        $bits += 5;
        if ($bits >= 8) {
            $bits -= 8;
            $bytes .= chr(($buffer >> $bits) & 0xFF);
        }
    }
    if (strlen($bytes) < 16) {
        fail('the secret is shorter than 16 bytes');
    }
    return $bytes;
}

/** @return array{string, string, int, int} secret, hash, digits, period */
function read_key(string $path): array
{
    $text = @file_get_contents($path);
    if ($text === false) {
        fail("cannot read the key file $path");
    }
    $text = trim($text);
    if (!str_starts_with($text, 'otpauth://')) {
        return [base32_decode($text), 'sha1', 6, 30];
    }
    if (strtolower((string) parse_url($text, PHP_URL_HOST)) !== 'totp') {
        fail('the otpauth URI is not a TOTP key');
    }
    parse_str((string) parse_url($text, PHP_URL_QUERY), $query);
    $algorithm = strtoupper((string) ($query['algorithm'] ?? 'SHA1'));
    if (!isset($query['secret'], HASHES[$algorithm])) {
        fail('the otpauth URI has no secret or an unsupported algorithm');
    }
    return [base32_decode((string) $query['secret']), HASHES[$algorithm], (int) ($query['digits'] ?? 6), (int) ($query['period'] ?? 30)];
}

function totp(string $secret, string $hash, int $digits, int $period, int $now): string
{
    $mac = hash_hmac($hash, pack('J', intdiv($now, $period)), $secret, true);
    $offset = ord($mac[strlen($mac) - 1]) & 0x0F; // RFC 4226 §5.3 dynamic truncation
    $binary = unpack('N', substr($mac, $offset, 4))[1] & 0x7FFFFFFF;
    return str_pad((string) ($binary % 10 ** $digits), $digits, '0', STR_PAD_LEFT);
}

/**
 * POSTs `{}` over the Unix socket at $socket, as HTTP/1.0 so that the answer is not chunked and
 * ends when the server closes the connection (the http stream wrapper cannot use a socket).
 * @return array{int, string} status, body
 */
function post_over_socket(string $socket, string $url, string $headers): array
{
    $stream = @stream_socket_client("unix://$socket", $errno, $error, 10);
    if ($stream === false) {
        fail("cannot reach $socket: $error");
    }
    stream_set_timeout($stream, 10);
    $path = (parse_url($url, PHP_URL_PATH) ?: '/') . (($query = parse_url($url, PHP_URL_QUERY)) ? "?$query" : '');
    $host = parse_url($url, PHP_URL_HOST) ?: 'localhost';
    fwrite($stream, "POST $path HTTP/1.0\r\nHost: $host\r\n{$headers}Content-Length: 2\r\n\r\n{}");
    $response = stream_get_contents($stream);
    fclose($stream);
    [$head, $body] = array_pad(explode("\r\n\r\n", (string) $response, 2), 2, '');
    return [(int) (explode(' ', $head, 3)[1] ?? 0), $body];
}

/** @return array{int, string} status, body */
function post(string $url, string $headers): array
{
    $context = stream_context_create(['http' => [
        'method' => 'POST',
        'header' => $headers,
        'content' => '{}',
        'timeout' => 10,
        'ignore_errors' => true, // a 4xx/5xx body is returned instead of a warning
    ]]);
    $body = @file_get_contents($url, false, $context);
    if ($body === false) {
        fail("cannot reach $url");
    }
    $response = function_exists('http_get_last_response_headers') ? http_get_last_response_headers() : $http_response_header;
    return [(int) (explode(' ', $response[0] ?? '', 3)[1] ?? 0), $body];
}

$url = $argv[1] ?? (getenv('API_URL') ?: 'http://127.0.0.1:8080/secure');
[$secret, $hash, $digits, $period] = read_key(getenv('OTP_KEY_PATH') ?: '/opt/shared/otp.key');
$headers = "X-OTP: " . totp($secret, $hash, $digits, $period, time()) . "\r\nContent-Type: application/json\r\n";
$socket = getenv('API_SOCKET') ?: '';
[$status, $body] = $socket !== '' ? post_over_socket($socket, $url, $headers) : post($url, $headers);
if ($status >= 200 && $status < 300) {
    echo $body, "\n";
    exit(0);
}
fwrite(STDERR, "client.php: $status $body\n");
exit(1);
