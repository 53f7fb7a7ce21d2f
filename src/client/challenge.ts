// WWW-Authenticate (RFC 9110 §11.6.1): a list of challenges, each an auth-scheme followed by a
// token68 or by comma-separated auth-params. Commas separate both challenges and the params of
// one challenge, so a list is read element by element: `name=value` continues the challenge
// before it, anything else starts a new one. Quoted strings may hold commas, quotes and '='.

export interface Challenge {
  /** The auth-scheme, lower-cased (schemes are case-insensitive). */
  scheme: string;
  /** The auth-params, names lower-cased, quoted values unquoted. */
  params: Map<string, string>;
  token68?: string;
}

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const QUOTED = '"(?:[^"\\\\]|\\\\.)*"';
// One list element: a scheme with what follows it, or an auth-param of the challenge before.
const PARAM = new RegExp(`^(${TOKEN})[ \\t]*=[ \\t]*(${TOKEN}|${QUOTED})$`);
const SCHEME = new RegExp(`^(${TOKEN})(?:[ \\t]+(.*))?$`);
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Splits on commas outside quoted strings, dropping empty elements (RFC 9110 §5.6.1). */
function elements(value: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (quoted && c === '\\' && i + 1 < value.length) {
      current += c + (value[++i] as string);
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      out.push(current.trim());
      current = '';
    } else {
      current += c;
    }
  }
  out.push(current.trim());
  return out.filter((element) => element.length > 0);
}

function unquote(value: string): string {
  return value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
}

/**
 * The challenges in a WWW-Authenticate value (several fields joined by ", "). Elements that fit
 * no production are skipped, and so is a challenge's malformed remainder: a refusal to guess.
 */
export function parseChallenges(value: string): Challenge[] {
  const challenges: Challenge[] = [];
  for (const element of elements(value)) {
    const param = PARAM.exec(element);
    const last = challenges[challenges.length - 1];
    if (param !== null) {
      // A param before any scheme belongs to nothing.
      if (last !== undefined && last.token68 === undefined) last.params.set((param[1] as string).toLowerCase(), unquote(param[2] as string));
      continue;
    }
    const scheme = SCHEME.exec(element);
    if (scheme === null) continue;
    const challenge: Challenge = { scheme: (scheme[1] as string).toLowerCase(), params: new Map() };
    const rest = scheme[2]?.trim();
    if (rest !== undefined && rest.length > 0) {
      const first = PARAM.exec(rest);
      if (first !== null) challenge.params.set((first[1] as string).toLowerCase(), unquote(first[2] as string));
      else if (TOKEN68.test(rest)) challenge.token68 = rest;
    }
    challenges.push(challenge);
  }
  return challenges;
}

/**
 * Whether a WWW-Authenticate value holds the guards' own challenge, `OTP error="missing"` or
 * `OTP error="invalid"`: the guard refused the request before any handler ran.
 */
export function isGuardChallenge(value: string | null): boolean {
  if (value === null) return false;
  return parseChallenges(value).some(({ scheme, params }) => {
    const error = params.get('error');
    return scheme === 'otp' && (error === 'missing' || error === 'invalid');
  });
}
