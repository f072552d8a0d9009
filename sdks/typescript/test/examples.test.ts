/**
 * The examples as a user runs them after `npm run build`: the quickstart worker and the
 * push program, as processes, configured by HERALD_URL / HERALD_TOKEN or ./.herald/token.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { provisionAccount, welcomeUser } from "../examples/quickstart.js";
import { Engine, eventually, packageDir, repoDir } from "./engine.js";

let engine: Engine;
before(async () => {
  engine = await Engine.start();
});
after(async () => {
  await engine.close();
});

const example = (name: string) => join(packageDir, "dist", "examples", `${name}.js`);

/** runNode runs a script to its end and returns its exit code and output. */
function runNode(args: string[], opts: { env: Record<string, string>; cwd?: string }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("HERALD_") && v !== undefined) env[k] = v;
    const p = spawn(process.execPath, args, { env: { ...env, ...opts.env }, cwd: opts.cwd ?? process.cwd(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    p.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    p.on("error", reject);
    p.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

test("quickstart.js and push.js run the quickstart end to end, and the worker exits on SIGTERM", async (t) => {
  const client = engine.client();
  const worker = spawn(process.execPath, [example("quickstart")], {
    env: { ...process.env, HERALD_URL: engine.url, HERALD_TOKEN: engine.token },
    stdio: ["ignore", "ignore", "pipe"],
  });
  t.after(() => worker.kill("SIGKILL"));
  let log = "";
  const exited = new Promise<number | null>((resolve) => worker.on("exit", resolve));
  await new Promise<void>((resolve, reject) => {
    worker.stderr.setEncoding("utf8").on("data", (d: string) => {
      log += d;
      if (log.includes("herald: worker registered")) resolve();
    });
    void exited.then((code) => reject(new Error(`quickstart exited with ${code}:\n${log}`)));
  });

  // push.js finds the token in ./.herald/token of its working directory.
  const cwd = mkdtempSync(join(tmpdir(), "herald-ts-example-"));
  mkdirSync(join(cwd, ".herald"));
  writeFileSync(join(cwd, ".herald", "token"), engine.token);
  const pushed = await runNode([example("push"), "user:created", '{"user_id":"u_1","email":"ada@example.com"}'], { env: { HERALD_URL: engine.url }, cwd });
  assert.equal(pushed.code, 0, pushed.stderr);
  const reply = JSON.parse(pushed.stdout) as { event: { id: string; key: string }; runs: Array<{ workflow: string; runId: string }>; duplicate: boolean };
  assert.equal(reply.event.key, "user:created");
  assert.equal(reply.duplicate, false);
  assert.deepEqual(reply.runs.map((r) => r.workflow).sort(), ["provision-account", "welcome-user"]);
  for (const r of reply.runs) {
    const run = await client.waitRun(r.runId, { timeout: 30_000 });
    assert.equal(run.status, "succeeded", run.error);
  }
  assert.match(log, /msg="sending welcome e-mail" .*to=ada@example.com/);

  const bad = await runNode([example("push"), "user:created", '{"user_id":"u_2"}'], { env: { HERALD_URL: engine.url, HERALD_TOKEN: engine.token } });
  assert.equal(bad.code, 0);
  for (const r of (JSON.parse(bad.stdout) as typeof reply).runs) {
    const run = await client.waitRun(r.runId, { timeout: 30_000 });
    assert.equal(run.status, "failed");
    assert.equal(run.steps[0]!.attempt, 1);
  }

  worker.kill("SIGTERM");
  assert.equal(await exited, 0, log);
  assert.match(log, /herald: worker stopped/);
});

test("push.js reports bad input with one line and a non-zero exit", async () => {
  const env = { HERALD_URL: engine.url, HERALD_TOKEN: engine.token };
  const notJSON = await runNode([example("push"), "user:created", "{"], { env });
  assert.equal(notJSON.code, 2);
  assert.match(notJSON.stderr, /the payload is not JSON/);
  const badKey = await runNode([example("push"), "user created", "{}"], { env });
  assert.equal(badKey.code, 1);
  assert.match(badKey.stderr, /HTTP 400 invalid_argument: .*\(field "key"\)/);
  const noToken = await runNode([example("push"), "k"], { env: { HERALD_URL: engine.url }, cwd: mkdtempSync(join(tmpdir(), "herald-ts-empty-")) });
  assert.equal(noToken.code, 1);
  assert.match(noToken.stderr, /no token: set HERALD_TOKEN/);
});

test("the TypeScript quickstart defines the same workflows as the Go quickstart (no new version)", async (t) => {
  const bin = join(packageDir, "node_modules", ".cache", "herald", "quickstart-go");
  const built = spawnSync("go", ["build", "-o", bin, "./examples/quickstart"], { cwd: repoDir, stdio: ["ignore", "inherit", "inherit"] });
  assert.equal(built.status, 0, "go build ./examples/quickstart");
  const fresh = await Engine.start();
  t.after(() => fresh.close());
  const client = fresh.client();
  const goWorker = spawn(bin, [], { env: { ...process.env, HERALD_URL: fresh.url, HERALD_TOKEN: fresh.token }, stdio: "ignore" });
  t.after(() => goWorker.kill("SIGKILL"));
  await eventually("the Go quickstart to store its workflows", async () => (await client.listWorkflows()).length === 2);
  for (const wf of [welcomeUser(), provisionAccount()]) {
    const res = await client.putWorkflow(wf);
    assert.equal(res.createdVersion, false, `${wf.name}: the TypeScript definition differs from the Go one`);
    assert.equal(res.workflow.version, 1);
  }
});
