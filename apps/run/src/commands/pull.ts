import type { ImageStore } from "@strata/image-store";
import { familiarString, parseReference } from "@strata/oci-types";
import { createRegistryClient, type PullEvent } from "@strata/registry-pull";
import { type ProgressRenderer, plainProgress } from "../progress.js";

export interface PullCommandOptions {
  platform?: string;
  registryMirror?: string[];
  insecureRegistry?: string[];
  quiet?: boolean;
  /** Parallel layer downloads (default: registry-pull's). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Also sees every pull event (--explain/--trace: @strata/container's `pullObserver`). */
  observe?: (e: PullEvent) => void;
}

export interface PullIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  write: (s: string) => void;
}

/**
 * `strata pull REF`: resolve, stream every missing layer into the store (in parallel), tag.
 * Output as docker: "<tag>: Pulling from <repo>", a line or bar per layer, "Digest:", "Status:", the
 * full reference. With -q only the image ID is printed.
 */
export async function pullCommand(
  store: ImageStore,
  input: string,
  options: PullCommandOptions,
  io: PullIO,
): Promise<string> {
  const reference = parseReference(input); // INVALID_REFERENCE before any network traffic
  const clientOptions: Parameters<typeof createRegistryClient>[0] = {};
  if (options.registryMirror?.length) clientOptions.mirrors = { "docker.io": options.registryMirror };
  if (options.insecureRegistry?.length) clientOptions.insecureRegistries = options.insecureRegistry;
  if (options.concurrency) clientOptions.concurrency = options.concurrency;
  const client = createRegistryClient(clientOptions);
  const before = await store.resolve(familiarString(reference)).catch(() => undefined);
  let imageId: string | undefined;
  const sink = store.createSink({
    onImageCommitted: (id) => {
      imageId = id;
    },
  });
  // cli-progress is loaded only for a terminal
  const bars = io.stdout.isTTY && !options.quiet ? await import("../progress-bars.js") : undefined;
  let renderer: ProgressRenderer | undefined;
  const onProgress = (e: PullEvent) => {
    options.observe?.(e);
    if (options.quiet) return;
    if (e.type === "resolved") {
      const what = reference.digest ?? reference.tag ?? "latest";
      io.write(`${what}: Pulling from ${reference.repository}\n`);
      renderer = bars ? bars.barProgress(io.stdout as NodeJS.WriteStream) : plainProgress(io.write);
      return;
    }
    renderer?.event(e);
  };
  try {
    const pullOptions: Parameters<typeof client.pull>[2] = { onProgress };
    if (options.platform) pullOptions.platform = options.platform;
    if (options.signal) pullOptions.signal = options.signal;
    const image = await client.pull(reference, sink, pullOptions);
    renderer?.stop();
    const id = imageId ?? image.config.digest;
    if (options.quiet) return `${id}\n`;
    const digest = reference.digest ?? image.indexDigest ?? image.manifestDigest;
    const status =
      before === id
        ? `Status: Image is up to date for ${familiarString(reference)}`
        : `Status: Downloaded newer image for ${familiarString(reference)}`;
    const full = `${reference.registry}/${reference.repository}${reference.digest ? `@${reference.digest}` : `:${reference.tag ?? "latest"}`}`;
    return `Digest: ${digest}\n${status}\n${full}\n`;
  } catch (err) {
    renderer?.stop();
    await sink.release().catch(() => undefined);
    throw err;
  } finally {
    await client.close();
  }
}
