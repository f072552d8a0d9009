package api

import (
	"net/http"

	"github.com/heraldhq/herald/internal/engine"
)

// metrics serves the server-wide metrics; its route needs an operator token.
func (a *API) metrics(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	a.cfg.Metrics.ServeHTTP(w, r)
	return nil
}
