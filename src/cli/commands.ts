import type { Command } from 'commander';

// One line per command file; each file exports `register(program)`.
export const COMMANDS: Array<(program: Command) => void> = [];
