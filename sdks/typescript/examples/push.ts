/**
 * push pushes one event and prints the engine's reply (the event and the runs it
 * started) as JSON:
 *
 *   node sdks/typescript/dist/examples/push.js user:created '{"user_id":"u_1","email":"ada@example.com"}'
 *
 * It finds the engine through HERALD_URL and HERALD_TOKEN (or ./.herald/token).
 */
import { Client, HeraldError } from "../src/index.js";

async function main(argv: string[]): Promise<number> {
  if (argv.length < 1 || argv.length > 2) {
    console.error("usage: push KEY [JSON-PAYLOAD]");
    return 2;
  }
  const [key, json] = argv as [string, string | undefined];
  let payload: object | undefined;
  if (json !== undefined) {
    try {
      payload = JSON.parse(json) as object;
    } catch (err) {
      console.error(`push: the payload is not JSON: ${(err as Error).message}`);
      return 2;
    }
  }
  try {
    const client = new Client();
    const res = await client.push(key, payload);
    console.log(JSON.stringify(res, null, 2));
    return 0;
  } catch (err) {
    console.error(`push: ${err instanceof HeraldError ? err.message : String(err)}`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
