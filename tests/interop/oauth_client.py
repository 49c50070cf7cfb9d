"""Authlib's OAuth2 client fetching tokens from keymint by client_credentials,
with client_secret_basic and client_secret_post, and failing properly with a
wrong secret. Prints one JSON object; run by tests/api/interop_clients.rs.

usage: oauth_client.py BASE_URL CLIENT_ID SECRET
"""

import json
import sys

from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError


def fetch(base, client_id, secret, method, scope=None):
    session = OAuth2Session(client_id, secret, token_endpoint_auth_method=method, scope=scope)
    return session.fetch_token(f"{base}/auth/token", grant_type="client_credentials")


def main():
    base, client_id, secret = sys.argv[1:4]
    basic = fetch(base, client_id, secret, "client_secret_basic", scope="orders:read")
    post = fetch(base, client_id, secret, "client_secret_post")
    try:
        fetch(base, client_id, secret[:-1] + ("A" if secret[-1] != "A" else "B"), "client_secret_basic")
        wrong = None
    except OAuthError as error:
        wrong = error.error
    print(json.dumps({
        "basic": {k: basic.get(k) for k in ("token_type", "expires_in", "scope", "access_token")},
        "post": {k: post.get(k) for k in ("token_type", "expires_in", "scope", "access_token")},
        "wrong_secret_error": wrong,
    }))


if __name__ == "__main__":
    main()
