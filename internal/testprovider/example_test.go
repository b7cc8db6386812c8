package testprovider_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/latchkit/latch/internal/testprovider"
)

func ExampleAvailable() {
	saved, wasSet := os.LookupEnv(testprovider.EnableEnv)

	os.Setenv(testprovider.EnableEnv, "")
	_, ok := testprovider.Available()
	fmt.Println(ok)

	os.Setenv(testprovider.EnableEnv, "1")
	_, ok = testprovider.Available()
	fmt.Println(ok)

	if wasSet {
		os.Setenv(testprovider.EnableEnv, saved)
	} else {
		os.Unsetenv(testprovider.EnableEnv)
	}
	// Output:
	// false
	// true
}

// This example is a test of a relying party that signs in and out through
// the provider. It is compiled but not run, because it needs a *testing.T.
func ExampleStart() {
	testSignIn := func(t *testing.T, relyingParty http.Handler) {
		rp := httptest.NewServer(relyingParty)
		defer rp.Close()

		op := testprovider.Start(t, testprovider.Options{
			RedirectURIs:           []string{rp.URL + "/callback"},
			PostLogoutRedirectURIs: []string{rp.URL + "/"},
			AccessTokenTTL:         30 * time.Second,
			TLS:                    true,
		})
		// Configure the relying party with op.Issuer(), op.ClientID() and
		// op.ClientSecret(), and give it a client that trusts
		// op.CertPool().

		browser := op.HTTPClient()
		result, err := op.SignIn(browser, rp.URL+"/login", testprovider.Alice.Login)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("callback %s returned %s", result.ReturnURL, result.Response.Status)

		if _, err := op.SignOut(browser, rp.URL+"/logout"); err != nil {
			t.Fatal(err)
		}
	}
	_ = testSignIn
}

// This example replays an authorization response. It is compiled but not
// run, because it needs a *testing.T.
func ExampleProvider_SignInUntilReturn() {
	testReplay := func(t *testing.T, op *testprovider.Provider, rpURL string) {
		browser := op.HTTPClient()
		callback, err := op.SignInUntilReturn(browser, rpURL+"/login", "alice")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			resp, err := browser.Get(callback.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			t.Logf("callback returned %s", resp.Status)
		}
	}
	_ = testReplay
}

// This example checks how a relying party handles a user who cancels the
// sign-in. It is compiled but not run, because it needs a *testing.T.
func ExampleProvider_Deny() {
	testCancel := func(t *testing.T, op *testprovider.Provider, rpURL string) {
		result, err := op.Deny(op.HTTPClient(), rpURL+"/login")
		if err != nil {
			t.Fatal(err)
		}
		if got := result.ReturnURL.Query().Get("error"); got != "access_denied" {
			t.Errorf("error = %q, want access_denied", got)
		}
	}
	_ = testCancel
}
