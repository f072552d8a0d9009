package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
)

// Cookie names.
const (
	// SessionCookie holds the session id (random; only its SHA-256 is stored).
	SessionCookie = "herald_session"
	// loginCookie holds the sign-in form's anti-forgery token (double submit).
	loginCookie = "herald_login"
)

var errNoSession = errors.New("no session")

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// secure reports whether the request came over TLS (directly or through a proxy that
// says so), so that cookies get the Secure attribute.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// session returns the request's live session.
func (d *Dashboard) session(r *http.Request) (*store.Session, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, errNoSession
	}
	s, err := d.st.SessionGet(r.Context(), hashID(c.Value), time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// checkCSRF requires a mutating request to carry the session's CSRF token (form field
// csrf, or header X-CSRF-Token) and, when the browser says where it comes from, to come
// from this origin.
func checkCSRF(r *http.Request, s *store.Session) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return errors.New("This form was posted from another site; it was refused.")
		}
	}
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.CSRF)) != 1 {
		return errors.New("The form expired or did not come from this dashboard (bad CSRF token); reload the page and try again.")
	}
	return nil
}

type loginData struct {
	Next  string
	Token string // the login form's anti-forgery token
}

// maxNext bounds a post-sign-in redirect target, in bytes.
const maxNext = 8192

// safeNext keeps a post-sign-in redirect on this site: next must be a path of this origin
// as a browser reads it, else the events page is used. Browsers drop tabs and newlines
// anywhere in a URL, trim leading control characters and spaces, and read a backslash as
// a slash, so "/\t/evil.example" and "/\\evil.example" become "//evil.example", another
// origin. So next must start with exactly one slash and hold no control character and no
// backslash at all (the dashboard's own links escape them); it must not be a scheme-,
// host- or user-bearing URL, nor the sign-in page itself.
func safeNext(next string) string {
	const home = "/events"
	if len(next) < 1 || len(next) > maxNext || next[0] != '/' || strings.HasPrefix(next, "//") {
		return home
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return home
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "/login") {
		return home
	}
	return next
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	if s, err := d.session(r); err == nil && s != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d.showLogin(w, r, http.StatusOK, "")
}

func (d *Dashboard) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostFormValue("next")
	}
	d.render(w, r, status, "login", page{Title: "Sign in", Nav: "login", Error: msg, Data: loginData{Next: safeNext(next), Token: tok}})
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	c, err := r.Cookie(loginCookie)
	form := r.PostFormValue("login_csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
		d.showLogin(w, r, http.StatusForbidden, "The sign-in form expired; please try again.")
		return
	}
	if param, bad := api.QueryNotUTF8(r.PostForm); bad { // the form is parsed: login_csrf was read
		d.showLogin(w, r, http.StatusBadRequest, fmt.Sprintf("The form's %q is not valid UTF-8.", param))
		return
	}
	secret := strings.TrimSpace(r.PostFormValue("token"))
	if secret == "" {
		d.showLogin(w, r, http.StatusBadRequest, "Paste an API token to sign in.")
		return
	}
	p, err := d.eng.Authenticate(r.Context(), secret)
	if errors.Is(err, engine.ErrUnauthenticated) {
		d.log.Info("dashboard sign-in refused", "remote", r.RemoteAddr)
		d.showLogin(w, r, http.StatusUnauthorized, "That token is not valid: it is unknown or was revoked. Check it and try again.")
		return
	}
	if err != nil {
		d.log.Error("dashboard sign-in", "err", err)
		d.showLogin(w, r, http.StatusServiceUnavailable, "Herald cannot check tokens right now; try again shortly.")
		return
	}
	id := randomToken()
	now := time.Now().UTC().Truncate(time.Millisecond)
	err = d.st.SessionCreate(r.Context(), store.Session{
		Hash: hashID(id), TenantID: p.TenantID, TokenID: p.TokenID, CSRF: randomToken(), CreatedAt: now, ExpiresAt: now.Add(d.cfg.SessionTTL),
	})
	if err != nil {
		d.log.Error("creating dashboard session", "err", err)
		d.showLogin(w, r, http.StatusServiceUnavailable, "Herald cannot store the session right now; try again shortly.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: int(d.cfg.SessionTTL / time.Second)})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true, Secure: secure(r)})
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	if err := d.st.SessionDelete(r.Context(), s.Hash); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login?flash="+urlQueryEscape("Signed out."), http.StatusSeeOther)
	return nil
}

// SignIn signs client in to the dashboard at baseURL with an API token, as a browser
// would (it fetches the sign-in form, then posts it); the session cookie lands in the
// client's cookie jar, which SignIn creates when the client has none. Benchmarks and
// tests use it to load pages as a signed-in user.
func SignIn(ctx context.Context, client *http.Client, baseURL, token string) error {
	if client.Jar == nil {
		jar, err := cookiejar.New(nil)
		if err != nil {
			return err
		}
		client.Jar = jar
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/login", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("loading the sign-in form: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	const marker = `name="login_csrf" value="`
	i := strings.Index(string(body), marker)
	if i < 0 {
		return fmt.Errorf("the sign-in form has no login_csrf field (status %d)", resp.StatusCode)
	}
	rest := string(body[i+len(marker):])
	tok := rest[:strings.IndexByte(rest, '"')]
	form := url.Values{"login_csrf": {tok}, "token": {token}, "next": {"/events"}}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = client.Do(req)
	if err != nil {
		return fmt.Errorf("signing in: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	u, _ := url.Parse(baseURL)
	for _, c := range client.Jar.Cookies(u) {
		if c.Name == SessionCookie && c.Value != "" {
			return nil
		}
	}
	return fmt.Errorf("signing in: no session (status %d)", resp.StatusCode)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
