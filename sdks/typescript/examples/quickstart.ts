/**
 * quickstart is a small Herald worker in TypeScript, the twin of the Go example
 * (examples/quickstart). It runs two workflows started by the same event, "user:created":
 *
 *   - welcome-user: send-welcome-email → add-to-crm (which uses the e-mail step's output);
 *   - provision-account: create-account → announce-account (which pushes an
 *     "account:provisioned" event, recorded with its lineage).
 *
 * Start an engine, then this worker, then push an event:
 *
 *   herald serve &
 *   node sdks/typescript/dist/examples/quickstart.js &
 *   node sdks/typescript/dist/examples/push.js user:created '{"user_id":"u_1","email":"ada@example.com","name":"Ada"}'
 *
 * It finds the engine through HERALD_URL (default http://127.0.0.1:7420) and
 * HERALD_TOKEN (default: the contents of ./.herald/token, written by a local engine).
 * It runs until Ctrl-C or SIGTERM, then lets running steps finish.
 */
import { pathToFileURL } from "node:url";

import { consoleLogger, NonRetryableError, Worker, Workflow, type StepContext } from "../src/index.js";

/** The payload of a "user:created" event. */
export interface User {
  user_id: string;
  email: string;
  name?: string;
}

/** The output of send-welcome-email. */
interface WelcomeEmail {
  message_id: string;
  sent_to: string;
}

/** The output of create-account. */
interface Account {
  account_id: string;
  plan: string;
}

/**
 * readUser checks the run's input: a payload without a user id or e-mail can never
 * succeed, so it fails the run at once instead of being retried.
 */
function readUser(ctx: StepContext<User>): User {
  const u = ctx.input;
  if (typeof u.user_id !== "string" || u.user_id === "" || typeof u.email !== "string" || u.email === "") {
    throw new NonRetryableError("payload needs user_id and email");
  }
  return u;
}

/** welcomeUser sends a welcome e-mail to a new user and adds them to the CRM. */
export function welcomeUser(): Workflow<User> {
  const wf = new Workflow<User>({
    name: "welcome-user",
    description: "Sends a welcome e-mail to a new user and adds them to the CRM",
    triggers: ["user:created"],
  });
  const sendEmail = wf.step({
    name: "send-welcome-email",
    timeout: "30s",
    retry: { maxAttempts: 5, initialBackoff: "1s" },
    run: async (ctx): Promise<WelcomeEmail> => {
      const u = readUser(ctx);
      // A real step would call an e-mail provider here, passing the step-run id as
      // idempotency key so that a retry sends once.
      const messageId = `msg_${ctx.stepRunId}`;
      ctx.logger.info("sending welcome e-mail", { to: u.email, name: u.name, message_id: messageId });
      return { message_id: messageId, sent_to: u.email };
    },
  });
  wf.step({
    name: "add-to-crm",
    parents: [sendEmail],
    run: async (ctx) => {
      const u = readUser(ctx);
      const email = ctx.parent(sendEmail);
      const contactId = `crm_${u.user_id}`;
      ctx.logger.info("adding contact to CRM", { contact_id: contactId, email: u.email, welcome_message_id: email.message_id });
      return { contact_id: contactId, welcome_message_id: email.message_id };
    },
  });
  return wf;
}

/** provisionAccount creates the account of a new user and announces it. */
export function provisionAccount(): Workflow<User> {
  const wf = new Workflow<User>({
    name: "provision-account",
    description: "Creates the account of a new user and announces it",
    triggers: ["user:created"],
  });
  const createAccount = wf.step({
    name: "create-account",
    run: async (ctx): Promise<Account> => {
      const u = readUser(ctx);
      const acct = { account_id: `acct_${u.user_id}`, plan: "trial" };
      ctx.logger.info("creating account", { user_id: u.user_id, account_id: acct.account_id, plan: acct.plan });
      return acct;
    },
  });
  wf.step({
    name: "announce-account",
    parents: [createAccount],
    run: async (ctx) => {
      const acct = ctx.parent(createAccount);
      // Chaining: the pushed event records this run and step as its parents.
      const res = await ctx.push("account:provisioned", acct);
      ctx.logger.info("announced account", { account_id: acct.account_id, event_id: res.event.id });
      return { event_id: res.event.id };
    },
  });
  return wf;
}

async function main(): Promise<void> {
  const logger = consoleLogger();
  const worker = new Worker({ name: "quickstart", logger, workflows: [welcomeUser(), provisionAccount()] });
  logger.info("quickstart worker starting; push a user:created event to see it work (Ctrl-C to stop)");
  await worker.run();
}

// Run only as a program, not when a test imports the workflows.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(`quickstart failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
