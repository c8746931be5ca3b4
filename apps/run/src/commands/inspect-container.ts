import type { ContainerState } from "@strata/container";

/** The address part of "10.0.0.2/24" (or the string as it is). */
function ipOf(address: unknown): string {
  return typeof address === "string" ? (address.split("/")[0] ?? "") : "";
}

/**
 * The `docker container inspect` object for one container: docker's keys for what strata knows (the
 * state, the command, the overlay, the network address), so `-f '{{.State.Pid}}'` and
 * `-f '{{.NetworkSettings.IPAddress}}'` work as with docker (the guide's `nsenter -t PID -n`).
 */
export function containerInspectObject(state: ContainerState, running: boolean): Record<string, unknown> {
  const data = (state.network?.data ?? {}) as { address?: unknown; gateway?: unknown; bridge?: unknown };
  const ip = ipOf(data.address);
  const prefix =
    typeof data.address === "string" && data.address.includes("/") ? Number(data.address.split("/")[1]) : 0;
  const gateway = typeof data.gateway === "string" ? data.gateway : "";
  const mode = state.network?.mode ?? "none";
  const merged = state.mount?.merged ?? "";
  const layerDir = merged ? merged.slice(0, merged.lastIndexOf("/")) : "";
  const status = running ? "running" : state.status === "running" ? "exited" : state.status;
  const [path = "", ...args] = state.args ?? [];
  return {
    Id: state.id,
    Created: state.created,
    Path: path,
    Args: args,
    State: {
      Status: status,
      Running: running,
      Paused: false,
      Restarting: false,
      OOMKilled: state.oomKilled ?? false,
      Dead: false,
      Pid: running ? (state.pid ?? 0) : 0,
      ExitCode: state.exitCode ?? 0,
      Error: "",
      StartedAt: state.startedAt ?? "0001-01-01T00:00:00Z",
      FinishedAt: state.finishedAt ?? "0001-01-01T00:00:00Z",
    },
    Image: state.image.id,
    Name: `/${state.name}`,
    HostConfig: {
      AutoRemove: state.autoRemove,
      ReadonlyRootfs: state.readOnly,
      Runtime: state.runtime,
      NetworkMode: mode,
    },
    GraphDriver: {
      Name: "overlay2",
      Data: layerDir ? { MergedDir: merged, UpperDir: `${layerDir}/diff`, WorkDir: `${layerDir}/work` } : {},
    },
    Config: { Hostname: state.hostname, Image: state.image.reference, Cmd: state.args ?? [] },
    NetworkSettings: {
      SandboxKey: state.network?.netns ?? "",
      IPAddress: ip,
      IPPrefixLen: prefix,
      Gateway: gateway,
      Networks: ip ? { [mode]: { IPAddress: ip, IPPrefixLen: prefix, Gateway: gateway } } : {},
    },
    Strata: { Monitor: state.monitor ?? null, Cgroup: state.cgroup ?? null },
  };
}

const PLACEHOLDER = /\{\{\s*(json\s+)?\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)?\s*\}\}/g;

/**
 * docker's `--format` for the templates people use with inspect: `{{.A.B}}` (a field path; `{{.}}` is
 * the whole object) and `{{json .A}}`, with text around them. Scalars print as they are, objects and
 * arrays as JSON, a missing field as Go does (`<no value>`). Other template syntax (range, if, …) is
 * refused (USAGE), rather than printed wrong.
 */
export function renderFormat(template: string, value: unknown): string {
  const rest = template.replace(PLACEHOLDER, "");
  if (rest.includes("{{") || rest.includes("}}")) {
    throw Object.assign(
      new Error(`--format '${template}': only {{.Field.Path}} and {{json .Field}} are supported`),
      { code: "USAGE" },
    );
  }
  return template.replace(PLACEHOLDER, (_m, json: string | undefined, path: string | undefined) => {
    let v: unknown = value;
    for (const key of path ? path.split(".") : []) {
      v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined;
    }
    if (json) return JSON.stringify(v ?? null);
    if (v === undefined) return "<no value>";
    return v !== null && typeof v === "object" ? JSON.stringify(v) : String(v);
  });
}
