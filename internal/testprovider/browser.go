package testprovider

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxSteps bounds the requests of one browser flow, so a redirect loop
// between relying party and provider fails instead of running forever.
const maxSteps = 30

// maxBodyBytes bounds the response bodies that a flow reads.
const maxBodyBytes = 1 << 20

// Form ids of the provider's pages. provider.mjs renders login, consent and
// abort; oidc-provider renders op.logoutForm inside provider.mjs's
// logoutSource.
const (
	formLogin   = "login"
	formConsent = "consent"
	formAbort   = "abort"
	formLogout  = "op.logoutForm"
)

// Result is the outcome of a browser flow through the provider.
type Result struct {
	// ReturnURL is the first URL outside the provider that the flow was
	// sent to after visiting the provider: the redirect URI with code,
	// state and iss (or error) after a sign-in, the
	// post_logout_redirect_uri with state after a sign-out. It is nil when
	// the flow ended on the provider.
	ReturnURL *url.URL

	// Pages lists the ids of the provider forms that the flow submitted,
	// in order: "login", "consent", "abort", "op.logoutForm", or "" for an
	// auto-submitting form such as a form_post response.
	Pages []string

	// Response is the last response, after every redirect was followed.
	// Its Body reads Body and needs no Close.
	Response *http.Response

	// Body is the last response's body, at most 1 MiB.
	Body []byte
}

// SignIn drives a sign-in the way a person with a browser would. It sends
// GET startURL with client, and the relying party responds with a redirect
// to the provider. SignIn then signs in as the account with the given
// login, submits the consent form, and follows the redirects back to the
// relying party and on until a response that is not a redirect.
//
// client needs a cookie jar, as [Provider.HTTPClient] has. When the jar
// already contains a provider session, the provider skips the login form and
// login is not used. SignIn returns an error when the provider rejects the
// login or shows an error page.
func (p *Provider) SignIn(client *http.Client, startURL, login string) (*Result, error) {
	account, ok := p.account(login)
	if !ok {
		return nil, fmt.Errorf("testprovider: no account with login %q", login)
	}
	return p.browse(client, startURL, flow{kind: flowSignIn, login: account.Login, password: account.Password}, false)
}

// SignInUntilReturn is like [Provider.SignIn] but stops before requesting
// the relying party's redirect URI, and returns that URL with its code,
// state and iss. Tests use it to replay or alter the authorization
// response.
func (p *Provider) SignInUntilReturn(client *http.Client, startURL, login string) (*url.URL, error) {
	account, ok := p.account(login)
	if !ok {
		return nil, fmt.Errorf("testprovider: no account with login %q", login)
	}
	r, err := p.browse(client, startURL, flow{kind: flowSignIn, login: account.Login, password: account.Password}, true)
	if err != nil {
		return nil, err
	}
	return r.ReturnURL, nil
}

// Deny starts a sign-in like [Provider.SignIn] but presses Cancel on the
// provider's login or consent page. The provider then redirects to the
// relying party with error=access_denied, state and iss.
func (p *Provider) Deny(client *http.Client, startURL string) (*Result, error) {
	return p.browse(client, startURL, flow{kind: flowDeny}, false)
}

// SignOut follows startURL, a relying party's sign-out URL that redirects
// to the provider's end_session_endpoint, confirms the provider's sign-out
// form, and follows the redirects on to the post_logout_redirect_uri and
// beyond.
func (p *Provider) SignOut(client *http.Client, startURL string) (*Result, error) {
	return p.browse(client, startURL, flow{kind: flowSignOut}, false)
}

func (p *Provider) account(login string) (Account, bool) {
	for _, a := range p.accounts {
		if a.Login == login {
			return a, true
		}
	}
	return Account{}, false
}

type flowKind int

const (
	flowSignIn flowKind = iota
	flowDeny
	flowSignOut
)

type flow struct {
	kind     flowKind
	login    string
	password string
}

