// A real OpenID Provider for Steward's SSO tests: the certified `oidc-provider`, on localhost.
//
// Configured by one JSON file (argv[2]) that the tests write: port, issuer, the signing key (a
// private JWK the tests also hold, so they can sign tokens the provider would never issue), the
// client, and `accounts_file`, re-read at every sign-in so a test can change a person's claims
// between two sign-ins. People sign in on the provider's development login form (any password).
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = () => JSON.parse(readFileSync(config.accounts_file, 'utf8'));

const provider = new Provider(config.issuer, {
  clients: [config.client],
  jwks: { keys: [config.signing_key] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'zoneinfo', 'locale'],
    groups: ['groups'],
  },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  pkce: { required: () => false },
  // No consent screen: the company's provider has already agreed Steward may have the claims.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      accountId: ctx.oidc.session.accountId,
      clientId: ctx.oidc.client.clientId,
    });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  async findAccount(ctx, id) {
    const claims = accounts()[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  cookies: { keys: ['steward-test-op-cookie-key'] },
});
provider.proxy = false;

// Steward under test listens on a port chosen when the tests start (the live server), so the
// registered redirect URIs are patterns: any port on a loopback host, the exact path. (RFC 8252
// §7.3 asks the same of loopback redirects.)
const loopback = (uri, paths) => {
  try {
    const url = new URL(uri);
    return ['localhost', '127.0.0.1', 'testserver'].includes(url.hostname)
      && url.protocol === 'http:' && paths.includes(url.pathname) && !url.hash;
  } catch {
    return false;
  }
};
provider.Client.prototype.redirectUriAllowed = function allowed(uri) {
  return loopback(uri, config.callback_paths);
};
provider.Client.prototype.postLogoutRedirectUriAllowed = function allowed(uri) {
  return loopback(uri, config.post_logout_paths);
};

const server = provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${config.issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
