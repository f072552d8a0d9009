// Package herald is the Go SDK of Herald, an event-triggered workflow engine.
//
// It has two halves, both using only the standard library:
//
//   - a Client for the engine's HTTP API (docs/api.md): push events, inspect
//     events and runs, manage workflows, tokens and tenants;
//   - a Worker that runs workflow steps (docs/worker-protocol.md): it stores
//     its workflows' definitions in the engine, long-polls for ready steps,
//     runs each in its own goroutine, reports results and heartbeats its leases.
//
// An event has a key ("user:created") and a JSON object payload. Every enabled
// workflow with a trigger matching the key gets a run whose input is the
// payload. A workflow's steps form a DAG: a step runs once its parents have
// succeeded and reads their outputs.
//
// A worker:
//
//	client, err := herald.ClientFromEnv() // HERALD_URL, HERALD_TOKEN or ./.herald/token
//	if err != nil {
//		log.Fatal(err)
//	}
//	w := herald.NewWorker(client, herald.WorkerConfig{Name: "mailer"})
//	err = w.Register(herald.Workflow{
//		Name:     "welcome-user",
//		Triggers: []string{"user:created"},
//		Steps: []herald.Step{
//			{
//				Name: "send-welcome-email",
//				Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
//					var user struct {
//						Email string `json:"email"`
//					}
//					if err := sc.Input(&user); err != nil {
//						return nil, herald.NonRetryable(err)
//					}
//					return map[string]any{"sent_to": user.Email}, nil
//				},
//			},
//			{
//				Name:    "add-to-crm",
//				Parents: []string{"send-welcome-email"},
//				Run: func(ctx context.Context, sc *herald.StepContext) (any, error) {
//					var sent struct {
//						SentTo string `json:"sent_to"`
//					}
//					err := sc.ParentOutput("send-welcome-email", &sent)
//					return nil, err
//				},
//			},
//		},
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
//	defer stop()
//	if err := w.Run(ctx); err != nil { // until Ctrl-C
//		log.Fatal(err)
//	}
//
// A producer:
//
//	res, err := client.Push(ctx, herald.Event{
//		Key:     "user:created",
//		Payload: map[string]any{"user_id": "u_1", "email": "ada@example.com"},
//	})
//	// res.Runs lists the runs the event started.
//
// An event can be delayed (PushAfter, PushAt, or Event.Delay / Event.DeliverAt in
// a bulk push): the engine stores it at once, with Status "scheduled", and it
// triggers the workflows active when it is due; CancelEvent cancels it before.
//
// Delivery of steps is at least once: a step may run more than once (after a
// worker crash or a lost lease), so write steps idempotently, for example by
// keying side effects on StepContext.StepRunID. A step that returns an error is
// retried with backoff while it has attempts left; wrap the error with
// NonRetryable to fail at once.
//
// Errors answered by the engine are *APIError values; inspect them with
// errors.As.
package herald
