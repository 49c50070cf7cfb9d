// panva/oauth4webapi as a DPoP client of keymint: discovery, then a
// client_credentials grant with a DPoP proof (its own ES256 key pair), then
// GET /api/v1/me as a protected resource with the bound token, then the
// same token sent by oauth4webapi without its DPoP handle (as Bearer).
// Prints one JSON object; run by tests/api/interop_clients.rs.
// usage: node dpop_oauth4webapi.mjs ISSUER CLIENT_ID SECRET
import * as oauth from 'oauth4webapi';

const [issuer, clientId, secret] = process.argv.slice(2);
const insecure = { [oauth.allowInsecureRequests]: true }; // loopback http in tests

const discovery = await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure });
const as = await oauth.processDiscoveryResponse(new URL(issuer), discovery);
const client = { client_id: clientId };
const keyPair = await oauth.generateKeyPair('ES256');
const DPoP = oauth.DPoP(client, keyPair);

const grant = await oauth.clientCredentialsGrantRequest(
  as, client, oauth.ClientSecretPost(secret), new URLSearchParams(), { DPoP, ...insecure });
const token = await oauth.processClientCredentialsResponse(as, client, grant);

const me = await oauth.protectedResourceRequest(
  token.access_token, 'GET', new URL(`${issuer}/api/v1/me`), new Headers(), null, { DPoP, ...insecure });
// oauth4webapi throws on a challenge; what it carried is the answer here.
let bearer;
try {
  const answer = await oauth.protectedResourceRequest(
    token.access_token, 'GET', new URL(`${issuer}/api/v1/me`), new Headers(), null, insecure);
  bearer = { status: answer.status, challenge: answer.headers.get('www-authenticate') };
} catch (error) {
  bearer = { status: error.status, challenge: error.response?.headers.get('www-authenticate') };
}

const claims = JSON.parse(Buffer.from(token.access_token.split('.')[1], 'base64url').toString());
console.log(JSON.stringify({
  token_type: token.token_type,
  cnf: claims.cnf,
  dpop_algs: as.dpop_signing_alg_values_supported,
  me: { status: me.status, body: await me.json() },
  bearer,
}));
