#!/usr/bin/env python3
"""Writes the seed inputs of each fuzz target into fuzz/corpus/<target>/.
Usage: python3 fuzz/seeds.py SECRET TOKEN EC_PEM ED25519_PEM
SECRET is a real kmk_ secret and TOKEN a token it was exchanged for (from
any keymint); the PEMs are test keys made for the purpose (openssl genpkey).
The fuzzers grow the corpora from these; both are committed."""
import base64, hashlib, json, os, sys

secret, token, ec_pem, ed_pem = sys.argv[1:5]
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def write(target, data):
    folder = os.path.join(root, target)
    os.makedirs(folder, exist_ok=True)
    data = data if isinstance(data, bytes) else data.encode()
    with open(os.path.join(folder, "seed-" + hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)

SEP = b"\xff"
# secret
for text in [secret, secret[:-1] + ("A" if secret[-1] != "A" else "B"), "kmp_" + secret[4:], secret[:10], ""]:
    write("secret", text)
# token_request: content-type selector, Authorization, X-API-Key, body
forms = [
    (0, "", "", json.dumps({"secret": secret})),
    (0, f"Bearer {secret}", "", json.dumps({"scope": "keys:read", "audience": "https://api.example.com", "expires_in": 300})),
    (0, f"Bearer {secret}", "", json.dumps({"secret": secret, "email": "a@example.com"})),
    (1, "", "", f"grant_type=client_credentials&client_secret={secret}&scope=keys%3Aread"),
    (1, "Basic " + base64.b64encode(f"id:{secret}".encode()).decode(), "", "grant_type=client_credentials"),
    (1, "", "", f"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token={secret}"
                "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&audience=https%3A%2F%2Fapi.example.com"),
    (2, f"Bearer {secret}", "", ""),
    (2, "", secret, ""),
    (3, f"Bearer {secret}", "", "hello"),
]
for selector, authorization, api_key, body in forms:
    write("token_request", bytes([selector]) + authorization.encode() + SEP + api_key.encode() + SEP + body.encode())
# api_body: selector, JSON
bodies = [
    {"name": "CI", "kind": "partner", "partner": "zapier", "scopes": ["orders:read"], "expires_in_days": 90,
     "rate_limit": 50, "allowed_cidrs": ["10.0.0.0/8", "192.0.2.7"], "remaining": 5, "environment": "staging"},
    {"name": "x", "scopes": ["a"], "rate_limit": None},
    {"grace_period_seconds": 3600},
    {"name": "laptop", "workspace": "default", "expires_at": "2030-01-31T00:00:00Z", "scopes": ["keys:read"]},
    {"name": "prod", "expires_in_days": 365},
    {"email": "a@example.com", "role": "admin"},
    {"role": "viewer"},
    {"slug": "acme", "name": "Acme"},
    {"name": "n", "plan": "pro", "portal_origins": ["https://app.example.com"]},
    {"name": "staging"},
    {"external_id": "cus_1", "ttl_seconds": 600},
]
for selector, body in enumerate(bodies):
    write("api_body", bytes([selector]) + json.dumps(body).encode())
# own_token: 0 + a compact token; odd selectors: claims signed as access (1), login (3), portal (5)
write("own_token", b"\x00" + token.encode())
issuer = "https://keymint.fuzz"
registered = {"iss": issuer, "sub": "k", "aud": issuer, "exp": 4102444800, "iat": 1764000000, "nbf": 1764000000, "jti": "j"}
write("own_token", b"\x01" + json.dumps({**registered, "client_id": "k", "scope": "keys:read", "ws": "w", "kind": "workspace"}).encode())
write("own_token", b"\x03" + json.dumps({**registered, "email": "a@example.com"}).encode())
write("own_token", b"\x05" + json.dumps({**registered, "ws": "w"}).encode())
# pem_import
fixtures = os.path.join(os.path.dirname(root), "..", "tests", "fixtures")
for name in ["rsa-2048-test-only.pkcs8.pem", "rsa-2048-test-only.pkcs1.pem"]:
    write("pem_import", open(os.path.join(fixtures, name), "rb").read())
write("pem_import", open(ec_pem, "rb").read())
write("pem_import", open(ed_pem, "rb").read())
write("pem_import", b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
