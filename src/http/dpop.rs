//! The HTTP side of DPoP (RFC 9449): the `DPoP` header a proof arrives in,
//! the `DPoP-Nonce` header nonces leave in, and the URL a proof must name.

use actix_web::HttpRequest;

use crate::dpop::PresentedProof;
use crate::error::ApiError;
use crate::state::AppState;

/// The request header carrying a proof.
pub const DPOP: &str = "dpop";
/// The response header handing out a server nonce.
pub const DPOP_NONCE: &str = "dpop-nonce";

/// The request's proof, if it has one. More than one `DPoP` header, or one
/// that is not text, is refused (RFC 9449 section 4.3, check 1).
pub fn proof_header(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let values = request
        .headers()
        .get_all(DPOP)
        .map(|value| value.as_bytes());
    crate::dpop::proof::single_header(values)
        .map(|proof| proof.map(str::to_owned))
        .map_err(|why| ApiError::InvalidDpopProof(why.to_owned()))
}

/// The URL a proof of this request must name as `htu`: the path under
/// keymint's public address (its issuer), which is what clients address
/// even behind a proxy; the query is no part of it.
pub fn request_url(state: &AppState, request: &HttpRequest) -> String {
    format!("{}{}", state.issuer.trim_end_matches('/'), request.path())
}

/// A request's credential came as `Authorization: DPoP`: its proof, for
/// the authentication core to check with the token. A DPoP token without
/// a proof is refused here.
pub fn presented_proof(
    state: &AppState,
    request: &HttpRequest,
) -> Result<PresentedProof, ApiError> {
    let proof = proof_header(request)
        .map_err(ApiError::at_resource)?
        .ok_or_else(|| {
            ApiError::InvalidDpopProof("a DPoP token needs a DPoP header with its proof".to_owned())
                .at_resource()
        })?;
    Ok(PresentedProof {
        proof,
        method: request.method().as_str().to_owned(),
        url: request_url(state, request),
    })
}
