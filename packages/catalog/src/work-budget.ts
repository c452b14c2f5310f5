/** Thrown when one validation has used up its work budget; the arguments are then not checked further. */
export class WorkBudgetExceeded extends Error {
  constructor(readonly limit: number) {
    super(`validation stopped after ${limit} units of work`);
    this.name = 'WorkBudgetExceeded';
  }
}

/**
 * A count of work (keyword evaluations, characters scanned, regular-expression steps) shared by
 * everything one validation runs, so no schema/argument combination can keep a worker busy for long.
 */
export interface WorkBudget {
  /** Records `units` of work; throws WorkBudgetExceeded once the total passes the limit. */
  spend(units: number): void;
  /** Starts a new validation with `limit` units. */
  reset(limit: number): void;
}

export function createWorkBudget(): WorkBudget {
  let limit = Number.POSITIVE_INFINITY;
  let remaining = Number.POSITIVE_INFINITY;
  return {
    spend(units) {
      remaining -= units;
      if (!(remaining >= 0)) throw new WorkBudgetExceeded(limit); // NaN counts as exceeded
    },
    reset(units) {
      limit = units;
      remaining = units;
    },
  };
}
