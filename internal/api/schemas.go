package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/wire"
)

func toEventSchema(s store.EventSchema) wire.EventSchema {
	return wire.EventSchema{Key: s.Key, Schema: s.Schema, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

// putEventSchema registers the JSON Schema of an event key: {"schema": {...}}. Reply 201
// when the key had none, else 200.
func (a *API) putEventSchema(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	var in wire.EventSchemaPut
	if err := decode(r, w, a.cfg.MaxEventBytes+4096, &in, false); err != nil {
		var se *statusError
		if errors.As(err, &se) && se.code == "invalid_argument" && strings.HasPrefix(se.msg, "unknown field") {
			se.msg += `: the body is {"schema": <the JSON Schema>}`
		}
		return err
	}
	s, created, err := a.eng.PutEventSchema(r.Context(), p.TenantID, r.PathValue("key"), in.Schema)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, toEventSchema(s))
	return nil
}

func (a *API) getEventSchema(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	s, err := a.eng.GetEventSchema(r.Context(), p.TenantID, r.PathValue("key"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toEventSchema(s))
	return nil
}

func (a *API) listEventSchemas(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	all, err := a.eng.ListEventSchemas(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	out := wire.List[wire.EventSchema]{Items: []wire.EventSchema{}}
	for _, s := range all {
		out.Items = append(out.Items, toEventSchema(s))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) deleteEventSchema(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	if err := a.eng.DeleteEventSchema(r.Context(), p.TenantID, r.PathValue("key")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
