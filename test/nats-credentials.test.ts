/**
 * Issue 6, "creds via files or env": services read their NATS credentials from files (a password
 * file next to TESSERA_NATS_USER, or an nkey seed file), as mounted Kubernetes Secrets give them.
 * A farm runs on them against a real nats-server that requires them; a wrong key is refused and an
 * unreadable file stops the service with a message naming its variable.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nkeys } from '@nats-io/transport-node';
import { JobState } from '@tessera/protocol';
import { AGENT_BIN, COORDINATOR_BIN, startFarm, type Farm } from './helpers/farm.js';
import { baboonCrop } from './helpers/images.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { spawnBin } from './helpers/process.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-nats-creds-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, `${text}\n`, { mode: 0o600 });
  return p;
};

describe('NATS credentials from files', () => {
  let nats: TestNats;
  let farm: Farm;
  const agentKey = nkeys.createUser();
  const seedFile = file('agent.nk', new TextDecoder().decode(agentKey.getSeed()));
  const passwordFile = file('coordinator-password', 'file-secret-0c6c8ea4');

  beforeAll(async () => {
    const conf = file(
      'nats.conf',
      `authorization {\n  users = [\n    { user: "coordinator", password: "file-secret-0c6c8ea4" }\n    { nkey: "${agentKey.getPublicKey()}" }\n  ]\n}`,
    );
    nats = await startNats({ configFile: conf });
    farm = await startFarm({
      nats,
      coordinatorEnv: { TESSERA_NATS_USER: 'coordinator', TESSERA_NATS_PASSWORD_FILE: passwordFile },
      agents: [{ name: 'nk-agent', vramGb: 8, env: { TESSERA_NATS_NKEY_SEED_FILE: seedFile } }],
    });
  });
  afterAll(async () => {
    await farm?.close();
    await nats?.stop();
  });

  it('a coordinator on a password file and an agent on an nkey seed file run a job', async () => {
    const job = await farm.client.submitUpscale({ image: await baboonCrop(0, 0, 32, 32), model: 'esrgan-slim-x2' });
    const done = await farm.client.waitForJob(job.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect((await farm.client.getJob(job.id)).shards.every((s) => s.agent === 'nk-agent')).toBe(true);
  });

  it('an agent with an nkey the server does not know is refused; an unreadable file is named', async () => {
    const stranger = file('stranger.nk', new TextDecoder().decode(nkeys.createUser().getSeed()));
    const common = ['--nats', farm.nats.url, '--farm', farm.farmPrefix, '--metrics', '', '--vram-gb', '8'];
    const refused = spawnBin(AGENT_BIN, [...common, '--name', 'stranger'], 'stranger', {
      TESSERA_NATS_NKEY_SEED_FILE: stranger,
    });
    // It keeps retrying until its start deadline; the server's refusal is in its log meanwhile.
    await expect
      .poll(() => refused.output(), { timeout: 20_000, interval: 100 })
      .toMatch(/Authorization Violation|AUTHORIZATION_VIOLATION|authorization/i);
    expect((await farm.client.listAgents()).map((a) => a.name)).toEqual(['nk-agent']);
    await refused.stop('SIGKILL');

    const missing = spawnBin(
      COORDINATOR_BIN,
      ['--nats', farm.nats.url, '--grpc', '127.0.0.1:0', '--metrics', ''],
      'c',
      {
        TESSERA_NATS_USER: 'coordinator',
        TESSERA_NATS_PASSWORD_FILE: join(dir, 'no-such-file'),
      },
    );
    expect(await missing.exited()).toBe(1);
    expect(missing.output()).toMatch(/TESSERA_NATS_PASSWORD_FILE: cannot read .*no-such-file/);
  });
});
