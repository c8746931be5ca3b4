export type ContainerErrorCode =
  | "INVALID_OPTION"
  | "INVALID_NAME"
  | "NAME_IN_USE"
  | "CONTAINER_NOT_FOUND"
  | "AMBIGUOUS_ID"
  | "CONTAINER_RUNNING"
  | "CONTAINER_NOT_RUNNING"
  | "CONTAINER_NOT_LOGGED"
  | "IMAGE_NOT_FOUND"
  | "NETNS_NOT_FOUND"
  | "NETWORK_UNSUPPORTED"
  | "ENV_FILE_INVALID"
  | "STATE_CORRUPT"
  | "START_FAILED"
  | "TEARDOWN_FAILED";

/** Every error of @strata/container: a stable `code` and a message that says what to do. */
export class ContainerError extends Error {
  readonly code: ContainerErrorCode;

  constructor(code: ContainerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ContainerError";
    this.code = code;
  }
}
