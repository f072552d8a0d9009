/**
 * `npm test`: builds the engine from this repository (go build ./cmd/herald, unless
 * HERALD_BIN names one) and runs every test file under dist/test with Node's test
 * runner, each against real `herald serve` processes. It fails, never skips, when the
 * engine cannot be built or started. Arguments ending in .js choose test files;
 * the others are passed to `node --test` (e.g. --test-name-pattern=lease).
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

import { heraldBin, packageDir } from "../test/engine.js";

let bin: string;
try {
  bin = heraldBin();
} catch (err) {
  console.error(`npm test: ${(err as Error).message}`);
  process.exit(1);
}
const dir = join(packageDir, "dist", "test");
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".test.js"))
  .sort()
  .map((f) => join(dir, f));
const args = process.argv.slice(2);
const chosen = args.filter((a) => a.endsWith(".js"));
const options = args.filter((a) => !a.endsWith(".js"));
const r = spawnSync(process.execPath, ["--test", "--test-timeout=180000", ...options, ...(chosen.length > 0 ? chosen : files)], {
  stdio: "inherit",
  env: { ...process.env, HERALD_BIN: bin },
});
process.exit(r.status ?? 1);
