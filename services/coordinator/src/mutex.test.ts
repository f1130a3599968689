import { describe, expect, it } from 'vitest';
import { KeyedMutex } from './mutex.js';

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('KeyedMutex', () => {
  it('runs calls with one key one at a time, in order, and calls with other keys beside them', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    const gate: (() => void)[] = [];
    const job = (name: string) => async () => {
      log.push(`${name} start`);
      await new Promise<void>((r) => gate.push(r));
      log.push(`${name} end`);
      return name;
    };
    const a = m.run('k', job('a'));
    const b = m.run('k', job('b'));
    const c = m.run('other', job('c'));
    // a and c start at once (nothing pending on their keys); b waits for a.
    expect(log).toEqual(['a start', 'c start']);
    gate.shift()!();
    await a;
    await tick();
    expect(log).toEqual(['a start', 'c start', 'a end', 'b start']);
    gate.shift()!();
    gate.shift()!();
    expect(await Promise.all([b, c])).toEqual(['b', 'c']);
  });

  it('makes a call made from inside a running one wait for it, and survives failures', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    let inner: Promise<string> | undefined;
    const outer = m.run('k', async () => {
      inner = m.run('k', async () => (log.push('inner'), 'inner'));
      log.push('outer');
      await tick();
      log.push('outer end');
      throw new Error('boom');
    });
    await expect(outer).rejects.toThrow('boom');
    expect(await inner).toBe('inner');
    expect(log).toEqual(['outer', 'outer end', 'inner']);
    // A function that throws before its first await fails its call only.
    await expect(
      m.run('k', () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(await m.run('k', async () => 'after')).toBe('after');
  });
});
