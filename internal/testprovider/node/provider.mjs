// provider.mjs runs an oidc-provider 9.x OpenID provider on 127.0.0.1 for
// latch's interoperability tests.
//
// Usage:
//
//	LATCH_OP_CONFIG='{"client": {...}}' node provider.mjs [--port N]
//	node provider.mjs --config config.json [--port N]
//
// The port comes from --port, else from the LATCH_OP_PORT environment
// variable, else from the "port" configuration field. Zero, the default,
// picks a free port. The issuer is built from the port actually bound.
//
// When the provider accepts connections it prints one line to stdout:
//
//	READY http://127.0.0.1:PORT
//
// Nothing else is written to stdout. Logs and oidc-provider's warnings go to
// stderr. The process exits on SIGTERM, on SIGINT, and when its standard
// input reaches end of file, so a test process that dies closes the pipe and
// takes the provider with it. To run it by hand in the background, keep
// stdin open: `sleep infinity | node provider.mjs ...`.
//
// Configuration (JSON, all durations in seconds):
//
//	{
//	  "port": 0,
//	  "tls": {"cert_file": "leaf.pem", "key_file": "leaf-key.pem"},
//	  "client": {
//	    "client_id": "rp", "client_secret": "...",
//	    "redirect_uris": ["http://127.0.0.1:8080/callback"],
//	    "post_logout_redirect_uris": ["http://127.0.0.1:8080/"],
//	    "token_endpoint_auth_method": "client_secret_basic"
//	  },
//	  "ttl": {"access_token": 60, "id_token": 60, "refresh_token": 600,
//	          "session": 600},
//	  "accounts": [{"sub": "...", "login": "alice", "password": "...",
//	                "claims": {"name": "...", "email": "...", ...}}],
//	  "consent": "form",
//	  "refresh_token_rotation": "every_use",
//	  "offline_access_required": false,
//	  "id_token_claims": false,
//	  "clock_tolerance": 0
//	}
//
// Only "client" (with client_id, client_secret and redirect_uris) and
// "accounts" are required. Without "tls" the provider serves plain http.
// The ttl fields default to 600, 600, 3600 and 3600 seconds. "consent" is
// "form" (a one-button page) or "auto" (granted without a page).
// "refresh_token_rotation" is "every_use", "never" or
// "oidc_provider_default". Claims an account may have: name, picture,
// email, email_verified, phone_number, phone_number_verified.

import { readFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const configEnv = 'LATCH_OP_CONFIG';
const portEnv = 'LATCH_OP_PORT';

// Maximum size of a form body posted to the interaction pages.
const maxFormBytes = 16 * 1024;

function fail(message) {
  console.error(`provider.mjs: ${message}`);
  process.exit(2);
}

function loadConfig() {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      port: { type: 'string' },
    },
  });

  let text;
  if (values.config) {
    try {
      text = readFileSync(values.config, 'utf8');
    } catch (err) {
      fail(`read config file ${values.config}: ${err.message}`);
    }
  } else if (process.env[configEnv]) {
    text = process.env[configEnv];
  } else {
    fail(`missing configuration: pass --config FILE or set ${configEnv} to a JSON object`);
  }

  let config;
  try {
    config = JSON.parse(text);
  } catch (err) {
    fail(`invalid configuration JSON: ${err.message}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    fail('invalid configuration: expected a JSON object');
  }

  const portText = values.port ?? process.env[portEnv] ?? String(config.port ?? 0);
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fail(`invalid port ${JSON.stringify(portText)}: expected an integer from 0 to 65535`);
  }
  config.port = port;
  return config;
}

function requireString(value, name) {
  if (typeof value !== 'string' || value === '') {
    fail(`invalid configuration: ${name} must be a non-empty string`);
  }
  return value;
}

function requireStringList(value, name) {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) {
    fail(`invalid configuration: ${name} must be a list of non-empty strings`);
  }
  return value;
}

function seconds(ttl, name, fallback) {
  const value = ttl?.[name];
  if (value === undefined || value === 0) {
    return fallback;
  }
  if (!Number.isInteger(value) || value < 0) {
    fail(`invalid configuration: ttl.${name} must be a positive integer number of seconds`);
  }
  return value;
}

function clockTolerance(value) {
  if (value === undefined) {
    return 0;
  }
  if (!Number.isInteger(value) || value < 0) {
    fail('invalid configuration: clock_tolerance must be a non-negative integer number of seconds');
  }
  return value;
}

function checkClient(client) {
  if (client === null || typeof client !== 'object') {
    fail('invalid configuration: missing "client"');
  }
  const method = client.token_endpoint_auth_method ?? 'client_secret_basic';
  if (method !== 'client_secret_basic' && method !== 'client_secret_post') {
    fail(`invalid configuration: client.token_endpoint_auth_method ${JSON.stringify(method)}: expected client_secret_basic or client_secret_post`);
  }
  return {
    client_id: requireString(client.client_id, 'client.client_id'),
    client_secret: requireString(client.client_secret, 'client.client_secret'),
    redirect_uris: requireStringList(client.redirect_uris, 'client.redirect_uris'),
    post_logout_redirect_uris: requireStringList(
      client.post_logout_redirect_uris ?? [],
      'client.post_logout_redirect_uris',
    ),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: method,
  };
}

// Claims each scope releases. Only claims listed here reach a relying party,
// from the userinfo endpoint always, and from the ID token too when
// conformIdTokenClaims is off (see "id_token_claims").
const scopeClaims = {
  profile: ['name', 'picture'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
};

function checkAccounts(accounts) {
  if (!Array.isArray(accounts) || accounts.length === 0) {
    fail('invalid configuration: "accounts" must be a non-empty list');
  }
  const bySubject = new Map();
  const byLogin = new Map();
  const known = new Set(Object.values(scopeClaims).flat());
  accounts.forEach((account, i) => {
    const sub = requireString(account?.sub, `accounts[${i}].sub`);
    const login = requireString(account.login, `accounts[${i}].login`);
    requireString(account.password, `accounts[${i}].password`);
    const claims = account.claims ?? {};
    for (const name of Object.keys(claims)) {
      if (!known.has(name)) {
        fail(`invalid configuration: accounts[${i}].claims.${name} is not a supported claim (supported: ${[...known].join(', ')})`);
      }
    }
    if (bySubject.has(sub) || byLogin.has(login)) {
      fail(`invalid configuration: accounts[${i}] repeats sub ${JSON.stringify(sub)} or login ${JSON.stringify(login)}`);
    }
    const entry = { sub, login, password: account.password, claims };
    bySubject.set(sub, entry);
    byLogin.set(login, entry);
  });
  return { bySubject, byLogin };
}

function sameSecret(a, b) {
  // Comparing digests keeps the comparison constant-time whatever the lengths.
  const digest = (s) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

// Decides when a refresh token is exchanged for a new one.
function rotationPolicy(name) {
  switch (name ?? 'every_use') {
    case 'every_use':
      return () => true;
    case 'never':
      return () => false;
    case 'oidc_provider_default':
      // oidc-provider's own default policy (9.x), which Logto keeps: a token
      // whose total lifetime reached one year stays, a public client's
      // token without sender constraint rotates on every use, and any other
      // token rotates once 70% of its lifetime has passed.
      return (ctx) => {
        const { RefreshToken: token, Client: client } = ctx.oidc.entities;
        if (token.totalLifetime() >= 365.25 * 24 * 60 * 60) {
          return false;
        }
        if (client.clientAuthMethod === 'none' && !token.isSenderConstrained()) {
          return true;
        }
        return token.ttlPercentagePassed() >= 70;
      };
    default:
      return fail(`invalid configuration: refresh_token_rotation ${JSON.stringify(name)}: expected every_use, never or oidc_provider_default`);
  }
}

function htmlEscape(value) {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

// The pages below are the provider's whole user interface. browser.go and
// html.go parse their form ids, field names and element ids, so changing
// them breaks the Go helpers.
function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${htmlEscape(title)}</title></head>
<body>
<h1>${htmlEscape(title)}</h1>
${body}
</body>
</html>
`;
}

function loginPage(uid, clientId, message) {
  const error = message ? `<p id="error">${htmlEscape(message)}</p>\n` : '';
  return page('Sign in', `<p>Client: <span id="client_id">${htmlEscape(clientId)}</span></p>
${error}<form id="login" method="post" action="/interaction/${uid}/login">
<label>Login <input name="login" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
<form id="abort" method="post" action="/interaction/${uid}/abort">
<button type="submit">Cancel</button>
</form>`);
}

function consentPage(uid, clientId, scopes, claims) {
  return page('Authorize', `<p>Client <span id="client_id">${htmlEscape(clientId)}</span> requests
scopes <span id="scopes">${htmlEscape(scopes.join(' '))}</span> and
claims <span id="claims">${htmlEscape(claims.join(' '))}</span>.</p>
<form id="consent" method="post" action="/interaction/${uid}/confirm">
<button type="submit">Allow</button>
</form>
<form id="abort" method="post" action="/interaction/${uid}/abort">
<button type="submit">Deny</button>
</form>`);
}

async function readForm(req) {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) {
    throw new errors.InvalidRequest('interaction forms must be application/x-www-form-urlencoded');
  }
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > maxFormBytes) {
      throw new errors.InvalidRequest(`form body larger than ${maxFormBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// Grants everything the authorization request asked for and is still
// missing: OpenID scopes and claims and resource server scopes.
async function grantRequested(provider, details) {
  const { grantId, session, params, prompt } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });

  const missing = prompt.details;
  if (missing.missingOIDCScope) {
    grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  }
  if (missing.missingOIDCClaims) {
    grant.addOIDCClaims(missing.missingOIDCClaims);
  }
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

function interactionRoutes(provider, accounts, autoConsent) {
  const pattern = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;

  const finish = async (ctx, result, merge) => {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
      mergeWithLastSubmission: merge,
    });
    ctx.status = 303;
    ctx.redirect(returnTo);
  };

  return async function interactions(ctx, next) {
    const match = pattern.exec(ctx.path);
    if (!match) {
      return next();
    }
    const [, uid, action] = match;
    ctx.set('cache-control', 'no-store');

    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid) {
      throw new errors.InvalidRequest('interaction id does not match the interaction cookie');
    }
    const { prompt, params } = details;

    if (ctx.method === 'GET' && action === undefined) {
      if (prompt.name === 'login') {
        ctx.type = 'html';
        ctx.body = loginPage(uid, params.client_id);
        return undefined;
      }
      if (prompt.name === 'consent') {
        if (autoConsent) {
          const grantId = await grantRequested(provider, details);
          return finish(ctx, { consent: { grantId } }, true);
        }
        ctx.type = 'html';
        ctx.body = consentPage(
          uid,
          params.client_id,
          prompt.details.missingOIDCScope ?? [],
          prompt.details.missingOIDCClaims ?? [],
        );
        return undefined;
      }
      throw new errors.InvalidRequest(`unsupported prompt ${prompt.name}`);
    }

    if (ctx.method !== 'POST' || action === undefined) {
      ctx.status = 405;
      ctx.body = 'method not allowed';
      return undefined;
    }

    if (action === 'abort') {
      await readForm(ctx.req);
      return finish(ctx, {
        error: 'access_denied',
        error_description: 'end-user cancelled the interaction',
      }, false);
    }

    if (action === 'login') {
      if (prompt.name !== 'login') {
        throw new errors.InvalidRequest(`login posted during prompt ${prompt.name}`);
      }
      const form = await readForm(ctx.req);
      const account = accounts.byLogin.get(form.get('login') ?? '');
      if (!account || !sameSecret(form.get('password') ?? '', account.password)) {
        ctx.status = 401;
        ctx.type = 'html';
        ctx.body = loginPage(uid, params.client_id, 'invalid login or password');
        return undefined;
      }
      // A fresh login replaces whatever an earlier submission stored, so
      // merging is off.
      return finish(ctx, { login: { accountId: account.sub } }, false);
    }

    // action === 'confirm'
    if (prompt.name !== 'consent') {
      throw new errors.InvalidRequest(`consent posted during prompt ${prompt.name}`);
    }
    await readForm(ctx.req);
    const grantId = await grantRequested(provider, details);
    return finish(ctx, { consent: { grantId } }, true);
  };
}

async function logoutSource(ctx, form) {
  // form is oidc-provider's <form id="op.logoutForm"> with its xsrf input.
  // The submit button posts logout=yes, which ends the whole provider
  // session rather than only this client's part of it.
  ctx.body = page('Sign out', `${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.body = page('Signed out', '<p id="signed_out">You are signed out.</p>');
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('Error', `<p id="error">${htmlEscape(out.error)}</p>
<p id="error_description">${htmlEscape(out.error_description ?? '')}</p>`);
}

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

function providerConfiguration(config, accounts) {
  const ttl = config.ttl ?? {};
  const accessTokenTTL = seconds(ttl, 'access_token', 600);
  const idTokenTTL = seconds(ttl, 'id_token', 600);
  const refreshTokenTTL = seconds(ttl, 'refresh_token', 3600);
  const sessionTTL = seconds(ttl, 'session', 3600);
  const offlineAccessRequired = config.offline_access_required === true;

  if (config.consent !== undefined && config.consent !== 'form' && config.consent !== 'auto') {
    fail(`invalid configuration: consent ${JSON.stringify(config.consent)}: expected form or auto`);
  }

  return {
    clients: [checkClient(config.client)],
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    scopes: ['openid', 'offline_access'],
    // Each scope's claims; oidc-provider adds the scopes to
    // scopes_supported and merges this with its defaults (sub, acr, ...).
    claims: { openid: ['sub'], ...scopeClaims },
    // With the default (true) a code flow ID token carries sub and the
    // protocol claims only, and scope claims come from userinfo. Logto sets
    // it to false so the ID token carries them too.
    conformIdTokenClaims: config.id_token_claims !== true,
    // A relying party must send redirect_uri even with a single registered
    // one, as the OpenID Connect Core text requires.
    allowOmittingSingleRegisteredRedirectUri: false,
    pkce: { required: () => true },
    // Seconds an expired token stays usable. oidc-provider's default is 15.
    clockTolerance: clockTolerance(config.clock_tolerance),
    jwks: { keys: [signingKey()] },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      // The names differ from oidc-provider's defaults (_session, ...)
      // because cookies ignore ports: a relying party on another port of
      // 127.0.0.1 shares the browser's cookies with the provider.
      names: {
        session: 'op_session',
        interaction: 'op_interaction',
        resume: 'op_interaction_resume',
      },
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
    // oidc-provider drops offline_access from a request unless its prompt
    // includes consent, so by default the client gets a refresh token
    // whether or not offline_access was granted, like Logto's "always issue
    // refresh token" client setting.
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
      && (!offlineAccessRequired || code.scopes.has('offline_access')),
    rotateRefreshToken: rotationPolicy(config.refresh_token_rotation),
    ttl: {
      AccessToken: accessTokenTTL,
      AuthorizationCode: 60,
      IdToken: idTokenTTL,
      RefreshToken: refreshTokenTTL,
      Session: sessionTTL,
      Interaction: 600,
      // A refresh token stops working when its grant expires, so the grant
      // outlives both the refresh token and the session.
      Grant: Math.max(refreshTokenTTL, sessionTTL),
    },
    async findAccount(_ctx, sub) {
      const account = accounts.bySubject.get(sub);
      if (!account) {
        return undefined;
      }
      return {
        accountId: sub,
        // oidc-provider filters this set down to the claims that the
        // granted scopes release (scopeClaims).
        async claims() {
          return { sub, ...account.claims };
        },
      };
    },
    renderError,
  };
}

function logEvents(provider) {
  const events = [
    'server_error',
    'authorization.error',
    'grant.error',
    'end_session.error',
    'userinfo.error',
    'revocation.error',
    'jwks.error',
    'discovery.error',
    'check_session_origin.error',
  ];
  for (const name of events) {
    provider.on(name, (...args) => {
      const err = args.find((a) => a instanceof Error);
      const detail = err ? `${err.name}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}` : '';
      console.error(`provider.mjs: ${name}: ${detail}`);
    });
  }
}

async function main() {
  const config = loadConfig();
  const accounts = checkAccounts(config.accounts);

  let server;
  let scheme = 'http';
  let handler = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const dispatch = (req, res) => handler(req, res);
  if (config.tls) {
    const certFile = requireString(config.tls.cert_file, 'tls.cert_file');
    const keyFile = requireString(config.tls.key_file, 'tls.key_file');
    let cert;
    let key;
    try {
      cert = readFileSync(certFile);
      key = readFileSync(keyFile);
    } catch (err) {
      fail(`read TLS files: ${err.message}`);
    }
    server = https.createServer({ cert, key }, dispatch);
    scheme = 'https';
  } else {
    server = http.createServer(dispatch);
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, '127.0.0.1', resolve);
  });
  const issuer = `${scheme}://127.0.0.1:${server.address().port}`;

  const configuration = providerConfiguration(config, accounts);
  const provider = new Provider(issuer, configuration);
  // oidc-provider validates static clients on first use. Loading the client
  // here turns invalid metadata into a start failure.
  const { client_id: clientId } = configuration.clients[0];
  try {
    await provider.Client.find(clientId);
  } catch (err) {
    fail(`invalid client metadata: ${err.error_description ?? err.message}`);
  }
  logEvents(provider);
  provider.use(interactionRoutes(provider, accounts, config.consent === 'auto'));
  handler = provider.callback();

  let stopping = false;
  const stop = (reason) => {
    if (stopping) {
      return;
    }
    stopping = true;
    console.error(`provider.mjs: stopping (${reason})`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
    // Connections that refuse to close do not keep the process alive.
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (!process.stdin.isTTY) {
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.on('error', () => stop('stdin error'));
    process.stdin.resume();
  }

  process.stdout.write(`READY ${issuer}\n`);
}

main().catch((err) => {
  console.error(`provider.mjs: ${err.stack ?? err}`);
  process.exit(1);
});
