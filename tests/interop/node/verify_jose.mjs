// panva/jose verifying a keymint token from the remote JWKS alone
// (createRemoteJWKSet + jwtVerify), and refusing a tampered one.
// Prints one JSON object; run by tests/api/interop_clients.rs.
// usage: node verify_jose.mjs BASE_URL TOKEN
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [base, token] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));
const options = { issuer: base, audience: base, typ: 'at+jwt', algorithms: ['ES256', 'EdDSA', 'RS256'] };

const { payload, protectedHeader } = await jwtVerify(token, jwks, options);

const [header, body, signature] = token.split('.');
const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
claims.scope = 'everything';
const tampered = [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
let tamperedError = null;
try {
  await jwtVerify(tampered, jwks, options);
} catch (error) {
  tamperedError = error.code;
}
console.log(JSON.stringify({ payload, header: protectedHeader, tamperedError }));
