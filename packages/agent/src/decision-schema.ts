// The Decision record (schemas/decision.avsc), carried inside the package so that an application
// installs the agent without the server. The agent decodes decisions with it as its READER schema
// (the writer schema comes from the registry by the record's schema id, so a newer scorer's records
// still decode). test/agent/decisions.test.ts checks that it equals schemas/decision.avsc.

export const DECISION_SCHEMA = {
  "type": "record",
  "name": "Decision",
  "namespace": "io.riskhub.v1",
  "doc": "A counter-measure against one user, on the compacted decisions topic. Key: application_id/environment/user_key, as on attacks (same partition). The latest record of a key is the user's decision; a tombstone or a LIFT means none. Written only by the scorer (automatic decisions with their alert, manual ones from decision requests).",
  "fields": [
    {
      "name": "decision_id",
      "type": "string",
      "doc": "Deterministic: from the alert id (automatic) or the request id (manual)."
    },
    {
      "name": "application_id",
      "type": "string"
    },
    {
      "name": "environment",
      "type": "string"
    },
    {
      "name": "user",
      "type": {
        "type": "record",
        "name": "DecisionUser",
        "fields": [
          {
            "name": "key",
            "type": "string"
          },
          {
            "name": "identifiers",
            "type": {
              "type": "map",
              "values": "string"
            },
            "default": {}
          }
        ]
      }
    },
    {
      "name": "action",
      "type": {
        "type": "enum",
        "name": "DecisionAction",
        "symbols": [
          "MONITOR",
          "CHALLENGE",
          "BLOCK",
          "LIFT"
        ],
        "default": "MONITOR"
      },
      "doc": "BLOCK: the app refuses the user's requests. CHALLENGE: the app's hook asks the user to prove themselves. MONITOR: recorded, not enforced. LIFT: the decision named by `lifts` was lifted early. An unknown symbol reads as MONITOR: never enforced (fail open)."
    },
    {
      "name": "source",
      "type": {
        "type": "enum",
        "name": "DecisionSource",
        "symbols": [
          "POLICY",
          "MANUAL"
        ],
        "default": "MANUAL"
      },
      "doc": "POLICY: made by the scorer from an alert. MANUAL: made by a person (risk-hub decisions add | remove)."
    },
    {
      "name": "reason",
      "type": "string",
      "doc": "POLICY: 'tier N alert <alert_id>'; MANUAL: the person's comment."
    },
    {
      "name": "alert_id",
      "type": [
        "null",
        "string"
      ],
      "default": null,
      "doc": "The alert that caused an automatic decision."
    },
    {
      "name": "tier",
      "type": [
        "null",
        "int"
      ],
      "default": null,
      "doc": "The tier of that alert."
    },
    {
      "name": "made_by",
      "type": "string",
      "doc": "'policy' for automatic decisions, else the person's name as given to the CLI."
    },
    {
      "name": "made_at",
      "type": {
        "type": "long",
        "logicalType": "timestamp-millis"
      }
    },
    {
      "name": "until",
      "type": {
        "type": "long",
        "logicalType": "timestamp-millis"
      },
      "doc": "Not enforced from this time on; the scorer tombstones the key after it."
    },
    {
      "name": "offense",
      "type": "int",
      "default": 0,
      "doc": "Which enforced decision of this user this is (1 = the first): the escalation step that chose the duration."
    },
    {
      "name": "simulated",
      "type": "boolean",
      "default": false,
      "doc": "Simulation mode: recorded and notified, never enforced."
    },
    {
      "name": "lifts",
      "type": [
        "null",
        "string"
      ],
      "default": null,
      "doc": "LIFT only: the decision_id lifted."
    },
    {
      "name": "lifted_action",
      "type": [
        "null",
        "DecisionAction"
      ],
      "default": null,
      "doc": "LIFT only: the action of the decision lifted (so a message can say 'Block lifted' or 'Challenge lifted')."
    }
  ]
} as const;
