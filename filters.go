package herald

import (
	"context"
	"fmt"
	"net/http"

	"github.com/heraldhq/herald/internal/wire"
)

// FilterSpec is a runtime filter to attach to a workflow (docs/triggers.md). Once a
// workflow has filters, an event whose key matches its triggers starts a run only when
// one of the filters has the event's Scope and its Expression is true; the run's input
// is then the event payload with the filter's Payload set over it. An event without a
// scope passes no filter.
type FilterSpec struct {
	// Scope is the event scope the filter applies to (a customer id, say). Required.
	Scope string `json:"scope"`
	// Expression is an optional CEL condition over the event (input,
	// additional_metadata, key, scope) that must be true; empty means true.
	Expression string `json:"expression,omitempty"`
	// Payload, when set, must encode to a JSON object: its top-level keys are set over
	// the event payload in the input of the runs this filter lets through.
	Payload any `json:"payload,omitempty"`
}

// Filter is a runtime filter attached to a workflow.
type Filter = wire.Filter

// ListFiltersParams select and page the filters of a workflow.
type ListFiltersParams struct {
	// Scope, when set, lists only the filters of that scope.
	Scope string
	// Cursor is the NextCursor of the previous page.
	Cursor string
	// Limit is the page size, 1–500 (default 50).
	Limit int
}

// FilterPage is one page of filters, newest first.
type FilterPage struct {
	Items []Filter `json:"items"`
	// NextCursor, when not empty, fetches the next page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// CreateFilter attaches a runtime filter to the named workflow. A bad expression or
// payload is refused with an *APIError naming the field.
func (c *Client) CreateFilter(ctx context.Context, workflow string, spec FilterSpec) (*Filter, error) {
	payload, err := marshalInput("payload", spec.Payload)
	var reply wire.Filter
	if err == nil {
		req := wire.FilterCreate{Scope: spec.Scope, Expression: spec.Expression, Payload: payload}
		err = c.call(ctx, http.MethodPost, "/workflows/"+pathEscape(workflow)+"/filters", nil, req, &reply, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("herald: creating filter on workflow %q: %w", workflow, err)
	}
	return &reply, nil
}

// ListFilters lists the filters of the named workflow, newest first.
func (c *Client) ListFilters(ctx context.Context, workflow string, p ListFiltersParams) (*FilterPage, error) {
	q := pageQuery(p.Cursor, p.Limit)
	if p.Scope != "" {
		q.Set("scope", p.Scope)
	}
	var res wire.List[wire.Filter]
	if err := c.call(ctx, http.MethodGet, "/workflows/"+pathEscape(workflow)+"/filters", q, nil, &res, 0); err != nil {
		return nil, fmt.Errorf("herald: listing filters of workflow %q: %w", workflow, err)
	}
	return &FilterPage{Items: res.Items, NextCursor: res.NextCursor}, nil
}

// GetFilter returns one filter of the named workflow.
func (c *Client) GetFilter(ctx context.Context, workflow, id string) (*Filter, error) {
	var reply wire.Filter
	if err := c.call(ctx, http.MethodGet, "/workflows/"+pathEscape(workflow)+"/filters/"+pathEscape(id), nil, nil, &reply, 0); err != nil {
		return nil, fmt.Errorf("herald: getting filter %s of workflow %q: %w", id, workflow, err)
	}
	return &reply, nil
}

// DeleteFilter removes a filter from the named workflow.
func (c *Client) DeleteFilter(ctx context.Context, workflow, id string) error {
	if err := c.call(ctx, http.MethodDelete, "/workflows/"+pathEscape(workflow)+"/filters/"+pathEscape(id), nil, nil, nil, 0); err != nil {
		return fmt.Errorf("herald: deleting filter %s of workflow %q: %w", id, workflow, err)
	}
	return nil
}
