// The embedded MongoDB-wire engine: the public entry point for the rest of the project.
export { Engine, startEngine } from './server.ts';
export type { EngineLogger, EngineOptions, RunningEngine } from './engine-options.ts';
export { CREDENTIALS_FILE, ENGINE_USER, connectionString, parseReadyLine, readCredentialsFile } from './credentials.ts';
export type { EngineCredentials } from './credentials.ts';
