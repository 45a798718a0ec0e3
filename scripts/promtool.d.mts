// Types of scripts/promtool.mjs for the TypeScript tests.
export const PROMTOOL_VERSION: string;
export function promtoolPath(env?: NodeJS.ProcessEnv): string;
export function installPromtool(): string;
export function renderedRules(): string;
export function runRuleTests(bin?: string): { status: number; output: string };
