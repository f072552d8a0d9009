package api

import (
	"net/http"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/wire"
)

func toFilter(f store.Filter) wire.Filter {
	return wire.Filter{ID: f.ID, Workflow: f.Workflow, Scope: f.Scope, Expression: f.Expression, Payload: f.Payload, CreatedAt: f.CreatedAt}
}

func (a *API) createFilter(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	var in wire.FilterCreate
	if err := decode(r, w, a.cfg.MaxEventBytes, &in, false); err != nil {
		return err
	}
	f, err := a.eng.CreateFilter(r.Context(), p.TenantID, r.PathValue("name"),
		engine.FilterSpec{Scope: in.Scope, Expression: in.Expression, Payload: in.Payload})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toFilter(f))
	return nil
}

func (a *API) listFilters(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	before, limit, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if err := singleValued(q, "scope"); err != nil {
		return err
	}
	if err := engine.ValidateScope("scope", q.Get("scope")); err != nil {
		return err
	}
	name := r.PathValue("name")
	if _, err := a.eng.Store().WorkflowGet(r.Context(), store.WorkflowGetParams{TenantID: p.TenantID, Name: name}); err != nil {
		return err
	}
	fs, err := a.eng.Store().FilterList(r.Context(), store.FilterListParams{
		TenantID: p.TenantID,
		Workflow: name,
		Scope:    q.Get("scope"),
		Before:   before,
		Limit:    limit + 1,
	})
	if err != nil {
		return err
	}
	writePage(w, fs, limit, func(f store.Filter) string { return f.ID }, toFilter)
	return nil
}

func (a *API) getFilter(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	f, err := a.eng.Store().FilterGet(r.Context(), store.FilterRef{TenantID: p.TenantID, Workflow: r.PathValue("name"), ID: r.PathValue("id")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toFilter(f))
	return nil
}

func (a *API) deleteFilter(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	if err := a.eng.DeleteFilter(r.Context(), p.TenantID, r.PathValue("name"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
