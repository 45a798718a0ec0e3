import type { Command } from 'commander';
import { register as local } from './local.ts';
import { register as topics } from './topics.ts';
import { register as schemas } from './schemas.ts';
import { register as config } from './config.ts';
import { register as scorer } from './scorer.ts';

// One line per command file; each file exports `register(program)`.
export const COMMANDS: Array<(program: Command) => void> = [local, topics, schemas, config, scorer];
