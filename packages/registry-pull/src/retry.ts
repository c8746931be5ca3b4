/**
 * Retry policy: exponential backoff with full jitter, honouring Retry-After. Retried: network errors,
 * 408, 429 and 5xx (the set go-containerregistry and containerd use).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { AbortedError, NetworkError, RegistryError } from "./errors.js";

export interface RetryOptions {
  /** Further attempts after the first (default 4). */
  retries?: number;
  /** First backoff in ms (default 250); doubles per attempt. */
  baseDelayMs?: number;
  /** Cap on one backoff in ms (default 10 000). */
  maxDelayMs?: number;
  /** Longest Retry-After we are willing to wait, in ms (default 60 000); longer fails at once. */
  maxRetryAfterMs?: number;
  /** Source of randomness in [0, 1) for jitter (tests pin it). */
  random?: () => number;
}

export const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** An error the retry loop may try again, with an optional server-requested delay. */
export class RetryableError extends RegistryError {
  readonly retryAfterMs?: number;
  constructor(inner: RegistryError, retryAfterMs?: number) {
    super(
      inner.code,
      inner.message,
      inner.status === undefined ? { cause: inner } : { cause: inner, status: inner.status },
    );
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }
  get inner(): RegistryError {
    return this.cause as RegistryError;
  }
}

/** Parse Retry-After: delta-seconds or an HTTP-date. Returns ms, or undefined. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

export function backoffDelay(attempt: number, opts: RetryOptions): number {
  const base = opts.baseDelayMs ?? 250;
  const max = opts.maxDelayMs ?? 10_000;
  const exp = Math.min(max, base * 2 ** attempt);
  // "equal jitter": half fixed, half random, so we never retry instantly yet spread clients out
  return exp / 2 + (opts.random ?? Math.random)() * (exp / 2);
}

export function isRetryable(err: unknown): boolean {
  return err instanceof RetryableError || err instanceof NetworkError;
}

/**
 * Run `fn` until it succeeds, throws a non-retryable error, or retries are exhausted. The error thrown
 * at the end is the inner (unwrapped) error.
 */
export async function withRetry<T>(
  what: string,
  opts: RetryOptions,
  fn: (attempt: number) => Promise<T>,
  ctx: {
    signal?: AbortSignal;
    onRetry?: (attempt: number, delayMs: number, err: RegistryError) => void;
  } = {},
): Promise<T> {
  const retries = opts.retries ?? 4;
  for (let attempt = 0; ; attempt++) {
    if (ctx.signal?.aborted) throw new AbortedError(what, ctx.signal.reason);
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isRetryable(err)) throw err;
      const e = err as RegistryError;
      const inner = e instanceof RetryableError ? e.inner : e;
      const retryAfter = e instanceof RetryableError ? e.retryAfterMs : undefined;
      if (attempt >= retries) throw inner;
      // the server asks for a longer pause than we are willing to wait: fail now, saying so
      if (retryAfter !== undefined && retryAfter > (opts.maxRetryAfterMs ?? 60_000)) throw inner;
      const delay = Math.max(retryAfter ?? 0, backoffDelay(attempt, opts));
      ctx.onRetry?.(attempt + 1, delay, inner);
      try {
        await sleep(delay, undefined, ctx.signal ? { signal: ctx.signal } : undefined);
      } catch (abortErr) {
        throw new AbortedError(what, abortErr);
      }
    }
  }
}
