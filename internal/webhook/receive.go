package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/secrets"
	"github.com/heraldhq/herald/internal/store"
)

// Limits of what a delivery's expressions may give.
const (
	// MaxScopeBytes bounds the scope an expression gives.
	MaxScopeBytes = 1024
	// MaxDedupeIDBytes bounds a delivery's deduplication id.
	MaxDedupeIDBytes = 255
)

// ErrNoMasterKey means the server has no master key, so it can neither save nor use
// webhook secrets.
var ErrNoMasterKey = errors.New("no master key configured: webhook secrets cannot be encrypted")

// SecretAD is the additional data a webhook's secret is sealed with: it binds the sealed
// bytes to their webhook, so that they cannot be moved to another one.
func SecretAD(w store.Webhook) []byte {
	return []byte("herald webhook secret\x00" + w.TenantID + "\x00" + w.ID)
}

// Ingest is what receiving needs of the engine: its ingest path, which commits an
// accepted delivery's event together with the delivery record.
type Ingest interface {
	// Push validates and commits the event of an accepted delivery, with the runs it
	// triggers and rec, in one transaction. An event refused for what it is returns an
	// *InvalidEventError; a deduplication id that another delivery of the webhook
	// committed first returns store.ErrConflict.
	Push(ctx context.Context, ev Event, rec *store.WebhookDelivery) (Accepted, error)
	// Record commits a delivery record alone (a refusal, a replay, a challenge).
	Record(ctx context.Context, rec *store.WebhookDelivery) error
	// CheckKey returns nil when key is an event key, else an error saying why not.
	CheckKey(key string) error
}

// Event is the event an accepted delivery makes.
type Event struct {
	TenantID string
	// Webhook is the webhook's name.
	Webhook  string
	Key      string
	Scope    string
	DedupeID string
	Payload  json.RawMessage
}

// Accepted is the event an accepted delivery created, with the runs it started.
type Accepted struct {
	Event store.Event
	Runs  []store.RunRef
}

// InvalidEventError is Ingest.Push's refusal of the event itself: its payload breaks the
// schema of its key (Code "schema_violation", Field the payload's failing pointer), or it
// is otherwise not an event (Code "invalid_event").
type InvalidEventError struct {
	Code  string
	Field string
	Err   error
}

// Error implements error.
func (e *InvalidEventError) Error() string { return e.Err.Error() }

// Unwrap returns the ingest path's own error.
func (e *InvalidEventError) Unwrap() error { return e.Err }

// Store is what receiving reads and trims of the store.
type Store interface {
	WebhookGet(ctx context.Context, tenantID, name string) (store.Webhook, error)
	WebhookGetEvent(ctx context.Context, p store.WebhookGetEventParams) (store.Event, error)
	WebhookDeliveryPrune(ctx context.Context, p store.DeliveryPruneParams) (int, error)
}

// ReceiverConfig is what a Receiver works with.
type ReceiverConfig struct {
	Store  Store
	Ingest Ingest
	// Exprs evaluates the webhooks' expressions.
	Exprs *Exprs
	// Secrets opens the webhooks' sealed secrets; without it no delivery can be verified.
	Secrets *secrets.Box
	// CacheTTL is how long a webhook and its opened secret are reused before they are read
	// again.
	CacheTTL time.Duration
	// DeliveryLog is how many delivery records each webhook keeps (PruneDeliveryLogs).
	DeliveryLog int
	// Now tells the time deliveries are received at.
	Now func() time.Time
	// NewID makes the id of each delivery record.
	NewID  func() string
	Logger *slog.Logger
}

// Receiver receives deliveries to webhooks' URLs: it verifies each on its raw bytes,
// decodes it, evaluates the webhook's expressions and hands the event to Ingest, and it
// keeps each webhook's delivery log trimmed.
type Receiver struct {
	cfg   ReceiverConfig
	cache cache

	touchedMu sync.Mutex
	touched   map[logKey]struct{} // webhooks whose log grew since the last prune
	pruneMu   sync.Mutex          // serializes PruneDeliveryLogs
}

// NewReceiver returns a receiver working with cfg.
func NewReceiver(cfg ReceiverConfig) *Receiver {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Receiver{
		cfg:     cfg,
		cache:   cache{ttl: cfg.CacheTTL, m: map[cacheKey]cached{}},
		touched: map[logKey]struct{}{},
	}
}

// Request is one request to a webhook's URL.
type Request struct {
	TenantID string
	Name     string
	Header   http.Header
	Body     io.Reader
	// MaxBytes is the largest body accepted; a larger one is refused with 413.
	MaxBytes int64
}

