package engine

import (
	"context"
	"fmt"
)

// Replay pushes a stored event again, as a new event with the same key, payload and
// metadata, matched against the workflows active now. The new event has source "replay"
// and records the original's id in ReplayOf; the original is unchanged.
func (ig *ingest) Replay(ctx context.Context, tenantID, eventID string) (PushResult, error) {
	orig, err := ig.store.EventGet(ctx, tenantID, eventID)
	if err != nil {
		return PushResult{}, err
	}
	res, err := ig.Push(ctx, tenantID, []EventInput{{
		Key: orig.Key, Payload: orig.Payload, Metadata: orig.Metadata, Scope: orig.Scope, Origin: FromReplay(orig.ID),
	}}, false)
	if err != nil {
		return PushResult{}, fmt.Errorf("replaying event %s: %w", eventID, err)
	}
	return res[0], nil
}
