// Compatibility of the public client schema (schema/api.graphql) with the last release (schema/releases/api-X.Y.Z.graphql):
// @graphql-inspector/core lists the changes between them; every one it rates BREAKING must be named by its path
// (`Type.field`, `Type.field.argument`, `Enum.VALUE`, in backticks) under "## Unreleased" in schema/CHANGELOG.md.
// Outside clients rely on these names: removing or retyping a public field is a decision, recorded, never an accident.
import { readFileSync, readdirSync } from 'node:fs';
import { type Change, CriticalityLevel, diff } from '@graphql-inspector/core';
import { buildSchema } from 'graphql';

const SCHEMA_DIR = new URL('../schema/', import.meta.url);
const RELEASE_FILE = /^api-(\d+)\.(\d+)\.(\d+)\.graphql$/;

/** The newest release's schema file name, by version (not by name: 0.10.0 is after 0.9.0). */
export function lastRelease(files: readonly string[] = readdirSync(new URL('releases/', SCHEMA_DIR))): string {
  const versions = files.flatMap((f) => {
    const m = RELEASE_FILE.exec(f);
    return m ? [{ f, v: [Number(m[1]), Number(m[2]), Number(m[3])] }] : [];
  });
  if (!versions.length) throw new Error('schema/releases/ holds no api-X.Y.Z.graphql');
  versions.sort((a, b) => a.v[0] - b.v[0] || a.v[1] - b.v[1] || a.v[2] - b.v[2]);
  return versions[versions.length - 1].f;
}

/** The changes @graphql-inspector rates BREAKING from one schema's text to the other's. */
export async function breakingChanges(releaseSdl: string, currentSdl: string): Promise<Change[]> {
  const changes = await diff(buildSchema(releaseSdl), buildSchema(currentSdl));
  return changes.filter((c) => c.criticality.level === CriticalityLevel.Breaking);
}

/** The paths the changelog's Unreleased section names in backticks. */
export function recordedPaths(changelog: string): Set<string> {
  const unreleased = /^## Unreleased\s*$([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(changelog)?.[1] ?? '';
  return new Set([...unreleased.matchAll(/`([^`]+)`/g)].map((m) => m[1]));
}

/** Breaking changes since the last release that the changelog does not record: each one a failure. */
export async function unrecordedBreakingChanges(currentSdl: string, releaseSdl: string, changelog: string): Promise<Array<{ path: string; message: string }>> {
  const recorded = recordedPaths(changelog);
  return (await breakingChanges(releaseSdl, currentSdl)).map((c) => ({ path: c.path ?? '(schema)', message: c.message })).filter((c) => !recorded.has(c.path));
}

export const readSchemaFile = (name: string): string => readFileSync(new URL(name, SCHEMA_DIR), 'utf8');
