package server

import "net/http"

// routes splits requests between the API (/api/, /healthz, /metrics), GraphQL (/graphql)
// and the dashboard (everything else).
func routes(api, graphql, dashboard http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/graphql", graphql)
	mux.Handle("/graphql/", graphql)
	mux.Handle("/healthz", api)
	mux.Handle("/metrics", api)
	mux.Handle("/", dashboard)
	return mux
}