// Reply is an accepted delivery: the event created (or, for a replay, the event the first
// delivery created) and its runs.
type Reply struct {
	Event     store.Event
	Runs      []store.RunRef
	Duplicate bool
	// Challenge is set for Slack's url_verification request, which is answered with it and
	// creates no event.
	Challenge *string
}

// Refusal is a refused delivery: the status to answer and why. Message is meant for the
// sender and says nothing about secrets or other tenants.
type Refusal struct {
	Status  int
	Code    string
	Message string
	Field   string
}

// Error implements error.
func (e *Refusal) Error() string { return e.Message }

// Receive verifies a delivery on its raw bytes, decodes it, evaluates the webhook's
// expressions and pushes the event through the ingest path: the event, its runs and the
// delivery record commit in one transaction. Every delivery to an existing webhook,
// accepted or refused, leaves a delivery record; a refused one leaves nothing else. A
// refusal is a *Refusal.
func (rc *Receiver) Receive(ctx context.Context, r Request) (Reply, error) {
	w, secret, isCached, gen := rc.cache.get(r.TenantID, r.Name)
	if !isCached {
		var err error
		w, err = rc.cfg.Store.WebhookGet(ctx, r.TenantID, r.Name)
		if errors.Is(err, store.ErrNotFound) {
			return Reply{}, &Refusal{Status: http.StatusNotFound, Code: "not_found", Message: "no such webhook"}
		}
		if err != nil {
			return Reply{}, err
		}
	}
	rec := store.WebhookDelivery{
		ID: rc.cfg.NewID(), TenantID: w.TenantID, WebhookID: w.ID, ReceivedAt: rc.cfg.Now(),
		Verification: store.VerificationNotChecked, Outcome: store.DeliveryRefused,
	}
	// refuse records the refusal and returns the error the sender sees; an internal
	// problem is recorded in detail but shown to the sender as "internal error".
	refuse := func(status int, code, msg, field string) error {
		rec.StatusCode, rec.Error = status, msg
		rc.record(ctx, &rec)
		rc.cfg.Logger.Debug("webhook delivery refused", "tenant_id", w.TenantID, "webhook", w.Name, "status", status, "error", msg)
		if status == http.StatusInternalServerError {
			msg, field = "internal error", ""
		}
		return &Refusal{Status: status, Code: code, Message: msg, Field: field}
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, r.MaxBytes+1))
	tooLarge := int64(len(body)) > r.MaxBytes
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The server's read timeout passed; net/http has cancelled the request's context
			// with the failed read, but the refusal is still recorded.
			ctx = context.WithoutCancel(ctx)
			rec.BodyBytes = int64(len(body))
			return Reply{}, refuse(http.StatusRequestTimeout, "request_timeout",
				"the body did not arrive within the server's read timeout", "")
		}
		if !errors.As(err, &mbe) {
			return Reply{}, fmt.Errorf("reading webhook body: %w", err)
		}
		tooLarge = true
	}
	rec.BodyBytes = int64(len(body))
	if tooLarge {
		return Reply{}, refuse(http.StatusRequestEntityTooLarge, "payload_too_large",
			fmt.Sprintf("body is larger than the limit of %d bytes", r.MaxBytes), "")
	}

	if !isCached {
		var err error
		if secret, err = rc.openSecret(w); err != nil {
			rc.cfg.Logger.Error("cannot open a webhook secret", "tenant_id", w.TenantID, "webhook", w.Name, "err", err)
			return Reply{}, refuse(http.StatusInternalServerError, "internal",
				"the webhook's secret cannot be decrypted: "+err.Error(), "")
		}
		rc.cache.put(w, secret, gen)
	}
	scheme := Scheme{Source: w.Source, Auth: Auth(w.Auth), Secret: secret}
	if err := scheme.Verify(r.Header, body, time.Now()); err != nil {
		rec.Verification = store.VerificationFailed
		var ve *Error
		if errors.As(err, &ve) {
			return Reply{}, refuse(http.StatusUnauthorized, "invalid_signature", ve.Msg, "")
		}
		return Reply{}, refuse(http.StatusInternalServerError, "internal", "verifying: "+err.Error(), "")
	}
	rec.Verification = store.VerificationPassed

	decoded, err := DecodeBody(r.Header.Get("Content-Type"), body)
	if err != nil {
		return Reply{}, refuse(http.StatusBadRequest, "malformed_body", err.Error(), "")
	}
	if w.Source == SourceSlack && decoded.Input["type"] == "url_verification" {
		ch, _ := decoded.Input["challenge"].(string)
		rec.Outcome, rec.StatusCode = store.DeliveryChallenge, http.StatusOK
		rc.record(ctx, &rec)
		return Reply{Challenge: &ch}, nil
	}

	headers := Headers(r.Header, scheme.CredentialHeaders())
	// eval evaluates one of the webhook's expressions, named by its field. A failure
	// refuses the delivery, unless the sender went away: then there is no answer, and
	// nothing to record as its fault.
	eval := func(src, field string) (string, error) {
		v, err := rc.cfg.Exprs.Eval(ctx, src, decoded.Input, headers)
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("evaluating %s: %w", field, ctx.Err())
		}
		return "", refuse(http.StatusUnprocessableEntity, "expression_failed", field+": "+err.Error(), field)
	}
	key, err := eval(w.EventKeyExpression, "event_key_expression")
	if err != nil {
		return Reply{}, err
	}
	if err := rc.cfg.Ingest.CheckKey(key); err != nil {
		return Reply{}, refuse(http.StatusUnprocessableEntity, "expression_failed",
			fmt.Sprintf("event_key_expression gave %q, which is not an event key: it %s", truncate(key, 300), err), "event_key_expression")
	}
	var scope string
	if w.ScopeExpression != "" {
		if scope, err = eval(w.ScopeExpression, "scope_expression"); err != nil {
			return Reply{}, err
		}
		if len(scope) > MaxScopeBytes {
			return Reply{}, refuse(http.StatusUnprocessableEntity, "expression_failed",
				fmt.Sprintf("scope_expression gave %d bytes; the limit is %d", len(scope), MaxScopeBytes), "scope_expression")
		}
		if !utf8.ValidString(scope) {
			// A header may carry any bytes; PostgreSQL's text refuses what is not UTF-8.
			return Reply{}, refuse(http.StatusUnprocessableEntity, "expression_failed",
				"scope_expression gave text that is not valid UTF-8", "scope_expression")
		}
	}
	dedupe := presetDedupeID(w.Source, r.Header, decoded.Input)
	if w.DedupeExpression != "" {
		if dedupe, err = eval(w.DedupeExpression, "dedupe_expression"); err != nil {
			return Reply{}, err
		}
	}
	if len(dedupe) > MaxDedupeIDBytes {
		return Reply{}, refuse(http.StatusUnprocessableEntity, "expression_failed",
			fmt.Sprintf("the delivery id is %d bytes; the limit is %d", len(dedupe), MaxDedupeIDBytes), "dedupe_expression")
	}
	if !utf8.ValidString(dedupe) {
		// A header may carry any bytes; PostgreSQL's text refuses what is not UTF-8.
		return Reply{}, refuse(http.StatusUnprocessableEntity, "expression_failed",
			"the delivery id is not valid UTF-8", "dedupe_expression")
	}
	// A replay is found by the unique (tenant, webhook, dedupe id) index when its event is
	// inserted, not by a lookup first: replays are rare, and the lookup would cost every
	// delivery a read.
	rec.DedupeID = dedupe
	payload, err := MergeStatic(decoded.Payload, w.StaticPayload)
	if err != nil {
		return Reply{}, refuse(http.StatusInternalServerError, "internal", err.Error(), "")
	}

	rec.Outcome, rec.StatusCode = store.DeliveryAccepted, http.StatusOK
	acc, err := rc.cfg.Ingest.Push(ctx, Event{
		TenantID: w.TenantID, Webhook: w.Name, Key: key, Scope: scope, DedupeID: dedupe, Payload: payload,
	}, &rec)
	var invalid *InvalidEventError
	switch {
	case err == nil:
		rc.touch(w.TenantID, w.ID)
		return Reply{Event: acc.Event, Runs: acc.Runs}, nil
	case errors.Is(err, store.ErrConflict) && dedupe != "":
		// Another delivery with the same id committed first.
		ev, gerr := rc.cfg.Store.WebhookGetEvent(ctx, store.WebhookGetEventParams{TenantID: w.TenantID, Webhook: w.Name, DedupeID: dedupe})
		if gerr != nil {
			return Reply{}, errors.Join(err, gerr)
		}
		rec.ID = rc.cfg.NewID()
		return rc.duplicate(ctx, &rec, ev), nil
	case errors.As(err, &invalid):
		// Refused for what the event is (its payload breaks its key's schema, say):
		// nothing stored.
		rec.Outcome = store.DeliveryRefused
		return Reply{}, refuse(http.StatusUnprocessableEntity, invalid.Code, err.Error(), invalid.Field)
	}
	return Reply{}, err
}

