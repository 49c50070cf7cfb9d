use super::*;
use crate::access::ScopeSet;
use serde_json::json;

fn create(body: serde_json::Value) -> Result<CreateKeySpec, ApiError> {
    serde_json::from_value::<CreateKeyBody>(body)
        .unwrap()
        .validate(crate::clock::now())
}

fn fields(error: ApiError) -> Vec<String> {
    match error {
        ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_full_valid_request_passes() {
    let spec = create(json!({
        "name": " CI ", "kind": "partner", "partner": "zapier", "scopes": ["orders:read"],
        "expires_in_days": 90, "rate_limit": 50, "allowed_cidrs": ["10.0.0.0/8", "192.0.2.7"],
        "remaining": 5, "environment": "staging",
    }))
    .unwrap();
    assert_eq!(
        (spec.name.as_str(), spec.kind, spec.partner.as_deref()),
        ("CI", KeyKind::Partner, Some("zapier"))
    );
    assert_eq!(spec.allowed_cidrs.unwrap()[1].to_string(), "192.0.2.7/32");
    let days = (spec.expires_at.unwrap() - crate::clock::now()).num_days();
    assert!((89..=90).contains(&days));
}

#[test]
fn every_bad_field_is_reported_at_once() {
    let error = create(json!({
        "name": "", "kind": "customer", "scopes": ["keys:write"], "expires_in_days": 31,
        "rate_limit": 0, "allowed_cidrs": [], "remaining": 0, "partner": "zapier",
    }))
    .unwrap_err();
    let mut fields = fields(error);
    fields.sort();
    assert_eq!(
        fields,
        [
            "allowed_cidrs",
            "expires_in_days",
            "external_id",
            "name",
            "partner",
            "rate_limit",
            "remaining",
            "scopes"
        ]
    );
}

#[test]
fn expiry_is_a_future_time_or_a_preset() {
    assert_eq!(
        fields(
            create(json!({"name": "a", "kind": "workspace", "expires_at": "2001-01-01T00:00:00Z"}))
                .unwrap_err()
        ),
        ["expires_at"]
    );
    assert_eq!(
        fields(
            create(json!({"name": "a", "kind": "workspace", "expires_at": "tomorrow"}))
                .unwrap_err()
        ),
        ["expires_at"]
    );
    assert_eq!(
        fields(create(json!({"name": "a", "kind": "workspace", "expires_at": "2099-01-01T00:00:00Z", "expires_in_days": 30})).unwrap_err()),
        ["expires_at"]
    );
    assert!(
        create(json!({"name": "a", "kind": "workspace"}))
            .unwrap()
            .expires_at
            .is_none()
    );
    assert_eq!(
        fields(create(json!({"name": "a", "kind": "personal"})).unwrap_err()),
        ["kind"]
    );
}

#[test]
fn patch_only_narrows_and_tells_null_from_absent() {
    let current = ScopeSet::parse_space_separated("a b");
    let body: UpdateKeyBody =
        serde_json::from_value(json!({"scopes": ["a"], "rate_limit": null})).unwrap();
    let spec = body.validate().unwrap();
    assert!(spec.check_narrows(&current).is_ok());
    assert_eq!(spec.scopes.unwrap().to_space_separated(), "a");
    assert_eq!(spec.rate_limit, Some(None));
    let absent: UpdateKeyBody = serde_json::from_value(json!({"name": "x"})).unwrap();
    assert_eq!(absent.validate().unwrap().rate_limit, None);
    let wider: UpdateKeyBody = serde_json::from_value(json!({"scopes": ["a", "c"]})).unwrap();
    let wider = wider.validate().unwrap();
    assert_eq!(
        fields(wider.check_narrows(&current).unwrap_err()),
        ["scopes"]
    );
}

#[test]
fn grace_periods_are_bounded_to_a_week() {
    let grace = |s| {
        RotateKeyBody {
            grace_period_seconds: Some(s),
        }
        .grace_period()
    };
    assert_eq!(grace(0).unwrap(), None);
    assert_eq!(grace(604_800).unwrap(), Some(Duration::days(7)));
    assert!(grace(604_801).is_err() && grace(-1).is_err());
}
