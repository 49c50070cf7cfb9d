DROP TABLE audit_events;
DROP TABLE api_keys;
DROP TABLE invitations;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE environments;
DROP TABLE workspaces;
