/**
 * Reads a diffusers `scheduler_config.json` object into a scheduler's camelCase config: snake_case keys are
 * camelCased (`beta_schedule` → `betaSchedule`), and only keys the scheduler knows (the keys of its defaults)
 * are kept, so diffusers' bookkeeping (`_class_name`, `_diffusers_version`) and options meant for other
 * schedulers in the same file (`skip_prk_steps`, `clip_sample` for Euler, …) are dropped, as diffusers' own
 * `from_config` ignores unexpected keys.
 */
export function pickDiffusersConfig<T extends object>(raw: Record<string, unknown>, defaults: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const camel = key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    if (Object.prototype.hasOwnProperty.call(defaults, camel) && value !== undefined) out[camel] = value;
  }
  return out as Partial<T>;
}
