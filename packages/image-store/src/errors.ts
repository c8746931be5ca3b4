/** Stable error codes thrown by @strata/image-store. */
export type StoreErrorCode =
  | "IMAGE_NOT_FOUND"
  | "IMAGE_IN_USE"
  | "AMBIGUOUS_IMAGE_ID"
  | "STORE_LOCKED"
  | "INVALID_IMAGE"
  | "LAYER_MISSING"
  | "STORE_CORRUPT";

/** Every error the store throws on bad input or state: a stable `code` plus an actionable message. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreError";
    this.code = code;
  }
}

export class ImageNotFoundError extends StoreError {
  readonly reference: string;
  constructor(reference: string) {
    super(
      "IMAGE_NOT_FOUND",
      `No such image: ${reference} (pull it first, or list images with 'strata images')`,
    );
    this.name = "ImageNotFoundError";
    this.reference = reference;
  }
}

export class StoreLockedError extends StoreError {
  readonly holderPid: number | undefined;
  constructor(lockPath: string, holderPid: number | undefined, waitedMs: number) {
    super(
      "STORE_LOCKED",
      `the store lock ${lockPath} is held by pid ${holderPid ?? "?"} (waited ${waitedMs} ms); ` +
        "wait for that strata process to finish, or remove the lock file if that pid is not a strata process",
    );
    this.name = "StoreLockedError";
    this.holderPid = holderPid;
  }
}

/** True for Node fs errors with the given errno code. */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as NodeJS.ErrnoException).code === code;
}
