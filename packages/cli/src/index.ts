export { runRoles, ROLES, type Role, type RunRolesOptions, type RolesHandle } from './run-roles.js';
export { ensureInfra, isListening, type InfraService, type LaunchedInfra } from './infra.js';
export { startHealthServer } from './health-server.js';
