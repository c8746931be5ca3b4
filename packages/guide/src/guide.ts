/**
 * Runs the whole walk-through in a fresh sandbox and returns the rendered document. Everything the
 * run created is removed before this returns (or throws).
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { cleanup, prepare, VETH_PREFIX } from "./environment.js";
import { HEADER, STEPS } from "./steps.js";
import { Normaliser, render, Session, type StepResult, sessionTexts } from "./walkthrough.js";

/** docs/guide.md in the checkout. */
export const GUIDE_PATH = fileURLToPath(new URL("../../../docs/guide.md", import.meta.url));

export interface GuideRun {
  markdown: string;
  results: StepResult[];
  /** Clean-up problems (empty when everything was removed). */
  cleanupProblems: string[];
}

export async function runGuide(options: { onStep?: (r: StepResult) => void } = {}): Promise<GuideRun> {
  const envt = await prepare();
  const sessionOptions: ConstructorParameters<typeof Session>[0] = {
    env: envt.env,
    variables: envt.variables,
    cwd: envt.dir,
  };
  if (options.onStep) sessionOptions.onStep = options.onStep;
  const session = new Session(sessionOptions);
  let markdown: string;
  let cleanupProblems: string[] = [];
  try {
    await session.run(STEPS);
    const normaliser = new Normaliser({
      replacements: envt.replacements,
      vethPrefix: [VETH_PREFIX, "strata"],
    });
    normaliser.learn(sessionTexts(STEPS, session));
    markdown = render(STEPS, session, normaliser, HEADER);
  } finally {
    await session.close();
    cleanupProblems = await cleanup(envt);
  }
  return { markdown, results: [...session.results.values()], cleanupProblems };
}

/** The committed document ("" when missing). */
export async function committedGuide(): Promise<string> {
  return readFile(GUIDE_PATH, "utf8").catch(() => "");
}