// duplicate records a replayed delivery and answers with the event the first one created.
func (rc *Receiver) duplicate(ctx context.Context, rec *store.WebhookDelivery, ev store.Event) Reply {
	rec.Outcome, rec.StatusCode, rec.EventID = store.DeliveryDuplicate, http.StatusOK, ev.ID
	rc.record(ctx, rec)
	return Reply{Event: ev, Runs: ev.Runs(), Duplicate: true}
}

// presetDedupeID is the delivery id a preset source sends: Stripe's event id, GitHub's
// X-GitHub-Delivery, Standard Webhooks' webhook-id, Slack's Events API event_id.
func presetDedupeID(source string, h http.Header, input map[string]any) string {
	switch source {
	case SourceStripe:
		id, _ := input["id"].(string)
		return id
	case SourceGitHub:
		return h.Get(HeaderGitHubDelivery)
	case SourceStandard:
		return h.Get(HeaderStandardID)
	case SourceSlack:
		id, _ := input["event_id"].(string)
		return id
	}
	return ""
}

// openSecret decrypts a webhook's secret.
func (rc *Receiver) openSecret(w store.Webhook) ([]byte, error) {
	if rc.cfg.Secrets == nil {
		return nil, ErrNoMasterKey
	}
	return rc.cfg.Secrets.Open(w.SealedSecret, SecretAD(w))
}

