// Counter-measures (issue 15): decisions from alerts by policy and from people, as data. Pure: no
// Kafka, no clock, no configuration loading; the scorer writes what these functions return.

export { resolveDecisionPolicy, isExempt, ruleFor, type DecisionPolicy } from './policy.ts';
export { decideForAlert, decideForRequest, remember, expired, holds, isEnforced, policyDecisionId, requestDecisionId, POLICY_AUTHOR, type ActiveDecision, type DecisionMemory, type PolicyOutcome } from './decide.ts';
export { parseDuration, formatDuration, MIN_DECISION_MS, MAX_DECISION_MS } from './duration.ts';
export { parseRequest, requestRecord, MAX_REQUEST_BYTES, type ParsedRequest } from './request.ts';
