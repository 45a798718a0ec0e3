import type { Command } from 'commander';
import { register as local } from './local.ts';
import { register as topics } from './topics.ts';
import { register as schemas } from './schemas.ts';
import { register as config } from './config.ts';
import { register as scorer } from './scorer.ts';
import { register as simulate } from './simulate.ts';
import { register as userRisk } from './user-risk.ts';
import { register as demo } from './demo.ts';
import { register as notifier } from './notifier.ts';
import { register as dlq } from './dlq.ts';
import { register as configTest } from './config-test.ts';
import { register as decisions } from './decisions.ts';
import { register as relay } from './relay.ts';

// One line per command file; each file exports `register(program)`.
export const COMMANDS: Array<(program: Command) => void> = [local, topics, schemas, config, scorer, simulate, userRisk, demo, notifier, dlq, configTest, decisions, relay];