// browse requests startURL and follows redirects and provider forms until
// a response outside the provider that is not a redirect, or, with
// stopAtReturn, until the first URL outside the provider after it.
func (p *Provider) browse(client *http.Client, startURL string, f flow, stopAtReturn bool) (*Result, error) {
	if client.Jar == nil {
		return nil, errors.New("testprovider: client has no cookie jar: use Provider.HTTPClient")
	}
	noRedirects := *client
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}

	req, err := http.NewRequest(http.MethodGet, startURL, nil)
	if err != nil {
		return nil, fmt.Errorf("testprovider: invalid start URL %q: %w", startURL, err)
	}

	result := &Result{}
	visitedProvider := false
	loginTried := false
	for step := 0; step < maxSteps; step++ {
		onProvider := p.isProvider(req.URL)
		if onProvider {
			visitedProvider = true
		} else if visitedProvider && result.ReturnURL == nil {
			returnURL := *req.URL
			result.ReturnURL = &returnURL
			if stopAtReturn {
				return result, nil
			}
		}

		resp, body, err := do(&noRedirects, req)
		if err != nil {
			return nil, err
		}

		if isRedirect(resp.StatusCode) {
			next, err := redirectRequest(req, resp)
			if err != nil {
				return nil, err
			}
			req = next
			continue
		}

		if !onProvider {
			if !visitedProvider {
				return nil, fmt.Errorf("testprovider: %s %s returned %s without sending the browser to the provider at %s",
					req.Method, req.URL, resp.Status, p.issuer)
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			result.Response = resp
			result.Body = body
			return result, nil
		}

		page, err := parsePage(body, resp.Request.URL)
		if err != nil {
			return nil, fmt.Errorf("testprovider: parse provider page %s: %w", req.URL, err)
		}
		form, values, err := f.submission(page, resp.StatusCode, &loginTried)
		if err != nil {
			return nil, fmt.Errorf("testprovider: %s %s: %w", req.Method, req.URL, err)
		}
		result.Pages = append(result.Pages, form.id)
		req, err = formRequest(form, values)
		if err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("testprovider: flow from %s took more than %d requests", startURL, maxSteps)
}

// submission picks the form to submit on a provider page and fills it in.
func (f flow) submission(page *htmlPage, status int, loginTried *bool) (*htmlForm, url.Values, error) {
	if login := page.form(formLogin); login != nil {
		if f.kind == flowDeny {
			return f.abort(page)
		}
		if f.kind != flowSignIn {
			return nil, nil, errors.New("provider asked for a login during sign-out")
		}
		if *loginTried {
			return nil, nil, fmt.Errorf("provider rejected login %q (status %d): %s", f.login, status, page.texts["error"])
		}
		*loginTried = true
		values := login.values()
		values.Set("login", f.login)
		values.Set("password", f.password)
		return login, values, nil
	}
	if consent := page.form(formConsent); consent != nil {
		if f.kind == flowDeny {
			return f.abort(page)
		}
		if f.kind != flowSignIn {
			return nil, nil, errors.New("provider asked for consent during sign-out")
		}
		return consent, consent.values(), nil
	}
	if logout := page.form(formLogout); logout != nil {
		if f.kind != flowSignOut {
			return nil, nil, errors.New("provider asked to confirm a sign-out during sign-in")
		}
		values := logout.values()
		// The button outside the form posts logout=yes, which ends the
		// whole provider session.
		values.Set("logout", "yes")
		return logout, values, nil
	}
	if code, ok := page.texts["error"]; ok {
		return nil, nil, &PageError{Status: status, Code: code, Description: page.texts["error_description"]}
	}
	// Pages that a browser submits by script: a form_post authorization
	// response, or oidc-provider's sign-out confirmation when no session is
	// left to ask about.
	if len(page.forms) == 1 && page.forms[0].id == "" && page.forms[0].method == http.MethodPost {
		return page.forms[0], page.forms[0].values(), nil
	}
	return nil, nil, fmt.Errorf("unexpected provider page (status %d, title %q)", status, page.title)
}

func (f flow) abort(page *htmlPage) (*htmlForm, url.Values, error) {
	abort := page.form(formAbort)
	if abort == nil {
		return nil, nil, errors.New("provider page has no cancel form")
	}
	return abort, abort.values(), nil
}

// PageError is an error page that the provider rendered instead of
// redirecting, as it does when it cannot trust the redirect URI (an
// unknown client, an unregistered redirect_uri).
type PageError struct {
	Status      int    // HTTP status code of the page
	Code        string // OAuth error code, such as invalid_request
	Description string // error_description
}

func (e *PageError) Error() string {
	return fmt.Sprintf("provider error page (status %d): %s: %s", e.Status, e.Code, e.Description)
}

// isProvider reports whether u is on the provider's origin.
func (p *Provider) isProvider(u *url.URL) bool {
	return u.Scheme == p.issuerURL.Scheme && u.Host == p.issuerURL.Host
}

func do(client *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("testprovider: %s %s: %w", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("testprovider: read body of %s %s: %w", req.Method, req.URL, err)
	}
	return resp, body, nil
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// redirectRequest builds the request a browser sends for a redirect
// response: 307 and 308 repeat the method and body, the others become GET.
func redirectRequest(req *http.Request, resp *http.Response) (*http.Request, error) {
	location := resp.Header.Get("Location")
	if location == "" {
		return nil, fmt.Errorf("testprovider: %s %s returned %s without Location", req.Method, req.URL, resp.Status)
	}
	target, err := req.URL.Parse(location)
	if err != nil {
		return nil, fmt.Errorf("testprovider: invalid Location %q from %s: %w", location, req.URL, err)
	}
	if resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusPermanentRedirect {
		return http.NewRequest(http.MethodGet, target.String(), nil)
	}
	next, err := http.NewRequest(req.Method, target.String(), nil)
	if err != nil {
		return nil, err
	}
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		next.Body = body
		next.GetBody = req.GetBody
		next.ContentLength = req.ContentLength
		next.Header.Set("Content-Type", req.Header.Get("Content-Type"))
	}
	return next, nil
}

// formRequest builds the request that submitting form with values sends.
func formRequest(form *htmlForm, values url.Values) (*http.Request, error) {
	if form.method == http.MethodGet {
		target := *form.action
		target.RawQuery = values.Encode()
		return http.NewRequest(http.MethodGet, target.String(), nil)
	}
	req, err := http.NewRequest(http.MethodPost, form.action.String(), strings.NewReader(values.Encode()))
	if err != nil {
		return nil, fmt.Errorf("testprovider: form %q: %w", form.id, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}
