// When a step applies. Missing facts make amount and category conditions false: a claim without an amount
// never needs the "above threshold" step, rather than failing the whole route.
import type { Condition, SubjectFacts } from './types.ts';

export function conditionHolds(condition: Condition, facts: SubjectFacts): boolean {
  switch (condition.kind) {
    case 'amountAbove':
      return facts.amountFen !== undefined && facts.amountFen > condition.fen;
    case 'categoryIn':
      return facts.category !== undefined && condition.categories.includes(facts.category);
    case 'all':
      return condition.conditions.every((c) => conditionHolds(c, facts));
    case 'any':
      return condition.conditions.some((c) => conditionHolds(c, facts));
  }
}
