"""A small Herald worker in Python, the twin of the Go example examples/quickstart.

It runs two workflows started by the same event, "user:created":

- welcome-user: send-welcome-email -> add-to-crm (which uses the e-mail step's output);
- provision-account: create-account -> announce-account (which pushes an
  "account:provisioned" event, recorded with its lineage).

Start an engine, then this worker, then push an event (from the repository root):

    go run ./cmd/herald serve &
    python3 sdks/python/examples/quickstart.py &
    python3 sdks/python/examples/push.py user:created '{"user_id":"u_1","email":"ada@example.com","name":"Ada"}'

The worker finds the engine through HERALD_URL (default http://127.0.0.1:7420) and
HERALD_TOKEN (default: the contents of ./.herald/token, written by a local engine). It
runs until Ctrl-C or SIGTERM, letting running steps finish.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Dict

# Use the SDK next to this file, so that the example runs from a clone with nothing installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import herald  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("quickstart")


def read_user(ctx: herald.Context) -> Dict[str, Any]:
    """The run's input; a payload without a user id or e-mail can never succeed, so it
    fails the run at once instead of being retried."""
    user = ctx.workflow_input()
    if not user.get("user_id") or not user.get("email"):
        raise herald.NonRetryableError("payload needs user_id and email")
    return user


def main() -> None:
    try:
        client = herald.Client()
    except herald.HeraldError as err:
        sys.exit("quickstart: %s" % err)
    worker = herald.Worker(client, name="quickstart", logger=log)

    @worker.workflow(
        name="welcome-user",
        on_events=["user:created"],
        description="Sends a welcome e-mail to a new user and adds them to the CRM",
    )
    class WelcomeUser:
        @worker.step(name="send-welcome-email", timeout="30s", retries=4, backoff="1s")
        def send_welcome_email(self, ctx: herald.Context) -> Dict[str, Any]:
            user = read_user(ctx)
            # A real step would call an e-mail provider here, passing the step-run id as
            # idempotency key so that a retry sends once.
            message_id = "msg_" + ctx.step_run_id
            ctx.logger.info("sending welcome e-mail to %s (%s), message %s", user["email"], user.get("name", ""), message_id)
            return {"message_id": message_id, "sent_to": user["email"]}

        @worker.step(name="add-to-crm", parents=["send-welcome-email"])
        def add_to_crm(self, ctx: herald.Context) -> Dict[str, Any]:
            user = read_user(ctx)
            email = ctx.step_output("send-welcome-email")
            contact_id = "crm_" + user["user_id"]
            ctx.logger.info("adding contact %s (%s) to the CRM, welcome message %s", contact_id, user["email"], email["message_id"])
            return {"contact_id": contact_id, "welcome_message_id": email["message_id"]}

    @worker.workflow(
        name="provision-account",
        on_events=["user:created"],
        description="Creates the account of a new user and announces it",
    )
    class ProvisionAccount:
        @worker.step(name="create-account")
        def create_account(self, ctx: herald.Context) -> Dict[str, Any]:
            user = read_user(ctx)
            account = {"account_id": "acct_" + user["user_id"], "plan": "trial"}
            ctx.logger.info("creating account %s (plan %s) for %s", account["account_id"], account["plan"], user["user_id"])
            return account

        @worker.step(name="announce-account", parents=["create-account"])
        def announce_account(self, ctx: herald.Context) -> Dict[str, Any]:
            account = ctx.step_output("create-account")
            # Chaining: the pushed event records this run and step as its parents.
            res = ctx.push("account:provisioned", account)
            ctx.logger.info("announced account %s: event %s", account["account_id"], res.event.id)
            return {"event_id": res.event.id}

    log.info("quickstart worker starting; push a user:created event to see it work (Ctrl-C to stop); engine %s", client.url)
    try:
        worker.run()
    except herald.HeraldError as err:
        sys.exit("quickstart: %s" % err)


if __name__ == "__main__":
    main()
