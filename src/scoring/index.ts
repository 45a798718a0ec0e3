// The pure scoring core (DESIGN.md, "Scoring semantics"): points policy, the per-user event-time
// sliding window, tiers and re-arm, duplicates, late and future events, the alert payload and its
// deterministic id. No I/O: never import kafka, state, http or configuration loading here.

export { resolvePolicy, pointsFor, tierFor, tierBound, type Policy } from './policy.ts';
export { emptyUserState, isUserState, entryCap, contributionCap, type UserState } from './state.ts';
export { scoreEvent, riskView, alertIdFor, type ScoreResult, type RiskView } from './score.ts';
