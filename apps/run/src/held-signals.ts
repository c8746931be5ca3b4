/** What `strata run` / `strata exec` pass on to the process (launch's list; SIGINT also aborts a pull). */
const HELD_SIGNALS: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

/**
 * @strata/launch forwards signals once it has seen the process start; one arriving earlier (during a
 * pull or setup, or while that news is still in flight) is held and delivered by `started`.
 * `release()` stops holding (call it in a finally).
 */
export function holdSignals(): {
  started(process: { kill(signal: NodeJS.Signals): void }): void;
  release(): void;
} {
  const pending: NodeJS.Signals[] = [];
  let running = false;
  const hold = (signal: NodeJS.Signals) => {
    if (!running) pending.push(signal);
  };
  for (const signal of HELD_SIGNALS) process.on(signal, hold);
  return {
    started(target) {
      running = true;
      for (const signal of pending.splice(0)) target.kill(signal);
    },
    release() {
      for (const signal of HELD_SIGNALS) process.off(signal, hold);
    },
  };
}
