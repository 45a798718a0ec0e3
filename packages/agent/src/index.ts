// Public entry of the Node.js agent, the package `@risk-hub/agent`. See docs/agents.md.
export { Agent, createAgent, eventIdFor, AGENT_NAME, AGENT_VERSION, AGENT_LANGUAGE } from './agent.ts';
export type { AgentOptions, AgentStats, CloseResult, CustomEvent, EventMeta, Extras, Logger, RequestLike, DecisionsOptions, DecisionsStats, DecisionHook, BlockResponse, ActiveDecision, Answer } from './agent.ts';
export { ENFORCEMENT_EVENT_PREFIX } from './agent.ts';
export type { FastifyInstanceLike, FastifyReplyLike, FastifyRequestLike, RiskHubFastifyPlugin } from './fastify.ts';
export { riskHubExpress, riskHubEnforce } from './express.ts';
export { riskHubFastify } from './fastify.ts';
export { Detector, type Detection, type DetectionResult, type RequestFacts } from './waf.ts';
export { ruleset } from './rules/ruleset.ts';
export { KafkaTransport, type Transport, type RegistryOptions } from './transport.ts';
export type { UserInput } from './user.ts';
export { ConfigError, SEVERITIES, type Attack, type RequestInfo, type Severity, type UserRef } from './contracts.ts';
