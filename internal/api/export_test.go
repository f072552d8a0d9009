package api

// Patterns returns the patterns of the routes a registered, in order (tests only).
func (a *API) Patterns() []string { return append([]string(nil), a.patterns...) }

// NotFoundPattern is the pattern that answers every other path under /api/ with 404.
const NotFoundPattern = notFoundPattern

// OpenAPIDocument is the embedded OpenAPI document.
func OpenAPIDocument() []byte { return openAPI }
