//! The federated forms of `POST /auth/token`: a workload's own JWT and the
//! trust policy it is exchanged under (`client_id`), by RFC 8693 token
//! exchange (`subject_token_type` jwt or id_token) or by RFC 7523's
//! `jwt-bearer` grant (`assertion`).

use actix_web::HttpRequest;

use super::{FormParams, ID_TOKEN_TYPE, JWT_TOKEN_TYPE, check_requested_token_type};
use crate::error::ApiError;
use crate::exchange::FederatedRequest;
use crate::http::credentials;

/// Whether an RFC 8693 exchange presents a workload's JWT rather than a
/// keymint secret.
pub(super) fn is_workload_token(params: &FormParams) -> bool {
    params
        .get("subject_token_type")
        .is_some_and(|kind| kind == JWT_TOKEN_TYPE || kind == ID_TOKEN_TYPE)
}

pub(super) fn request(
    request: &HttpRequest,
    params: &FormParams,
    token_exchange: bool,
) -> Result<FederatedRequest, ApiError> {
    // The workload authenticates with its token alone: no client secret
    // rides along (a Basic header or client_secret would be a confusion).
    if params.get("client_secret").is_some()
        || !matches!(credentials::authorization(request), Ok(None))
    {
        return Err(ApiError::InvalidRequest(
            "A federated exchange presents the workload's token only: no client secret or Authorization header."
                .to_owned(),
        ));
    }
    let token = if token_exchange {
        check_requested_token_type(params)?;
        params.require("subject_token")?
    } else {
        params.require("assertion")?
    };
    Ok(FederatedRequest {
        policy_id: params.require("client_id")?,
        token,
        scope: params.get("scope"),
        audience: params.get("audience"),
        expires_in: params.expires_in()?,
        ..Default::default()
    })
}
