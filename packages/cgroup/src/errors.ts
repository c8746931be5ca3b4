/** Stable codes of every error this package throws. */
export type CgroupErrorCode =
  | "UNSUPPORTED_CGROUP_FS"
  | "CONTROLLER_UNAVAILABLE"
  | "INVALID_CGROUP_NAME"
  | "INVALID_LIMIT"
  | "CGROUP_EXISTS"
  | "CGROUP_NOT_FOUND"
  | "CGROUP_BUSY"
  | "CGROUP_WRITE_FAILED"
  | "CGROUP_PERMISSION_DENIED"
  | "PROCESS_NOT_FOUND";

/** Every failure of @strata/cgroup: `code` is stable, `message` says what to do. */
export class CgroupError extends Error {
  override readonly name = "CgroupError";
  readonly code: CgroupErrorCode;
  /** The cgroupfs path involved, when there is one. */
  readonly path: string | undefined;

  constructor(code: CgroupErrorCode, message: string, options: { path?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options.path;
  }
}

/** The errno code of a Node fs error (`ENOENT`, `EBUSY`, …), if any. */
export function errnoOf(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/**
 * Turn a failed write into a CgroupError a user can act on. The kernel answers cgroupfs writes with
 * errnos that mean different things per file, so the message names the file and the value.
 */
export function writeFailed(path: string, data: string, error: unknown): CgroupError {
  const errno = errnoOf(error);
  const what = `writing ${JSON.stringify(data)} to ${path}`;
  if (errno === "EACCES" || errno === "EPERM") {
    return new CgroupError(
      "CGROUP_PERMISSION_DENIED",
      `${what} was refused (${errno}): run as root or delegate this cgroup subtree to your user`,
      { path, cause: error },
    );
  }
  if (errno === "ESRCH" && path.endsWith("cgroup.procs")) {
    return new CgroupError(
      "PROCESS_NOT_FOUND",
      `${what} failed: process ${data} does not exist (it exited?)`,
      {
        path,
        cause: error,
      },
    );
  }
  const hint =
    errno === "EBUSY"
      ? " (the kernel is busy with this value: e.g. memory usage is above the new limit, or a cgroup v2 inner node holds processes)"
      : errno === "EINVAL"
        ? " (the kernel rejected the value: check its range and that parent limits allow it)"
        : errno === "ENOENT"
          ? " (the file does not exist: is the controller mounted/enabled for this cgroup?)"
          : "";
  return new CgroupError("CGROUP_WRITE_FAILED", `${what} failed with ${errno ?? String(error)}${hint}`, {
    path,
    cause: error,
  });
}
