import { strataVitestConfig } from "../../vitest.shared.ts";

export default strataVitestConfig();
