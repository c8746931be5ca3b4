/**
 * WWW-Authenticate parsing (RFC 7235 §4.1): one or more challenges, each `scheme` followed by
 * comma-separated `name=value` auth-params (value a token or a quoted-string).
 */
export interface Challenge {
  /** Lower-case scheme: "bearer", "basic", … */
  scheme: string;
  /** Lower-case param names. */
  params: Record<string, string>;
}

export function parseChallenges(headerValues: string | string[] | undefined): Challenge[] {
  if (headerValues === undefined) return [];
  const values = Array.isArray(headerValues) ? headerValues : [headerValues];
  const out: Challenge[] = [];
  for (const v of values) out.push(...parseOne(v));
  return out;
}

function parseOne(s: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  let current: Challenge | undefined;
  const skipWs = () => {
    while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < s.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z/]/.test(s[i] as string)) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipWs();
    if (s[i] === ",") {
      i++;
      continue;
    }
    const tok = readToken();
    if (!tok) {
      i++; // skip garbage
      continue;
    }
    skipWs();
    if (s[i] === "=" && current) {
      i++;
      skipWs();
      let value: string;
      if (s[i] === '"') {
        i++;
        let v = "";
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++;
          v += s[i];
          i++;
        }
        i++; // closing quote
        value = v;
      } else {
        value = readToken();
      }
      current.params[tok.toLowerCase()] = value;
    } else {
      current = { scheme: tok.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}
