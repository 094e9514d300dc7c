// The designer's talk with the server: every query and mutation of the designer, through
// api.js. Answers come back as the API gives them; `refused` tells a refusal apart.
import { graphql, mutate, refused } from "./api.js";

export { refused };

const PROBLEMS = "problems { path message }";
const DRAFT = `processId key name entity status definition version basedOn updatedAt updatedBy ${PROBLEMS}`;
const FIELDS = "key label type choices target";
const DRAFT_REFUSALS = `... on Error { message }
  ... on InvalidDefinition { ${PROBLEMS} }
  ... on VersionConflict { currentVersion }`;

const LIST_QUERY = `query DesignerList {
  processes { id key name status version roles entity { key name } draft { version updatedAt updatedBy } }
  drafts { processId key name entity basedOn updatedAt updatedBy problems { path } }
  templates { key name entity description definition }
  entities { key name }
}`;
// The templates tell the usual order of an entity's stage categories (designer-model.js).
const EDIT_QUERY = `query DesignerEdit($id: ID!) {
  design(processId: $id) { ${DRAFT} }
  entities { key name fields { ${FIELDS} } }
  templates { entity definition }
}`;
const CHECK_QUERY = `query DesignerCheck($id: ID!) { design(processId: $id) { ${DRAFT} } }`;
const CREATE = `mutation DesignerCreate($input: CreateProcessInput!) {
  createProcess(input: $input) { ... on ProcessDraftSaved { draft { processId } } ${DRAFT_REFUSALS} }
}`;
const UPDATE = `mutation DesignerSave($input: UpdateProcessInput!) {
  updateProcess(input: $input) { ... on ProcessDraftSaved { draft { ${DRAFT} } } ${DRAFT_REFUSALS} }
}`;
const DISCARD = `mutation DesignerDiscard($input: DraftInput!) {
  discardDraft(input: $input) { ... on ProcessDraftSaved { draft { ${DRAFT} } } ${DRAFT_REFUSALS} }
}`;
const PUBLISH = `mutation DesignerPublish($input: DraftInput!) {
  publishProcess(input: $input) { ... on ProcessPublished { process { id version status } } ${DRAFT_REFUSALS} }
}`;
const SAVE_FIELD = `mutation DesignerSaveField($input: SaveFieldInput!) {
  saveField(input: $input) {
    ... on FieldSaved { entity { key name fields { ${FIELDS} } } }
    ... on Error { message }
    ... on InvalidDefinition { ${PROBLEMS} }
  }
}`;
const SET_ROLES = `mutation DesignerSetRoles($id: ID!, $roles: [String!]!) {
  setProcessRoles(processId: $id, roles: $roles) { ... on ProcessRolesSet { process { id roles } } ... on Error { message } }
}`;

export const loadList = () => graphql(LIST_QUERY);
export const loadDesign = (processId) => graphql(EDIT_QUERY, { id: processId });
export const checkDraft = async (processId) => (await graphql(CHECK_QUERY, { id: processId })).design;
export const createProcess = async (input) => (await mutate("createProcess", CREATE, input)).createProcess;
export const updateProcess = async (input) => (await mutate("updateProcess", UPDATE, input)).updateProcess;
export const discardDraft = async (input) => (await mutate("discardDraft", DISCARD, input)).discardDraft;
export const publishProcess = async (input) => (await mutate("publishProcess", PUBLISH, input)).publishProcess;
export const saveField = async (input) => (await mutate("saveField", SAVE_FIELD, input)).saveField;
export const setProcessRoles = async (processId, roles) => (await graphql(SET_ROLES, { id: processId, roles })).setProcessRoles;

// Offer a process for new records again, or stop offering it; the result union's member.
export async function setProcessActive(processId, active) {
  const name = active ? "activateProcess" : "deactivateProcess";
  const query = `mutation DesignerSetActive($id: ID!) {
    ${name}(processId: $id) { ... on ProcessStatusChanged { process { id status } } ... on Error { message } }
  }`;
  return (await graphql(query, { id: processId }))[name];
}
