"""GraphQL documents shared by the API tests."""

INSTANCE_FIELDS = """
  id version status processVersion activeSince
  activeStage { key }
  nextStage { key }
  canAdvance canFinish
  missingSteps { field { key } required }
  stages { stage { key } state }
  path { key }
  history { stage { key } enteredAt exitedAt enteredBy durationSeconds }
  record { id name version values }
  process { id key }
  outcome { key label reasonRequired } outcomeReason completedBy
"""

_ERROR_FIELDS = {
    "NotFound": "kind id",
    "InvalidValue": "field reason",
    "StageGateBlocked": "stage { key } missingSteps { field { key } }",
    "InvalidTransition": "code",
    "VersionConflict": "currentVersion expectedVersion",
    "InvalidOutcome": "outcomes { key label reasonRequired } reasonRequired",
}
# The error members of each result union.
_UNIONS = {
    "createRecord": ("InvalidValue", "NotFound", "InvalidTransition"),
    "updateRecord": ("InvalidValue", "NotFound", "VersionConflict", "InvalidTransition"),
    "startInstance": ("NotFound", "InvalidTransition", "VersionConflict"),
    "completeStep": ("InvalidValue", "NotFound", "VersionConflict", "InvalidTransition"),
    "advanceStage": (
        "StageGateBlocked",
        "VersionConflict",
        "NotFound",
        "InvalidTransition",
        "InvalidValue",
    ),
    "moveToStage": ("VersionConflict", "NotFound", "InvalidTransition"),
    "finishInstance": (
        "StageGateBlocked",
        "InvalidOutcome",
        "InvalidValue",
        "VersionConflict",
        "NotFound",
        "InvalidTransition",
    ),
    "abandonInstance": ("VersionConflict", "NotFound", "InvalidTransition"),
    "reactivateInstance": ("VersionConflict", "NotFound", "InvalidTransition"),
    "switchProcess": ("VersionConflict", "NotFound", "InvalidTransition"),
}


def _errors(mutation: str) -> str:
    spreads = [f"... on {name} {{ {_ERROR_FIELDS[name]} }}" for name in _UNIONS[mutation]]
    return "... on Error { message }\n    " + "\n    ".join(spreads)


PROCESSES = "{ processes { id key name entity { key } stages { key } } }"

CREATE_RECORD = f"""
mutation($input: CreateRecordInput!) {{
  createRecord(input: $input) {{
    __typename
    ... on RecordCreated {{ record {{ id name owner values version }} event {{ seq kind }} }}
    {_errors("createRecord")}
  }}
}}
"""

UPDATE_RECORD = f"""
mutation($input: UpdateRecordInput!) {{
  updateRecord(input: $input) {{
    __typename
    ... on RecordUpdated {{ record {{ id name values version }} event {{ seq kind before after }} }}
    {_errors("updateRecord")}
  }}
}}
"""


def instance_mutation(name: str, input_type: str = "InstanceInput") -> str:
    return f"""
mutation($input: {input_type}!) {{
  {name}(input: $input) {{
    __typename
    ... on InstanceChange {{
      instance {{ {INSTANCE_FIELDS} }}
      event {{ seq kind actor fromStage toStage before after }}
    }}
    {_errors(name)}
  }}
}}
"""


START = instance_mutation("startInstance", "StartInstanceInput")
COMPLETE_STEP = instance_mutation("completeStep", "CompleteStepInput")
ADVANCE = instance_mutation("advanceStage")
MOVE_TO = instance_mutation("moveToStage", "MoveToStageInput")
FINISH = instance_mutation("finishInstance", "FinishInstanceInput")
ABANDON = instance_mutation("abandonInstance")
REACTIVATE = instance_mutation("reactivateInstance")
SWITCH = instance_mutation("switchProcess", "SwitchProcessInput")

INSTANCE = f"query($id: ID!) {{ instance(id: $id) {{ {INSTANCE_FIELDS} }} }}"
RECORD = """
query($id: ID!) {
  record(id: $id) {
    id name version values
    activeInstance { id process { key } activeStage { key } }
    instances { id status process { key } activeStage { key } }
  }
}
"""
EVENTS = """
query($after: Int!) { events(afterSeq: $after) { seq kind actor instanceId recordId fromStage toStage } }
"""
