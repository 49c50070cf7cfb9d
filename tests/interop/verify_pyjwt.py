"""Verify keymint tokens with PyJWT, as a downstream Python service would.

Run by tests/api/interop.rs with the interpreter in KEYMINT_TEST_PYTHON.
Reads JSON on stdin:
    {"jwks_uri": ..., "issuer": ..., "audience": ...,
     "tokens": [{"token": ..., "expect": "valid" | "invalid"}, ...]}
Prints one JSON list of results and exits 0 only if every token met its
expectation.
"""

import json
import sys

import jwt  # pip install "pyjwt[crypto]"


def main() -> int:
    request = json.load(sys.stdin)
    keys = jwt.PyJWKClient(request["jwks_uri"], cache_keys=False)
    results = []
    for case in request["tokens"]:
        token = case["token"]
        header = jwt.get_unverified_header(token)
        result = {"alg": header.get("alg"), "kid": header.get("kid"), "expect": case["expect"]}
        try:
            key = keys.get_signing_key_from_jwt(token)
            # The algorithm comes from the published key, never the token.
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=request["audience"],
                issuer=request["issuer"],
                options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub"]},
            )
            result.update(valid=True, sub=claims["sub"], jwk_alg=key.algorithm_name)
        except jwt.PyJWTError as error:
            result.update(valid=False, error=f"{type(error).__name__}: {error}")
        result["met"] = result["valid"] == (case["expect"] == "valid")
        results.append(result)
    print(json.dumps(results))
    return 0 if all(r["met"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
