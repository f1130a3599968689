/** A refused transition: a value, not an exception (the caller decides whether it matters). */
export interface Refusal {
  readonly refused: string;
}

/** The new record, or why the transition does not apply. */
export type Verdict<T> = T | Refusal;

/** True when a transition was refused. */
export function isRefusal<T>(v: Verdict<T>): v is Refusal {
  return typeof v === 'object' && v !== null && 'refused' in v;
}

/** A refusal naming the record's current state and the verb. */
export function refuse(verb: string, state: string): Refusal {
  return { refused: `cannot ${verb} a ${state} record` };
}
