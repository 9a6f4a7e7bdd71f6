// What both subscription transports do with an incoming operation before running it: parse, validate against
// the permission-guarded supergraph with the same limits as HTTP (and no introspection in production), and
// run queries and mutations as HTTP would, with errors stripped of internals.
import {
  type DocumentNode,
  type FormattedExecutionResult,
  type GraphQLSchema,
  GraphQLError,
  Kind,
  OperationTypeNode,
  type OperationDefinitionNode,
  execute,
  getVariableValues,
  parse,
  specifiedRules,
  validate,
} from 'graphql';
import { literalFieldOf, publicError, variableFieldOf, withoutSchemaDetails } from '../../platform/apollo-http.ts';
import type { Logger } from '../../platform/logger.ts';
import { PARSE_OPTIONS, plainParseMessage } from '../intake.ts';
import { DEFAULT_LIMITS, type Limits, limitsRule, noIntrospectionRule } from '../limits.ts';
import type { FeedStreams, SubscriberContext } from './stream.ts';
import { allowsWholeOperation } from '../operation-rules.ts';

export interface OperationRunnerOptions {
  schema: GraphQLSchema;
  /** Masking only, for operations the caller may run whole (gateway/operation-rules.ts); `schema` otherwise. */
  maskedOnlySchema?: GraphQLSchema;
  streams: FeedStreams;
  logger: Logger;
  production: boolean;
  limits?: Limits;
}

export interface IncomingOperation {
  query: unknown;
  variables?: unknown;
  operationName?: unknown;
}

export type Prepared =
  | { ok: true; document: DocumentNode; variables: Record<string, unknown> | null; operationName: string | null; subscription: boolean }
  | { ok: false; errors: FormattedExecutionResult['errors'] & object };

export class OperationRunner {
  private readonly rules;

  constructor(private readonly opts: OperationRunnerOptions) {
    this.rules = [...specifiedRules, limitsRule(opts.limits ?? DEFAULT_LIMITS), ...(opts.production ? [noIntrospectionRule] : [])];
  }

  prepare(input: IncomingOperation): Prepared {
    const bad = (message: string, code = 'BAD_USER_INPUT') => ({ ok: false as const, errors: [{ message, extensions: { code } }] });
    if (typeof input.query !== 'string' || input.query.length === 0) return bad('query must be a non-empty string');
    if (input.variables != null && (typeof input.variables !== 'object' || Array.isArray(input.variables))) return bad('variables must be an object');
    if (input.operationName != null && typeof input.operationName !== 'string') return bad('operationName must be a string');
    let document: DocumentNode;
    try {
      document = parse(input.query, PARSE_OPTIONS);
    } catch (err) {
      return bad(err instanceof GraphQLError ? plainParseMessage(err.message) : 'Syntax error', 'GRAPHQL_PARSE_FAILED');
    }
    const errors = validate(this.opts.schema, document, this.rules);
    // Production: no "Did you mean …?" (introspection is off; suggestions would rebuild the schema), as over HTTP.
    const message = (e: GraphQLError) => (this.opts.production ? withoutSchemaDetails(e.message) : e.message);
    if (errors.length) {
      // A literal of the wrong shape is named by its argument path, as over HTTP (platform/apollo-http.ts).
      const extensionsOf = (e: GraphQLError) => {
        const field = literalFieldOf(e);
        return { code: String(e.extensions.code ?? 'GRAPHQL_VALIDATION_FAILED'), ...(field !== undefined ? { field } : {}) };
      };
      return { ok: false, errors: errors.map((e) => ({ message: message(e), locations: e.locations, extensions: extensionsOf(e) })) };
    }
    const ops = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    const operationName = (input.operationName as string | null | undefined) ?? null;
    const op = operationName ? ops.find((o) => o.name?.value === operationName) : ops.length === 1 ? ops[0] : undefined;
    if (!op) return bad(operationName ? `Unknown operation ${operationName}` : 'Name the operation to run (operationName)');
    // Variables are checked here, as Apollo does over HTTP: a misspelt enum value is BAD_USER_INPUT (not an internal
    // error logged with the value, nor a subscription retrying for ever), and in production without a suggestion.
    const coerced = getVariableValues(this.opts.schema, op.variableDefinitions ?? [], (input.variables as Record<string, unknown> | null | undefined) ?? {}, { maxErrors: 10 });
    if (coerced.errors) return { ok: false, errors: coerced.errors.map((e) => ({ message: message(e), locations: e.locations, extensions: { code: 'BAD_USER_INPUT', field: variableFieldOf(e.message) } })) };
    return { ok: true, document, variables: (input.variables as Record<string, unknown> | null | undefined) ?? null, operationName, subscription: op.operation === OperationTypeNode.SUBSCRIPTION };
  }

  /** A query or mutation sent over a subscription transport: executed once, as over HTTP. */
  async executeOnce(p: Extract<Prepared, { ok: true }>, context: SubscriberContext): Promise<FormattedExecutionResult> {
    const whole = this.opts.maskedOnlySchema && allowsWholeOperation(this.opts.schema, p.document, context.principal);
    const result = await execute({
      schema: whole ? this.opts.maskedOnlySchema! : this.opts.schema,
      document: p.document,
      variableValues: p.variables,
      operationName: p.operationName,
      contextValue: { principal: context.principal, directory: context.directory },
    });
    return {
      ...(result.data !== undefined ? { data: result.data } : {}),
      ...(result.errors?.length ? { errors: result.errors.map((e) => publicError(e.toJSON(), e, (err) => this.opts.logger.error({ err }, 'unexpected error over a subscription transport'), { hideSchemaDetails: this.opts.production })) } : {}),
    };
  }

  stream(p: Extract<Prepared, { ok: true }>, context: SubscriberContext, beforeYield?: () => Promise<void>): AsyncGenerator<FormattedExecutionResult> {
    return this.opts.streams.stream({ document: p.document, variableValues: p.variables, operationName: p.operationName, context, beforeYield });
  }
}