// record commits a delivery record alone. A record that cannot be written is logged and
// dropped: the sender's answer does not depend on it.
func (rc *Receiver) record(ctx context.Context, d *store.WebhookDelivery) {
	if err := rc.cfg.Ingest.Record(ctx, d); err != nil {
		rc.cfg.Logger.Warn("recording a webhook delivery", "tenant_id", d.TenantID, "webhook_id", d.WebhookID, "err", err)
		return
	}
	rc.touch(d.TenantID, d.WebhookID)
}

// Forget drops a cached webhook: its definition changed or it was deleted through this
// replica.
func (rc *Receiver) Forget(tenantID, name string) { rc.cache.forget(tenantID, name) }

// cacheKey names a webhook by tenant and name, as its URL does.
type cacheKey struct{ tenantID, name string }

// cache keeps webhooks with their opened secrets for deliveries, so that a busy webhook is
// not read and decrypted per request. Entries expire after ttl (changes made through
// another replica); this replica's updates and deletes drop them at once.
type cache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[cacheKey]cached
	// gen counts forgets: a webhook read before one is not cached after it.
	gen uint64
}

type cached struct {
	w       store.Webhook
	secret  []byte
	expires time.Time
}

// get returns a cached webhook, or the generation to pass to put after reading it.
func (c *cache) get(tenantID, name string) (store.Webhook, []byte, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[cacheKey{tenantID, name}]
	if !ok || time.Now().After(e.expires) {
		return store.Webhook{}, nil, false, c.gen
	}
	return e.w, e.secret, true, c.gen
}

// put caches a webhook read at generation gen, unless one was forgotten since.
func (c *cache) put(w store.Webhook, secret []byte, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= 10_000 {
		clear(c.m)
	}
	c.m[cacheKey{w.TenantID, w.Name}] = cached{w: w, secret: secret, expires: time.Now().Add(c.ttl)}
}

func (c *cache) forget(tenantID, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, cacheKey{tenantID, name})
	c.gen++
}

// logKey names one webhook's delivery log.
type logKey struct{ tenantID, webhookID string }

// touch notes that a webhook's log grew, for the next prune.
func (rc *Receiver) touch(tenantID, webhookID string) {
	rc.touchedMu.Lock()
	rc.touched[logKey{tenantID, webhookID}] = struct{}{}
	rc.touchedMu.Unlock()
}

// PruneDeliveryLogs trims the delivery log of every webhook that received deliveries
// since the last call to its newest DeliveryLog records. The engine's sweeper calls it
// each interval, which bounds what unauthenticated senders can make the log grow to. A
// call waits for one in progress, so when it returns every earlier delivery has been
// pruned.
func (rc *Receiver) PruneDeliveryLogs(ctx context.Context) error {
	rc.pruneMu.Lock()
	defer rc.pruneMu.Unlock()
	rc.touchedMu.Lock()
	touched := rc.touched
	rc.touched = map[logKey]struct{}{}
	rc.touchedMu.Unlock()
	var errs []error
	for k := range touched {
		if _, err := rc.cfg.Store.WebhookDeliveryPrune(ctx, store.DeliveryPruneParams{TenantID: k.tenantID, WebhookID: k.webhookID, Keep: rc.cfg.DeliveryLog}); err != nil {
			errs = append(errs, err)
			rc.touch(k.tenantID, k.webhookID) // try again next time
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pruning webhook delivery logs: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
