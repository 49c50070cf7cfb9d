//! The bodies and answers of workspaces, members, environments, the audit
//! log and `/me`.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::access::{Role, ScopeSet};
use crate::clock::rfc3339;
use crate::db::models::audit::AuditEvent;
use crate::db::models::workspaces::{Environment, Workspace};
use crate::members::{Added, Member};
use crate::workspaces::WorkspaceEdit;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkspaceView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub plan: String,
    pub portal_origins: Vec<String>,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

impl From<Workspace> for WorkspaceView {
    fn from(workspace: Workspace) -> Self {
        Self {
            portal_origins: workspace.portal_origins(),
            id: workspace.id,
            slug: workspace.slug,
            name: workspace.name,
            plan: workspace.plan,
            created_at: workspace.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnvironmentView {
    pub id: String,
    pub name: String,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceBody {
    pub slug: String,
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspaceBody {
    pub name: Option<String>,
    pub plan: Option<String>,
    pub portal_origins: Option<Vec<String>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    #[serde(with = "rfc3339")]
    pub joined_at: NaiveDateTime,
}

/// A one-time invitation, shown once to the admin who added the member.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InviteView {
    pub token: String,
    pub url: String,
    #[serde(with = "rfc3339")]
    pub expires_at: NaiveDateTime,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AddedMember {
    #[serde(flatten)]
    pub member: MemberView,
    /// Present when this request created the person's account.
    pub invitation: Option<InviteView>,
}

impl From<Member> for MemberView {
    fn from(member: Member) -> Self {
        Self {
            user_id: member.user_id,
            email: member.email,
            role: member.role,
            joined_at: member.joined_at,
        }
    }
}

impl From<Added> for AddedMember {
    fn from(added: Added) -> Self {
        Self {
            member: added.member.into(),
            invitation: added.invitation.map(|invite| InviteView {
                token: invite.token,
                url: invite.url,
                expires_at: invite.expires_at,
            }),
        }
    }
}

impl From<Environment> for EnvironmentView {
    fn from(environment: Environment) -> Self {
        Self {
            id: environment.id,
            name: environment.name,
            created_at: environment.created_at,
        }
    }
}

impl From<UpdateWorkspaceBody> for WorkspaceEdit {
    fn from(body: UpdateWorkspaceBody) -> Self {
        Self {
            name: body.name,
            plan: body.plan,
            portal_origins: body.portal_origins,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    pub email: String,
    pub role: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    pub role: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentBody {
    pub name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    id: String,
    actor: Option<String>,
    action: String,
    target: Option<String>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    detail: serde_json::Value,
    #[serde(with = "rfc3339")]
    created_at: NaiveDateTime,
}

impl From<AuditEvent> for AuditView {
    fn from(event: AuditEvent) -> Self {
        Self {
            detail: serde_json::from_str(&event.detail).unwrap_or_default(),
            id: event.id,
            actor: event.actor,
            action: event.action,
            target: event.target,
            client_ip: event.client_ip,
            user_agent: event.user_agent,
            created_at: event.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeWorkspace {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub role: Option<Role>,
    pub scopes: ScopeSet,
}
