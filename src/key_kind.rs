//! The five kinds of API key and what tells them apart on the wire.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// One user's token in one workspace; acts with that user's role.
    Personal,
    /// A service credential owned by the workspace.
    Workspace,
    /// An install token for an automation platform (Zapier, Make, n8n...).
    Partner,
    /// Drives the management API and mints portal sessions.
    Management,
    /// Belongs to one of the workspace's own customers (`external_id`).
    Customer,
}

impl KeyKind {
    pub const ALL: [KeyKind; 5] = [
        KeyKind::Personal,
        KeyKind::Workspace,
        KeyKind::Partner,
        KeyKind::Management,
        KeyKind::Customer,
    ];

    /// The typed prefix of this kind's secrets, so a scanner (or a person)
    /// can tell what leaked.
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::Personal => "kmp_",
            KeyKind::Workspace => "kmk_",
            KeyKind::Partner => "kmi_",
            KeyKind::Management => "kmm_",
            KeyKind::Customer => "kmc_",
        }
    }

    pub fn from_secret_prefix(prefix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.prefix() == prefix)
    }

    /// The value stored in the `kind` column and sent in the `kind` claim.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Personal => "personal",
            KeyKind::Workspace => "workspace",
            KeyKind::Partner => "partner",
            KeyKind::Management => "management",
            KeyKind::Customer => "customer",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// Who a token was issued to, as its `kind` claim says: a key of one of
/// the five kinds, or a workload federated under a trust policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    Key(KeyKind),
    Federated,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Key(kind) => kind.as_str(),
            ClientKind::Federated => "federated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "federated" => Some(ClientKind::Federated),
            _ => KeyKind::parse(text).map(ClientKind::Key),
        }
    }

    /// The kind of key the token came from; `None` for a federated one.
    pub fn key(self) -> Option<KeyKind> {
        match self {
            ClientKind::Key(kind) => Some(kind),
            ClientKind::Federated => None,
        }
    }
}

impl From<KeyKind> for ClientKind {
    fn from(kind: KeyKind) -> Self {
        ClientKind::Key(kind)
    }
}

impl Serialize for ClientKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ClientKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        ClientKind::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("not a kind of keymint client"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_prefixes_round_trip() {
        for kind in KeyKind::ALL {
            assert_eq!(KeyKind::parse(kind.as_str()), Some(kind));
            assert_eq!(KeyKind::from_secret_prefix(kind.prefix()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(KeyKind::parse("admin"), None);
    }

    #[test]
    fn client_kinds_are_the_key_kinds_and_federated() {
        for kind in KeyKind::ALL {
            let client = ClientKind::from(kind);
            assert_eq!(serde_json::to_value(client).unwrap(), kind.as_str());
            assert_eq!(client.key(), Some(kind));
        }
        let federated: ClientKind = serde_json::from_str("\"federated\"").unwrap();
        assert_eq!(federated, ClientKind::Federated);
        assert_eq!(federated.key(), None);
        assert!(serde_json::from_str::<ClientKind>("\"admin\"").is_err());
        // A key of kind "federated" cannot be made.
        assert_eq!(KeyKind::parse("federated"), None);
    }
}
