// The pure scoring core (DESIGN.md, "Scoring semantics"): points policy, the per-user event-time
// sliding window, tiers and re-arm, duplicates, late and future events, the alert payload and its
// deterministic id. No I/O: never import kafka, state, http or configuration loading here.
//
// Per-user state bound (defaults: 24 h window, 1 min buckets, 10 contributions, 512 ids): at most
// 2162 window entries, 80 contribution candidates and 512 remembered ids, about 60-80 KB of JSON for
// a flooding user; a typical user is ~150 bytes plus ~60 per event in the window (ids and entries)
// and ~100 per listed contribution. Exact (equal to the naive model) while a user has at most ~2162
// point-bearing timestamps in the window; beyond that the oldest entries are merged per bucket.

export { resolvePolicy, pointsFor, tierFor, tierBound, type Policy } from './policy.ts';
export { emptyUserState, isIdle, isUserState, entryCap, contributionCap, type UserState } from './state.ts';
export { scoreEvent, riskView, alertIdFor, type ScoreResult, type RiskView } from './score.ts';
