import { assertNetnsName } from "@strata/netns";
import { NetworkError } from "./errors.js";

/** `--network none|bridge|host|ns:NAME`. */
export type NetworkMode =
  | { kind: "none" }
  | { kind: "bridge" }
  | { kind: "host" }
  | { kind: "ns"; name: string };

/** Parses a `--network` value; the default is `bridge`. */
export function parseNetworkMode(value: string | undefined): NetworkMode {
  const v = value ?? "bridge";
  if (v === "none" || v === "bridge" || v === "host") return { kind: v };
  if (v.startsWith("ns:")) {
    const name = v.slice(3);
    try {
      assertNetnsName(name);
    } catch (error) {
      throw new NetworkError("INVALID_NETWORK_MODE", `--network ${v}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return { kind: "ns", name };
  }
  throw new NetworkError(
    "INVALID_NETWORK_MODE",
    `unknown network mode ${JSON.stringify(v)}: use none, bridge (the default), host or ns:NAME (a namespace made by 'ip netns add NAME')`,
  );
}
