// The pure scoring core (DESIGN.md, "Scoring semantics"): points policy, the per-user event-time
// sliding window, tiers and re-arm, duplicates, late and future events, the alert payload and its
// deterministic id. No I/O: never import kafka, state, http or configuration loading here.
//
// Per-user state bound (defaults: 24 h window, 1 min buckets, 10 contributions, 512 ids): at most
// 2162 window entries, 80 contribution candidates and 512 remembered ids; encoded (src/state/codec.ts)
// a flooding user is ~13 KB (an event every 4 s for a day), a user with one event ~90 bytes plus ~55
// per further event with a UUID id; at most `stateBytesBound` (106,693 bytes) whatever the input, for
// events within the limits of src/identity.ts. Exact (equal to the naive model) while a user has at most ~2162
// point-bearing timestamps in the window; beyond that the oldest entries are merged per bucket.

export { resolvePolicy, pointsFor, tierFor, tierBound, type Policy } from './policy.ts';
export {
  approxHeapBytes,
  emptyUserState,
  isIdle,
  markActive,
  activeSince,
  isUserState,
  entryCap,
  contributionCap,
  stateBytesBound,
  MAX_STATE_BYTES,
  upgradeIdKey,
  candidateCount,
  contributionsOf,
  setContributions,
  pushCandidate,
  ID_REF_SCALE,
  ID_REF_UUID,
  type IdKey,
  type StoredContribution,
  type UserState,
} from './state.ts';
export { scoreEvent, riskView, alertIdFor, type ScoreResult, type RiskView } from './score.ts';
