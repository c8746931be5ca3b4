export {
  BRIDGE,
  CHAIN_SUFFIX,
  cleanup,
  type Environment,
  PREFIX,
  prepare,
  SUBNET,
  VETH_PREFIX,
} from "./environment.js";
export { committedGuide, GUIDE_PATH, type GuideRun, runGuide } from "./guide.js";
export { HEADER, STEPS } from "./steps.js";
export {
  type CommandStep,
  fill,
  type Heading,
  Normaliser,
  type NormaliserOptions,
  type Prose,
  render,
  Session,
  type SessionOptions,
  type Step,
  type StepResult,
  sessionTexts,
  type Variable,
  WalkthroughError,
} from "./walkthrough.js";
