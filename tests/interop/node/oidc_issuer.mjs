// A real OIDC server keymint does not run, for the federation tests:
// panva/oidc-provider 9.13.3 (OpenID-certified) issuing ES256 JWT access
// tokens by client_credentials, as ../shared/peers/oidc-provider does.
// Usage: node oidc_issuer.mjs PORT AUDIENCE; prints one line "ready" once
// it listens on 127.0.0.1:PORT. The client is `workload` / `workload-secret`.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, audience] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'workload-es256', use: 'sig', alg: 'ES256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'workload',
    client_secret: 'workload-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'deploy',
  }],
  jwks: { keys: [jwk] },
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  cookies: { keys: ['federation-test-cookie-key'] },
  scopes: ['deploy'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'deploy',
        audience,
        accessTokenTTL: 300,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));
