// Package testprovider runs a real OpenID provider for interoperability
// tests: oidc-provider 9.x, the Node.js engine inside Logto, started from
// node/provider.mjs on 127.0.0.1 by the test that needs it.
//
// Tests run the provider only when the environment variable
// LATCH_TEST_OIDC_PROVIDER is set to 1, because they need Node.js and the
// packages that `npm ci --prefix internal/testprovider/node` installs.
// Without it, [Start] skips the test with a message on how to enable it.
//
// The provider registers one confidential client (authorization_code and
// refresh_token grants, PKCE with S256 required) and a few accounts with
// profile, email and phone claims. Its login, consent and sign-out pages are
// plain HTML forms owned by provider.mjs, which [Provider.SignIn],
// [Provider.Deny] and [Provider.SignOut] fill in the way a person with a
// browser would.
//
// Behaviour of oidc-provider 9.x that a relying party meets here:
//
//   - The authorization response carries iss (RFC 9207), on success and on
//     error, and discovery advertises it with
//     authorization_response_iss_parameter_supported.
//   - By default the ID token from the code flow carries sub and protocol
//     claims only. Profile, email and phone claims come from the userinfo
//     endpoint. [Options.IDTokenClaims] puts them in the ID token as well,
//     as Logto does.
//   - offline_access is dropped unless the request also carries
//     prompt=consent. The provider therefore issues refresh tokens without
//     offline_access unless [Options.OfflineAccessRequired] is set.
//   - A refresh response carries a new ID token.
//   - Reusing a rotated refresh token fails with invalid_grant and revokes
//     the whole grant, so the newest refresh token stops working too.
//   - The token endpoint accepts client_secret_basic and
//     client_secret_post alike.
//   - Ending the session needs id_token_hint or client_id, or the provider
//     ignores post_logout_redirect_uri. With a live session it shows a
//     confirmation form, and a POST of that form redirects to the
//     post_logout_redirect_uri with state.
//   - Signing out revokes the grant of tokens issued without
//     offline_access, so their refresh tokens stop working.
//   - Cookies ignore ports, so a relying party on another port of
//     127.0.0.1 shares the client's cookie jar with the provider. The
//     provider's cookies are named op_session, op_interaction and
//     op_interaction_resume (with .sig companions) to stay clear of the
//     relying party's.
package testprovider
