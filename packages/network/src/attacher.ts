import type { Attachment, AttachRequest, BridgeNetwork } from "./bridge.js";
import type { PortMapping } from "./ports.js";

/**
 * What @strata/container's `NetworkAttacher` receives and returns (declared here structurally so that
 * neither package depends on the other). `hostname` and `publish` are optional extensions of the request.
 */
export interface ContainerAttachRequest {
  containerId: string;
  /** The container's name: an extra /etc/hosts alias. */
  name: string;
  mode: string;
  hostname?: string;
  publish?: readonly (string | PortMapping)[];
  pid?: number;
}

export interface ContainerAttachment {
  mode: string;
  /** The namespace file the container joins. */
  netns?: string;
  /** JSON kept in the container's state: what detach needs. */
  data?: Record<string, unknown>;
  /** Lines for the container's /etc/hosts. */
  hosts?: string[];
}

/** Adapts a BridgeNetwork to the container package's attacher seam (register it as `attachers.bridge`). */
export function bridgeAttacher(network: BridgeNetwork): {
  attach(request: ContainerAttachRequest): Promise<ContainerAttachment>;
  detach(attachment: ContainerAttachment): Promise<void>;
} {
  return {
    async attach(request) {
      const names = [request.hostname, request.name].filter((n): n is string => n !== undefined && n !== "");
      const req: AttachRequest = { containerId: request.containerId };
      if (names[0] !== undefined) req.hostname = names[0];
      const aliases = [...new Set(names.slice(1))].filter((n) => n !== names[0] && isHostname(n));
      if (aliases.length > 0) req.aliases = aliases;
      if (request.publish) req.publish = request.publish;
      if (request.pid !== undefined) req.pid = request.pid;
      const a: Attachment = await network.attach(req);
      return {
        mode: request.mode,
        netns: a.netnsPath,
        data: {
          containerId: a.containerId,
          bridge: a.bridge,
          address: a.address,
          gateway: a.gateway,
          hostInterface: a.hostInterface,
          netns: a.netns,
          ports: a.ports,
        },
        hosts: a.hostsEntries,
      };
    },
    async detach(attachment) {
      const id = attachment.data?.containerId;
      if (typeof id === "string") await network.detach(id);
    },
  };
}

function isHostname(name: string): boolean {
  return /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
    name,
  );
}
