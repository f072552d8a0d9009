// Command quickstart is a small Herald worker. It runs two workflows started by
// the same event, "user:created":
//
//   - welcome-user: send-welcome-email → add-to-crm (which uses the e-mail
//     step's output);
//   - provision-account: create-account → announce-account (which pushes an
//     "account:provisioned" event, recorded with its lineage).
//
// Start an engine, then this worker, then push an event:
//
//	herald serve &
//	go run ./examples/quickstart &
//	herald push user:created '{"user_id":"u_1","email":"ada@example.com","name":"Ada"}'
//
// The worker finds the engine through HERALD_URL (default
// http://127.0.0.1:7420) and HERALD_TOKEN (default: the contents of
// ./.herald/token, written by a local engine). It runs until Ctrl-C.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/heraldhq/herald"
)

// User is the payload of a "user:created" event.
type User struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
}

// WelcomeEmail is the output of the send-welcome-email step.
type WelcomeEmail struct {
	MessageID string `json:"message_id"`
	SentTo    string `json:"sent_to"`
}

// Account is the output of the create-account step.
type Account struct {
	AccountID string `json:"account_id"`
	Plan      string `json:"plan"`
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(logger); err != nil {
		logger.Error("quickstart failed", "err", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	client, err := herald.ClientFromEnv()
	if err != nil {
		return err
	}
	w := herald.NewWorker(client, herald.WorkerConfig{Name: "quickstart", Logger: logger})
	if err := w.Register(welcomeUser(), provisionAccount()); err != nil {
		return err
	}
	logger.Info("quickstart worker starting; push a user:created event to see it work (Ctrl-C to stop)",
		"engine", client.URL())
	return w.Run(ctx)
}

// readUser decodes the run's input; a payload without a user id or e-mail can
// never succeed, so it fails the run at once instead of being retried.
func readUser(sc *herald.StepContext) (User, error) {
	var u User
	if err := sc.Input(&u); err != nil {
		return u, herald.NonRetryable(err)
	}
	if u.UserID == "" || u.Email == "" {
		return u, herald.NonRetryable(errors.New("payload needs user_id and email"))
	}
	return u, nil
}

func welcomeUser() herald.Workflow {
	return herald.Workflow{
		Name:        "welcome-user",
		Description: "Sends a welcome e-mail to a new user and adds them to the CRM",
		Triggers:    []string{"user:created"},
		Steps: []herald.Step{
			{
				Name:    "send-welcome-email",
				Timeout: 30 * time.Second,
				Retry:   herald.RetryPolicy{MaxAttempts: 5, InitialBackoff: time.Second},
				Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
					u, err := readUser(sc)
					if err != nil {
						return nil, err
					}
					// A real step would call an e-mail provider here, passing
					// the step-run id as idempotency key so a retry sends once.
					msgID := "msg_" + sc.StepRunID()
					sc.Logger().Info("sending welcome e-mail", "to", u.Email, "name", u.Name, "message_id", msgID)
					return WelcomeEmail{MessageID: msgID, SentTo: u.Email}, nil
				},
			},
			{
				Name:    "add-to-crm",
				Parents: []string{"send-welcome-email"},
				Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
					u, err := readUser(sc)
					if err != nil {
						return nil, err
					}
					var email WelcomeEmail
					if err := sc.ParentOutput("send-welcome-email", &email); err != nil {
						return nil, err
					}
					contactID := "crm_" + u.UserID
					sc.Logger().Info("adding contact to CRM", "contact_id", contactID,
						"email", u.Email, "welcome_message_id", email.MessageID)
					return map[string]any{"contact_id": contactID, "welcome_message_id": email.MessageID}, nil
				},
			},
		},
	}
}

func provisionAccount() herald.Workflow {
	return herald.Workflow{
		Name:        "provision-account",
		Description: "Creates the account of a new user and announces it",
		Triggers:    []string{"user:created"},
		Steps: []herald.Step{
			{
				Name: "create-account",
				Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
					u, err := readUser(sc)
					if err != nil {
						return nil, err
					}
					acct := Account{AccountID: "acct_" + u.UserID, Plan: "trial"}
					sc.Logger().Info("creating account", "user_id", u.UserID, "account_id", acct.AccountID, "plan", acct.Plan)
					return acct, nil
				},
			},
			{
				Name:    "announce-account",
				Parents: []string{"create-account"},
				Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
					var acct Account
					if err := sc.ParentOutput("create-account", &acct); err != nil {
						return nil, err
					}
					// Chaining: the pushed event records this run and step as its parents.
					res, err := sc.Push(ctx, herald.Event{
						Key:     "account:provisioned",
						Payload: acct,
					})
					if err != nil {
						return nil, fmt.Errorf("announcing account: %w", err)
					}
					sc.Logger().Info("announced account", "account_id", acct.AccountID, "event_id", res.Event.ID)
					return map[string]any{"event_id": res.Event.ID}, nil
				},
			},
		},
	}
}
