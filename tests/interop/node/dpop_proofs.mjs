// Proofs made by panva/dpop (not oauth4webapi) with RSA-PSS, RSA and Ed25519
// keys: a JSON-form exchange, then GET /api/v1/me with the bound token.
// Prints one JSON object per algorithm; run by tests/api/interop_clients.rs.
// usage: node dpop_proofs.mjs ISSUER SECRET
import { generateKeyPair, generateProof } from 'dpop';
import { calculateJwkThumbprint, exportJWK } from 'jose';

const [issuer, secret] = process.argv.slice(2);
const results = {};
// Ed25519: the dpop library's name for its key (it signs with alg Ed25519).
for (const alg of ['PS256', 'RS256', 'Ed25519']) {
  const keyPair = await generateKeyPair(alg);
  const tokenUrl = `${issuer}/auth/token`;
  const exchanged = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', dpop: await generateProof(keyPair, tokenUrl, 'POST') },
    body: JSON.stringify({ secret }),
  });
  const body = await exchanged.json();
  const result = { status: exchanged.status, token_type: body.token_type };
  if (exchanged.status === 200) {
    const meUrl = `${issuer}/api/v1/me`;
    const me = await fetch(meUrl, {
      headers: {
        authorization: `DPoP ${body.access_token}`,
        dpop: await generateProof(keyPair, meUrl, 'GET', undefined, body.access_token),
      },
    });
    result.me = me.status;
    result.cnf = JSON.parse(Buffer.from(body.access_token.split('.')[1], 'base64url').toString()).cnf;
    result.thumbprint = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
  } else {
    result.error = body;
  }
  results[alg] = result;
}
console.log(JSON.stringify(results));
