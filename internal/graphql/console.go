package graphql

import (
	"embed"
	"net/http"
	"path"
)

// console holds the query console's page and assets, served from the binary.
//
//go:embed console
var console embed.FS

// consoleTypes are the media types of the console's files.
var consoleTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// serveConsole serves a file of the query console (GET /graphql with Accept: text/html
// is its page).
func serveConsole(w http.ResponseWriter, r *http.Request, name string) {
	data, err := console.ReadFile("console/" + path.Base(name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", consoleTypes[path.Ext(name)])
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "+
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	w.Write(data)
}
