/**
 * The monitor of a detached container: `node monitor.js <store-root> <container-id>`, started by
 * `ContainerRuntime.runDetached` in its own session. It launches the prepared container, reports
 * `started <pid>` or `error <message>` on fd 3, waits, and tears the container down when it exits.
 * The container's stdout/stderr are this process's (the container log).
 */
import { closeSync, writeSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ImageStore } from "@strata/image-store";
import type { PortableRuntimeOptions } from "./options.js";
import { ContainerRuntime } from "./runtime.js";

const REPORT_FD = 3;
let reported = false;

/** One line, once: after the close, fd 3 may be reused by another file of this process. */
function report(line: string): void {
  if (reported) return;
  reported = true;
  try {
    writeSync(REPORT_FD, `${line}\n`);
    closeSync(REPORT_FD);
  } catch {
    // the caller is gone or already has its answer
  }
}

async function main(argv: string[]): Promise<number> {
  const [root, id] = argv;
  if (!root || !id) {
    report("error usage: monitor <store-root> <container-id>");
    return 2;
  }
  try {
    const store = await ImageStore.open({ root });
    const launch = JSON.parse(await readFile(join(store.root, "containers", id, "launch.json"), "utf8")) as {
      runtimeOptions: PortableRuntimeOptions;
    };
    const o = launch.runtimeOptions;
    const runtime = await ContainerRuntime.open({
      store,
      ...(o.cgroupParent !== undefined ? { cgroupParent: o.cgroupParent } : {}),
      ...(o.cgroupRoot !== undefined ? { cgroupRoot: o.cgroupRoot } : {}),
      network: {
        ...(o.netnsRoot !== undefined ? { netnsRoot: o.netnsRoot } : {}),
        ...(o.bridge !== undefined ? { bridge: o.bridge } : {}),
        ...(o.defaultNetwork !== undefined ? { defaultMode: o.defaultNetwork } : {}),
      },
      ...(o.helperPath !== undefined ? { helperPath: o.helperPath } : {}),
      ...(o.hostEtc !== undefined ? { hostEtc: o.hostEtc } : {}),
      ...(o.stopTimeoutMs !== undefined ? { stopTimeoutMs: o.stopTimeoutMs } : {}),
    });
    const result = await runtime.startDetached(id, report);
    return result.exitCode;
  } catch (error) {
    report(`error ${(error as Error).message.replace(/\n/g, " ")}`);
    process.stderr.write(`strata monitor ${id.slice(0, 12)}: ${(error as Error).stack ?? error}\n`);
    return 125;
  }
}

process.exitCode = await main(process.argv.slice(2));
