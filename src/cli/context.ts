import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';

/** The validated configuration for a command: --config file, then environment. */
export function configFrom(cmd: Command, overrides?: Record<string, unknown>): Config {
  const opts = cmd.optsWithGlobals<{ config?: string }>();
  return loadConfig({ file: opts.config, ...(overrides ? { overrides } : {}) }) as Config;
}
