export { startRunner, type StartRunnerOptions, type RunnerHandle } from './start-runner.js';
