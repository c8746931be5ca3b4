/** Stable codes of the errors testkit throws. */
export type TestkitErrorCode =
  | "REGISTRY_START_FAILED"
  | "REGISTRY_REQUEST_FAILED"
  | "AUTH_FAILED"
  | "INVALID_LAYER_ENTRY"
  | "INVALID_ARGUMENT"
  | "COMMAND_FAILED"
  | "LEAKS_FOUND";

/** Every testkit failure: a stable `code` and a message that says what to do. */
export class TestkitError extends Error {
  readonly code: TestkitErrorCode;
  constructor(code: TestkitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TestkitError";
    this.code = code;
  }
}
